#!/usr/bin/env bash
# A run folder holds what its run writes: --out moves all of it (the shipped configs' trainers
# write through ${out_dir}), and `model info --checkpoint` describes what it holds. The folder
# alone resumes, also after a move: --set may change what is safe to change (more epochs), is
# recorded, and anything else is refused naming the parameter. Reruns keep the timings of the
# run that did the work; run.json gets one record per invocation. On the supervised config,
# shrunk to one epoch of a 20-label Fashion-MNIST split.
# Usage: run_folder_test.sh SEMIFLOW CONFIG_DIR
set -euo pipefail
cli=$(realpath "$1")
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

fail() { echo "FAIL: $1"; cat "$work/out.txt" "$work/err.txt" 2>/dev/null; exit 1; }
first_wall() { grep -o '"wall_s": [0-9.e+-]*' "$1" | head -1; }

# A config named without a folder (run from its own folder) works too.
(cd "$work/configs" && "$cli" run fmnist_supervised.yaml --out "$work/bare" --progress 0 --set labeled.epochs=1 > "$work/out.txt" 2>&1) ||
  fail "run with a bare config file name failed"
grep -q "\"config_dir\": \"$work/configs\"" "$work/bare/run.json" || fail "run.json does not record the config's folder"

# A moved folder resumes from its own config.yaml and run.json; more epochs are safe to change.
mv "$work/moved" "$work/elsewhere"
"$cli" run --resume "$work/elsewhere" --progress 0 --set labeled.epochs=2 > "$work/out.txt" 2> "$work/err.txt" ||
  fail "the moved run folder did not resume"
grep -q "resumed from $work/elsewhere/last.pt at epoch 1" "$work/err.txt" || fail "the resumed run did not continue from epoch 1"
"$cli" model info --checkpoint "$work/elsewhere/last.pt" | grep -qF "trained      epoch 2, step 2" || fail "more epochs were not trained"
worked=$(first_wall "$work/elsewhere/summary.json")

# A change the checkpoints depend on is refused before anything runs, one line naming it.
if "$cli" run --resume "$work/elsewhere" --progress 0 --set train.lr=0.5 > "$work/out.txt" 2> "$work/err.txt"; then
  fail "--set train.lr on a resume was accepted"
fi
[ "$(wc -l < "$work/err.txt")" -eq 1 ] && grep -q "^error: --set train.lr=0.5: changes node 'train' of phase 'main': lr 0.1 -> 0.5" "$work/err.txt" ||
  fail "the refused --set is not one error line naming lr"
[ ! -s "$work/out.txt" ] || fail "a refused resume printed on stdout"

# Rerunning the finished run skips it and keeps the timings of the run that trained; the
# statistics as JSON on stdout, with the tables on stderr.
"$cli" run --resume "$work/elsewhere" --progress 0 --stats-json - > "$work/out.txt" 2> "$work/err.txt" || fail "the rerun failed"
grep -q "up to date" "$work/err.txt" || fail "the finished run was not found up to date"
[ "$(head -c 1 "$work/out.txt")" = "[" ] && ! grep -q "==" "$work/out.txt" || fail "--stats-json - mixed tables into stdout"
[ "$(first_wall "$work/elsewhere/summary.json")" = "$worked" ] || fail "the rerun replaced the summary's timing ($worked)"

# run.json: the overrides in effect (one per key) and one record per invocation.
record="$work/elsewhere/run.json"
[ "$(grep -c '"command": "semiflow run' "$record")" -eq 3 ] || fail "run.json does not record each of the 3 invocations"
grep -A2 '^  "overrides"' "$record" | grep -q '"labeled.epochs=2"' && ! grep -q '"labeled.epochs=1"' <(sed -n '/^  "overrides"/,/]/p' "$record") ||
  fail "run.json's overrides are not the ones in effect"
[ "$(grep -c '"status": "ran"' "$record")" -eq 2 ] && [ "$(grep -c '"status": "up to date"' "$record")" -eq 1 ] ||
  fail "run.json's phase records are not ran, ran, up to date"

# A fresh run into a folder with other training parameters names what differs.
if "$cli" run "$work/configs/fmnist_supervised.yaml" --out "$work/elsewhere" --progress 0 --set labeled.epochs=2 --set train.lr=0.2 \
    > "$work/out.txt" 2> "$work/err.txt"; then
  fail "training parameters changed under an existing checkpoint were accepted"
fi
grep -q "other training parameters (lr 0.1 -> 0.2)" "$work/err.txt" || fail "the fingerprint mismatch does not name lr"
# ... and leaves the folder's config and overrides as they were: it still resumes.
"$cli" run --resume "$work/elsewhere" --progress 0 > "$work/out.txt" 2> "$work/err.txt" && grep -q "up to date" "$work/out.txt" ||
  fail "a refused run changed the folder's recorded config"

echo "run folder test passed"
