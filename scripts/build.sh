#!/usr/bin/env bash
# Configures and builds semiflow (Release, warnings as errors) into build/: the one build both the
# quickstart and the test suite use, so running one after the other rebuilds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSEMIFLOW_WERROR="${SEMIFLOW_WERROR:-ON}"
cmake --build build -j"$(nproc)"
