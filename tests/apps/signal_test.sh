#!/usr/bin/env bash
# SIGTERM and SIGINT stop a run cleanly: the finished epochs are kept (last.pt), the run says how to
# continue, and the exit status is 143 or 130 (128 + the signal), as a shell reports a killed job.
# Usage: signal_test.sh SEMIFLOW CONFIG_DIR
set -euo pipefail
cli=$1
configs=$2
source "$(dirname "$0")/fmnist_workdir.sh"
fmnist_workdir "$configs" 100

for signal in TERM INT; do
  out="$work/run_$signal"
  "$cli" run "$work/configs/fmnist_supervised.yaml" --out "$out" --progress 0 > "$work/$signal.out" 2> "$work/$signal.err" &
  pid=$!
  for _ in $(seq 600); do  # up to 60 s for the first epoch's checkpoint
    [ -s "$out/last.pt" ] && break
    sleep 0.1
  done
  [ -s "$out/last.pt" ] || { cat "$work/$signal.err"; echo "FAIL: no checkpoint before SIG$signal"; exit 1; }
  kill -"$signal" "$pid"
  status=0
  wait "$pid" || status=$?
  expected=$([ "$signal" = TERM ] && echo 143 || echo 130)
  [ "$status" -eq "$expected" ] || { cat "$work/$signal.err"; echo "FAIL: SIG$signal: exit $status, expected $expected"; exit 1; }
  grep -q "stopped by SIG$signal; finished epochs and caches are kept: \`semiflow run --resume $out\` continues" "$work/$signal.err" ||
    { cat "$work/$signal.err"; echo "FAIL: SIG$signal: no clean stop"; exit 1; }
  ! grep -q "\[warning\]\|\[error\]\|\[info\]" "$work/$signal.out" || { echo "FAIL: logs on stdout"; exit 1; }
  "$cli" model info --checkpoint "$out/last.pt" | grep -q "trained      epoch [1-9]" || { echo "FAIL: SIG$signal lost the checkpoint"; exit 1; }
done
echo "signal test passed"
