#!/usr/bin/env bash
# Sets up, builds, makes the Fashion-MNIST split and runs the main job on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/semiflow data fashion-mnist --out data/fmnist --labeled-per-class 100 --seed 0
build/semiflow data check data/fmnist/labeled.csv --hierarchy data/fmnist/hierarchy.yaml
