#!/usr/bin/env bash
# `semiflow bench train` on the supervised config and a 20-label Fashion-MNIST split: it prints
# semiflow's line (and exits 0) without the reference, writes nothing into the config's run folder,
# refuses an unknown phase naming the phases, and, when /usr/bin/python3 has torch and torchvision,
# prints the PyTorch-Python line with the per-round ratio. Usage: bench_train_test.sh SEMIFLOW CONFIG_DIR
set -euo pipefail
cli=$1
configs=$2
source "$(dirname "$0")/fmnist_workdir.sh"
fmnist_workdir "$configs" 2
config=$work/configs/fmnist_supervised.yaml
fail() { echo "FAIL: $1"; cat "$work/out.txt" "$work/err.txt" 2>/dev/null; exit 1; }

"$cli" bench train "$config" --rounds 2 --epochs 1 --python '' > "$work/out.txt" 2> "$work/err.txt" ||
  fail "bench train --python '' exited $?"
grep -Eq "^semiflow .*fmnist_supervised.yaml phase main \(graph 2 threads, torch 1\), 20 images a round \(1 epochs\): train [0-9]+ images/s \(median of 2 rounds; [0-9]+-[0-9]+\)$" "$work/out.txt" ||
  fail "no semiflow line"
! grep -q "PyTorch-Python" "$work/out.txt" || fail "--python '' ran the reference"
[ ! -e "$work/runs" ] || fail "the benchmark wrote into the config's out_dir"
"$cli" bench train "$config" --rounds 1 --epochs 1 --python '' --json > "$work/out.txt" 2> "$work/err.txt" ||
  fail "bench train --json exited $?"
grep -q '"images_per_round":20.0,' "$work/out.txt" || fail "--json has no images_per_round 20"

"$cli" bench train "$config" --phase teacher --python '' > "$work/out.txt" 2> "$work/err.txt" && fail "an unknown phase was accepted"
grep -q "no phase named 'teacher' (phases: main)" "$work/err.txt" || fail "the unknown phase's error does not name the phases"

python=/usr/bin/python3
if ! "$python" -c "import torch, torchvision" 2> /dev/null; then
  echo "python3-torch / python3-torchvision not installed: the PyTorch-Python reference not checked"
  exit 0
fi
"$cli" bench train "$config" --rounds 2 --epochs 1 --python "$python" > "$work/out.txt" 2> "$work/err.txt" ||
  fail "bench train with the reference exited $?"
grep -Eq "^PyTorch-Python \(torch [0-9.a-z+]+, DataLoader num_workers 1, torch threads 1\), 20 images a round: train [0-9]+ images/s \([0-9]+-[0-9]+\); semiflow/Python, round by round: [0-9.]+x \([0-9.]+-[0-9.]+\)$" "$work/out.txt" ||
  fail "no PyTorch-Python line"
echo "ok"
