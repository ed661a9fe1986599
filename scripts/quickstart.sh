#!/usr/bin/env bash
# Sets up, builds, makes the Fashion-MNIST split (100 labels per class) and runs the main job on
# the CPU. Until the Noisy Student rounds land, the main job is the supervised teacher
# (configs/fmnist_supervised.yaml); its results go to runs/fmnist_supervised/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/semiflow data fashion-mnist --out data/fmnist --labeled-per-class 100 --seed 0
build/semiflow run configs/fmnist_supervised.yaml
build/semiflow eval --checkpoint runs/fmnist_supervised/best.pt --manifest data/fmnist/test.csv
