#!/usr/bin/env bash
# `graph check` before anything runs: every shipped config passes (beside a tiny Fashion-MNIST, as
# they read ../data/fmnist), --set reaches every round, and every config of the broken corpus
# (tests/configs/broken) fails with a non-zero exit and each message its `# expect:` lines name
# (file:line and the fix), with the arguments of its `# args:` line.
# Usage: config_check_test.sh SEMIFLOW CONFIG_DIR BROKEN_DIR
set -euo pipefail
cli=$1
configs=$2
broken=$3
source "$(dirname "$0")/fmnist_workdir.sh"
fmnist_workdir "$configs" 2

for config in "$configs"/*.yaml; do
  name=$(basename "$config")
  "$cli" graph check "$work/configs/$name" > "$work/out.txt" 2>&1 || { cat "$work/out.txt"; echo "FAIL: $name does not pass"; exit 1; }
done
"$cli" graph check "$work/configs/fmnist_noisy_student.yaml" --set rounds=2 --set student.train.lr=0.0123 > "$work/out.txt"
[ "$(grep -c 'lr=0.0123' "$work/out.txt")" -eq 2 ] || { echo "FAIL: --set student.train.lr reached $(grep -c 'lr=0.0123' "$work/out.txt") of 2 rounds"; exit 1; }
# An override through a value the file shares (a template) changes only the node it names.
"$cli" graph check "$work/configs/fmnist_noisy_student.yaml" --set finetune.batch.batch_size=16 > "$work/out.txt"
[ "$(grep -c 'batch_size=16' "$work/out.txt")" -eq 2 ] || { echo "FAIL: --set finetune.batch.batch_size changed other nodes"; exit 1; }

# `run` checks every phase before the first starts: a bad value in the student phase stops the run
# before the teacher trains, and no run folder is made.
cp "$broken/student_phase_bad_value.yaml" "$work/configs/"
if "$cli" run "$work/configs/student_phase_bad_value.yaml" --out "$work/refused" --progress 0 > "$work/out.txt" 2>&1; then
  echo "FAIL: run started a config with a bad value in a later phase"; exit 1
fi
grep -qF "phase 'student' (rounds 1, 2)" "$work/out.txt" || { cat "$work/out.txt"; echo "FAIL: run did not name the phase"; exit 1; }
[ ! -e "$work/refused" ] || { echo "FAIL: a refused run made its folder"; exit 1; }

count=0
for config in "$broken"/*.yaml; do
  name=$(basename "$config")
  cp "$config" "$work/configs/$name"
  read -r -a args <<< "$(sed -n 's/^# args: //p' "$config")"
  if "$cli" graph check "$work/configs/$name" "${args[@]}" > "$work/out.txt" 2>&1; then
    echo "FAIL: $name passed graph check"; exit 1
  fi
  while IFS= read -r expected; do
    grep -qF -- "$expected" "$work/out.txt" || { cat "$work/out.txt"; echo "FAIL: $name: no '$expected'"; exit 1; }
  done < <(sed -n 's/^# expect: //p' "$config")
  count=$((count + 1))
done
# Errors go to stderr, one "error: " line each; stdout stays for data.
"$cli" graph check "$work/configs/several_errors.yaml" > "$work/stdout.txt" 2> "$work/stderr.txt" || true
[ ! -s "$work/stdout.txt" ] || { echo "FAIL: errors on stdout"; exit 1; }
[ "$(grep -c '^error: ' "$work/stderr.txt")" -eq 3 ] || { cat "$work/stderr.txt"; echo "FAIL: not one error line per problem"; exit 1; }
echo "shipped configs pass; $count broken configs fail as expected"
