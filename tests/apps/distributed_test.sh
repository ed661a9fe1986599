#!/usr/bin/env bash
# Distributed runs on c10d over loopback, 2 ranks on this machine, on a 100-label Fashion-MNIST
# split with 200 unlabeled and 1000 test images:
# - ranks started with torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT): the
#   supervised run trains on both shards and rank 0 alone writes the run folder;
# - killing one rank makes the other exit non-zero within the collective timeout, naming it;
# - the pseudo-labels of 2 ranks equal one process's row for row, and one process reuses them;
# - MPL trains on 2 ranks;
# - under torchrun (when installed) a run, and one whose rank 1 is killed under --max_restarts 1
#   that resumes from its last checkpoint and ends with the uninterrupted run's metrics.
# Usage: distributed_test.sh SEMIFLOW CONFIG_DIR
set -euo pipefail
cli=$(realpath "$1")
configs=$(realpath "$2")
source "$(dirname "$0")/fmnist_workdir.sh"
fmnist_workdir "$configs" 10
for manifest in unlabeled:201 test:1001; do
  head -"${manifest#*:}" "$work/data/fmnist/${manifest%:*}.csv" > "$work/small.csv"
  mv "$work/small.csv" "$work/data/fmnist/${manifest%:*}.csv"
done
cd "$work"

