#!/usr/bin/env bash
# Configures and builds semiflow (Release) into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSEMIFLOW_WERROR="${SEMIFLOW_WERROR:-OFF}"
cmake --build build -j"$(nproc)"
