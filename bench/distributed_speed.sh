#!/usr/bin/env bash
# Distributed speed of the main job's student phase (configs/fmnist_noisy_student.yaml, round 1):
# 2 ranks x 1 torch thread against 1 rank x 1 torch thread and against 1 rank x 2 torch threads,
# on this machine, rounds interleaved (A, B, C, A, B, C, ...) so that the machine's fast and slow
# spells fall on every setting alike. Prints each round's student images/s, the ratios round by
# round with their medians, and each step's communication wait (the part of the gradient sums
# that backward did not hide) with its share of the step.
#
# Setup, once per world size (a teacher trained with other steps per epoch is another run's): a
# short teacher (2 epochs: its accuracy does not change the student's speed) and its
# pseudo-labels over the unlabeled manifest; every measurement then copies them into a fresh run
# folder and trains the student phase only for STUDENT_EPOCHS epochs of BALANCE_PER_CLASS
# pseudo-labeled images per class (plus one labeled per four).
#
# Usage: bench/distributed_speed.sh [DATA_DIR (default data/fmnist)] [ROUNDS (default 3)]
# Environment: BALANCE_PER_CLASS (default 0: every cached row, as many images whatever the short
# teacher predicts), STUDENT_EPOCHS (default 1), WORK (default a temp dir).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cli=$root/build/semiflow
data=$(realpath "${1:-$root/data/fmnist}")
rounds=${2:-3}
balance=${BALANCE_PER_CLASS:-0}
epochs=${STUDENT_EPOCHS:-1}
[ -x "$cli" ] || { echo "error: $cli is not built; run scripts/build.sh" >&2; exit 1; }
[ -s "$data/unlabeled.csv" ] || { echo "error: $data/unlabeled.csv is missing; make it with: $cli data fashion-mnist --out $data" >&2; exit 1; }
work=${WORK:-$(mktemp -d)}
mkdir -p "$work/configs" "$work/data"
cp -r "$root"/configs/*.yaml "$root"/configs/recipes "$work/configs/"
ln -sfn "$data" "$work/data/fmnist"
cd "$work"
config=configs/fmnist_noisy_student.yaml
ratio=4  # unlabeled images per labeled one in the student's stream (the shipped config's)
common=(--progress 0 --set rounds=1 --set teacher.labeled.epochs=2 --set student.mixed.balance_per_class="$balance"
        --set student.mixed.unlabeled_ratio=$ratio
        --set student.mixed.epochs="$epochs" --set finetune.labeled.epochs=1)

# Steps of a rank's student epoch without balancing (then the stream cannot say): its shard of
# the cached rows, one labeled image per unlabeled_ratio of them, in batches of 128.
student_steps() {
  awk -v n="$(($(wc -l < "$data/unlabeled.csv") - 1))" -v w="$1" -v r="$ratio" 'BEGIN {
    shard = int((n + w - 1) / w); items = shard + int(shard / r); print int((items + 127) / 128) }'
}

# CPU seconds (user + system) of the finished child processes in `times` output FILE.
children_cpu_s() {
  sed -n 2p "$1" | awk '{ split($1, u, /[ms]/); split($2, k, /[ms]/); printf "%.1f", u[1] * 60 + u[2] + k[1] * 60 + k[2] }'
}

# launch RANKS LOG CMD...: CMD in one process, or RANKS processes with torchrun's variables.
launch() {
  local ranks=$1 log=$2 port=$((20000 + RANDOM % 20000)) pids=() failed=0
  shift 2
  if [ "$ranks" -eq 1 ]; then "$@" > "$log" 2>&1 || failed=1; fi
  for ((r = 0; r < ranks && ranks > 1; r++)); do
    RANK=$r WORLD_SIZE=$ranks LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$@" > "$log.rank$r" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  if [ "$failed" -ne 0 ]; then
    grep -h "error" "$log"* >&2 || true
    echo "error: $* failed; see $log*" >&2
    exit 1
  fi
}

for ranks in 1 2; do
  echo "setup: a 2-epoch teacher and its pseudo-labels on $ranks rank(s) in $work/prepared$ranks"
  launch "$ranks" "prepared$ranks.log" "$cli" run "$config" --out "prepared$ranks" "${common[@]}" --set student.mixed.epochs=1 \
    --set student.mixed.balance_per_class=10
done

# measure NAME RANKS TORCH_THREADS: trains the student in a fresh copy; prints "images_per_s wait_s steps train_s".
measure() {
  local name=$1 ranks=$2 threads=$3
  rm -rf "$name" && mkdir -p "$name/round1" && cp -r "prepared$ranks/round0" "$name/" && cp "prepared$ranks/round1/pseudo_labels.h5" "$name/round1/"
  local wall_before=$SECONDS
  times > "$name.times"  # the builtin in this shell: it counts this shell's children
  launch "$ranks" "$name.log" "$cli" run "$config" --out "$name" "${common[@]}" --set threads.torch="$threads" \
    --set student.train.steps_per_epoch="$(student_steps "$ranks")"
  local wall=$((SECONDS - wall_before)) before
  before=$(children_cpu_s "$name.times")
  times > "$name.times"
  echo "$(awk -v a="$(children_cpu_s "$name.times")" -v b="$before" 'BEGIN { print a - b }') $wall" > "$name.cpu"
  python3 - "$name/round1/student/metrics.jsonl" <<'EOF'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
images = sum(r["images"] for r in records)
train_s = sum(r["train_s"] for r in records)
wait_s = sum(r.get("communication_wait_s", 0.0) for r in records)
print(images / train_s, wait_s, records[-1]["step"], train_s)
EOF
}

declare -A rate wait steps train
settings=("1x1:1:1" "2x1:2:1" "1x2:1:2")
for ((round = 1; round <= rounds; round++)); do
  for setting in "${settings[@]}"; do
    IFS=: read -r name ranks threads <<< "$setting"
    result=$(measure "$name" "$ranks" "$threads") || exit 1
    read -r r w s t <<< "$result"
    rate[$name.$round]=$r wait[$name.$round]=$w steps[$name.$round]=$s train[$name.$round]=$t
    read -r cpu wall < "$name.cpu"
    printf "round %d  %s (%d rank(s) x %d torch thread(s)): %6.0f student images/s, %.1f cores busy over the run" "$round" "$name" \
      "$ranks" "$threads" "$r" "$(awk -v c="$cpu" -v w="$wall" 'BEGIN { print (w > 0 ? c / w : 0) }')"
    if [ "$ranks" -gt 1 ]; then
      awk -v w="$w" -v s="$s" -v t="$t" 'BEGIN { printf ", communication wait %.1f ms a step (%.1f%% of the step)", 1000 * w / s, 100 * w / t }'
    fi
    echo
  done
done
python3 - "$rounds" <<EOF
import statistics, sys
rounds = int(sys.argv[1])
rate = {$(for k in "${!rate[@]}"; do printf '"%s": %s, ' "$k" "${rate[$k]}"; done)}
for a, b in (("2x1", "1x1"), ("2x1", "1x2")):
    ratios = [rate[f"{a}.{r}"] / rate[f"{b}.{r}"] for r in range(1, rounds + 1)]
    print(f"{a} / {b}: {statistics.median(ratios):.2f}x (rounds: {', '.join(f'{x:.2f}' for x in ratios)})")
EOF