fail() { echo "FAIL: $1"; for log in "$work"/*.log; do echo "== $log"; tail -n 20 "$log"; done; exit 1; }
port() { echo $((20000 + RANDOM % 20000)); }
# ranks NAME CMD...: two ranks of CMD in the background, their output in NAME.rank<r>.log; sets
# pid0 and pid1.
ranks() {
  local name=$1 master_port
  master_port=$(port)
  shift
  for r in 0 1; do
    RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$master_port "$@" > "$name.rank$r.log" 2>&1 &
    eval "pid$r=$!"
  done
}
field() { grep -o "\"$2\":[0-9.e+-]*" "$1" | tail -n 1; }  # the last value of a JSON number field in a file

# 1. Supervised, 2 ranks x 50 images: both shards trained, global counts, rank 0 writes.
ranks supervised "$cli" run configs/fmnist_supervised.yaml --out two --progress 0 --set labeled.epochs=2
wait "$pid0" || fail "rank 0 of the supervised run failed"
wait "$pid1" || fail "rank 1 of the supervised run failed"
for file in last.pt best.pt metrics.jsonl summary.json run.json report.html; do
  test -s "two/$file" || fail "the 2-rank run wrote no $file"
done
[ "$(field two/metrics.jsonl images)" = '"images":100' ] || fail "an epoch did not count both ranks' images"
grep -q '"communication_wait_s"' two/metrics.jsonl || fail "no communication time in the epoch records"
grep -q '"count":1000' two/metrics.jsonl || fail "validation did not score the whole test set"
grep -q "== round 0: phase main ==" supervised.rank0.log || fail "rank 0 printed no phase tables"
! grep -q "==\|summary:" supervised.rank1.log || fail "rank 1 printed the run's tables too"
grep -q '"invocations"' two/run.json && [ "$(grep -c '"command"' two/run.json)" -eq 1 ] || fail "run.json is not one invocation"

# The evaluate node scores the whole stream once, not each rank's shard: 999 images, so one rank's
# shard repeats a row; rank 0 writes the metrics one process writes.
head -1000 data/fmnist/test.csv > data/fmnist/test999.csv
cat > configs/evaluate.yaml <<'YAML'
nodes:
  - {name: test, type: source, manifest: ../data/fmnist/test999.csv, hierarchy: ../data/fmnist/hierarchy.yaml, shuffle: false}
  - {name: decode, type: decode, input: test, channels: 1}
  - {name: resize, type: augment, input: decode, ops: [resize size=32]}
  - {name: batch, type: batch, input: resize, mean: [0.286], std: [0.353]}
  - {name: score, type: evaluate, input: batch, checkpoint: ../two/last.pt, output: ../eval.json}
YAML
"$cli" run configs/evaluate.yaml --progress 0 --set score.output="$work/eval1.json" > eval1.log 2>&1 || fail "evaluate in one process failed"
ranks evaluate "$cli" run configs/evaluate.yaml --progress 0 --set score.output="$work/eval2.json"
wait "$pid0" || fail "rank 0 of evaluate failed"
wait "$pid1" || fail "rank 1 of evaluate failed"
grep -q '"images": 999' eval2.json || fail "the 2-rank evaluate did not score each of the 999 images once"
diff eval1.json eval2.json || fail "2 ranks' evaluate metrics differ from 1 process's"

# 2. A killed rank: the other exits non-zero within the timeout, naming it; the last checkpoint stays.
ranks killed "$cli" run configs/fmnist_supervised.yaml --out killed --progress 0 --collective-timeout 10
for _ in $(seq 300); do [ -s killed/metrics.jsonl ] && break; sleep 0.1; done
[ -s killed/metrics.jsonl ] || fail "the run to kill never finished an epoch"
kill -9 "$pid1"
started=$SECONDS
if wait "$pid0"; then fail "rank 0 finished although rank 1 was killed"; fi
waited=$((SECONDS - started))
[ "$waited" -le 20 ] || fail "rank 0 took $waited s to notice rank 1 was gone"
grep -q "^error: .*train: .* failed on rank 0 of 2: .*; rank 1 stopped or did not answer within 10 s" killed.rank0.log ||
  fail "rank 0's error does not name rank 1"
"$cli" model info --checkpoint killed/last.pt > /dev/null || fail "the killed run's last checkpoint is unreadable"
echo "rank 0 stopped $waited s after rank 1 was killed"

# 3. Sharded pseudo-labels equal one process's, with the same teacher; one process then reuses them.
small=(--set rounds=1 --set teacher.labeled.epochs=2 --set student.mixed.epochs=1 --set student.mixed.balance_per_class=10
       --set finetune.labeled.epochs=1)
"$cli" run configs/fmnist_noisy_student.yaml --out single --progress 0 "${small[@]}" > single.log 2>&1 || fail "the 1-process main job failed"
mkdir sharded && cp -r single/round0 sharded/
ranks sharded "$cli" run configs/fmnist_noisy_student.yaml --out sharded --progress 0 "${small[@]}"
wait "$pid0" || fail "rank 0 of the sharded main job failed"
wait "$pid1" || fail "rank 1 of the sharded main job failed"
grep -q "phase teacher (round 0) is up to date" sharded.rank0.log || fail "the copied teacher was trained again"
grep -q "merged the 2 ranks' shards" sharded.rank0.log || fail "rank 0 did not merge the shards"
ls sharded/round1/*shard* 2> /dev/null && fail "the shards were left beside the cache"
"$cli" cache diff single/round1/pseudo_labels.h5 sharded/round1/pseudo_labels.h5 || fail "2 ranks' pseudo-labels differ from 1 process's"
"$cli" run --resume sharded --progress 0 > reuse.log 2>&1 || fail "one process could not rerun the 2-rank folder"
grep -q "phase pseudo_label (round 1) is up to date" reuse.log || fail "one process did not reuse the 2 ranks' cache"

# 4. MPL on 2 ranks (a few steps).
ranks mpl "$cli" run configs/fmnist_mpl.yaml --out mpl --progress 0 --set teacher.labeled.epochs=1 --set mpl.steps.epochs=1 \
  --set mpl.steps.batch_size=8
wait "$pid0" || fail "rank 0 of the MPL run failed"
wait "$pid1" || fail "rank 1 of the MPL run failed"
test -s mpl/mpl/last.pt && test -s mpl/mpl/teacher.pt || fail "the 2-rank MPL run wrote no checkpoints"

# 5. torchrun: a restarted group resumes from the newest checkpoint and ends as the uninterrupted run.
if ! command -v torchrun > /dev/null; then
  echo "distributed test passed (torchrun not installed: its part skipped)"
  exit 0
fi
# Debian's torchrun 1.13 on Python 3.11 needs --redirects/--tee/--log_dir (else an AttributeError).
torchrun_2() { torchrun --nproc_per_node 2 --master_port "$(port)" --redirects 1 --tee 1 --log_dir "$work/torchrun.$1" "${@:2}"; }
long=(--progress 0 --set labeled.epochs=24 --set train.eval_every=1)
torchrun_2 whole --no_python "$cli" run configs/fmnist_supervised.yaml --out whole "${long[@]}" > whole.log 2>&1 ||
  fail "the torchrun run failed"
torchrun_2 restarted --max_restarts 1 --no_python "$cli" run configs/fmnist_supervised.yaml --out restarted "${long[@]}" > restarted.log 2>&1 &
launcher=$!
for _ in $(seq 600); do [ "$(cat restarted/metrics.jsonl 2> /dev/null | wc -l)" -ge 6 ] && break; sleep 0.05; done
killed=""
for p in $(pgrep -f "semiflow run configs/fmnist_supervised.yaml --out restarted"); do
  if tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null | grep -qx RANK=1; then kill -9 "$p" && killed=$p; fi
done
[ -n "$killed" ] || fail "found no rank 1 to kill"
wait "$launcher" || fail "the restarted torchrun run did not finish"
grep -q "resumed from .*restarted/last.pt at epoch [1-9]" restarted.log || fail "the restarted group did not resume from last.pt"
for key in epoch train_loss airush_score exact_path_accuracy best_value; do
  [ "$(field restarted/metrics.jsonl $key)" = "$(field whole/metrics.jsonl $key)" ] ||
    fail "after the restart $key is $(field restarted/metrics.jsonl $key), uninterrupted $(field whole/metrics.jsonl $key)"
done
[ "$(wc -l < restarted/metrics.jsonl)" -eq 24 ] || fail "the restarted run's metrics.jsonl does not hold each epoch once"
echo "distributed test passed"
