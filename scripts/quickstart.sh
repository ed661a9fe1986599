#!/usr/bin/env bash
# Sets up, builds, makes the Fashion-MNIST split (100 labels per class) and runs the main job on
# the CPU: Noisy Student (configs/fmnist_noisy_student.yaml) -- a supervised teacher, then two
# rounds of pseudo-labelling and noised students. Results: runs/fmnist_noisy_student/summary.json
# and one folder per round. Rerunning resumes a stopped run and skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/semiflow data fashion-mnist --out data/fmnist --labeled-per-class 100 --seed 0
build/semiflow run configs/fmnist_noisy_student.yaml
build/semiflow eval --checkpoint runs/fmnist_noisy_student/round2/last.pt --manifest data/fmnist/test.csv
