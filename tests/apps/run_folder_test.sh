#!/usr/bin/env bash
# A run folder holds what its run writes: --out moves all of it (the shipped configs' trainers
# write through ${out_dir}), and `model info --checkpoint` describes what it holds. On the
# supervised config, shrunk to one epoch of a 20-label Fashion-MNIST split.
# Usage: run_folder_test.sh SEMIFLOW CONFIG_DIR
set -euo pipefail
cli=$1
configs=$2
source "$(dirname "$0")/fmnist_workdir.sh"
fmnist_workdir "$configs" 2

# --out moves everything a run writes, the trainer's checkpoints included (train.out_dir is "${out_dir}").
"$cli" run "$work/configs/fmnist_supervised.yaml" --out "$work/moved" --progress 0 --set labeled.epochs=1 > "$work/out.txt" 2>&1 ||
  { cat "$work/out.txt"; echo "FAIL: the shrunk supervised run failed"; exit 1; }
for file in last.pt best.pt metrics.jsonl summary.json run.json report.html; do
  test -s "$work/moved/$file" || { echo "FAIL: --out left $file elsewhere"; exit 1; }
done
[ ! -e "$work/runs" ] || { echo "FAIL: the config's own out_dir was written despite --out"; exit 1; }
# A checkpoint describes itself.
"$cli" model info --checkpoint "$work/moved/last.pt" > "$work/out.txt"
for expected in "arch         EfficientNetV2-tiny" "hierarchy    category (2) > group (6) > item (10)" "trained      epoch 1, step 1" \
                "input        1 channel(s), ops [\"resize size=32\"], mean [0.286], std [0.353]" "fingerprint  " "validation   AI Rush "; do
  grep -qF -- "$expected" "$work/out.txt" || { cat "$work/out.txt"; echo "FAIL: model info --checkpoint: no '$expected'"; exit 1; }
done

echo "run folder test passed"
