#!/usr/bin/env bash
# Command-line conventions a script can rely on: `-` as an output file is stdout and stdout then
# holds the data only; errors are one `error:` line on stderr (no libtorch trace); --log-level
# hides log lines and refuses a level it does not know. On a 20-label Fashion-MNIST split and a
# one-epoch supervised run.
# Usage: cli_conventions_test.sh SEMIFLOW CONFIG_DIR
set -euo pipefail
cli=$(realpath "$1")  # the test works inside $work
configs=$2
source "$(dirname "$0")/fmnist_workdir.sh"
fmnist_workdir "$configs" 2
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }

# `"$cli" ARGS...` must fail with nothing on stdout and one `error:` line on stderr matching $pattern.
fails_with_one_line() {
  local pattern=$1
  shift
  if "$cli" "$@" > err.out 2> err.txt; then fail "$* succeeded"; fi
  [ ! -s err.out ] || { cat err.out; fail "$*: wrote to stdout"; }
  [ "$(wc -l < err.txt)" -eq 1 ] || { cat err.txt; fail "$*: not one line on stderr"; }
  grep -q "^error: .*$pattern" err.txt || { cat err.txt; fail "$*: no 'error: ...$pattern'"; }
}

"$cli" run configs/fmnist_supervised.yaml --out run --progress 0 --set labeled.epochs=1 --stats-json stats.json \
  --log-level warn > run.out 2> run.err || { cat run.err; fail "the shrunk supervised run failed"; }
! grep -q "\[info\]" run.err || { cat run.err; fail "--log-level warn let info lines through"; }
python3 -c 'import json,sys; json.load(sys.stdin)' < stats.json || fail "--stats-json is not JSON"
head -n 21 data/fmnist/test.csv > small.csv
sed -i 's|^images/|data/fmnist/images/|' small.csv
model=(--checkpoint run/best.pt --manifest small.csv)

# Data on stdout, logs on stderr.
"$cli" eval "${model[@]}" --json > eval.json 2> eval.err
python3 -c 'import json,sys; assert json.load(sys.stdin)["images"] == 20' < eval.json || fail "eval --json stdout is not the JSON"
"$cli" predict "${model[@]}" --out - > predictions.csv 2> predict.err
[ ! -e ./- ] || fail "predict --out - wrote a file named -"
[ "$(wc -l < predictions.csv)" -eq 21 ] || { cat predictions.csv; fail "predict --out -: not a header and 20 rows on stdout"; }
head -n 1 predictions.csv | grep -q "^path,category_index," || fail "predict --out -: no CSV header first"
grep -q "\[info\]" predict.err || { cat predict.err; fail "predict logged nothing at the default level"; }
mkdir -p tree/clothes/tops/Shirt
cp data/fmnist/images/test/00000.jpg tree/clothes/tops/Shirt/
"$cli" data folder --root tree --hierarchy data/fmnist/hierarchy.yaml --out - > folder.csv 2> /dev/null
[ "$(cat folder.csv)" = "$(printf 'path,category,group,item\ntree/clothes/tops/Shirt/00000.jpg,clothes,tops,Shirt')" ] ||
  { cat folder.csv; fail "data folder --out -: stdout is not the manifest"; }

# --log-level, before or after the command.
"$cli" --log-level warn predict "${model[@]}" --out p.csv 2> quiet.err
"$cli" predict "${model[@]}" --out p.csv --log-level error 2>> quiet.err
[ ! -s quiet.err ] || { cat quiet.err; fail "--log-level warn/error still printed"; }
fails_with_one_line "--log-level: loud not in {trace,debug,info,warn,error,off}" --log-level loud predict "${model[@]}" --out p.csv

# One line per error, naming what to fix, whatever library failed underneath.
fails_with_one_line "--device: device 'gpu': write auto, cpu, cuda or cuda:N" eval "${model[@]}" --device gpu
if ! "$cli" eval "${model[@]}" --device cuda > /dev/null 2>&1; then  # on a machine with CUDA it just works
  fails_with_one_line "--device: device 'cuda': this build or machine has no CUDA" eval "${model[@]}" --device cuda
fi
fails_with_one_line "--checkpoint: File does not exist: missing.pt" eval --checkpoint missing.pt --manifest small.csv
fails_with_one_line "small.csv: not a readable checkpoint" eval --checkpoint small.csv --manifest small.csv
head -c 2000 run/best.pt > truncated.pt
fails_with_one_line "truncated.pt: not a readable checkpoint" model info --checkpoint truncated.pt
fails_with_one_line "small.csv: HDF5 could not open the file" cache inspect small.csv
echo "not an image" > data/fmnist/images/not_an_image.jpg
printf 'path,category,group,item\ndata/fmnist/images/not_an_image.jpg,clothes,tops,Shirt\n' > bad_image.csv
fails_with_one_line "not_an_image.jpg: not a JPEG or PNG image" predict --checkpoint run/best.pt --manifest bad_image.csv --out -
fails_with_one_line "/nonexistent/p.csv: cannot write it" predict "${model[@]}" --out /nonexistent/p.csv

echo "cli conventions test passed"
