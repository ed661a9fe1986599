#!/usr/bin/env bash
# The README's main job (configs/fmnist_noisy_student.yaml), shrunk to seconds through --set:
# Fashion-MNIST from Debian's package with 2 labels per class, 200 unlabeled and 200 test
# images, one round. Then the run folder's files, a rerun that skips every phase (cache hit),
# and the HTML report rendered in headless Chromium.
# Usage: main_job_test.sh SEMIFLOW CONFIG
set -euo pipefail
cli=$1
config=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The config reads ../data/fmnist relative to itself: give it a copy in a folder next to the data,
# with the files it includes.
mkdir -p "$work/configs"
cp -r "$(dirname "$config")"/*.yaml "$(dirname "$config")"/recipes "$work/configs/"
cp "$config" "$work/configs/ns.yaml"
"$cli" data fashion-mnist --out "$work/data/fmnist" --labeled-per-class 2 --seed 0
for manifest in unlabeled test; do
  head -201 "$work/data/fmnist/$manifest.csv" > "$work/small.csv"
  mv "$work/small.csv" "$work/data/fmnist/$manifest.csv"
done

# Epochs and steps per epoch follow from the sources: the trainers take them from their streams.
small=(--set rounds=1 --set teacher.labeled.epochs=2 --set teacher.train.eval_every=1
       --set student.mixed.epochs=1 --set student.mixed.balance_per_class=10 --set finetune.labeled.epochs=1)
"$cli" run "$work/configs/ns.yaml" --out "$work/run" --progress 0 "${small[@]}" | tee "$work/first.log"

for file in summary.json phases.jsonl report.html run.json config.yaml run.log round0/last.pt round1/student/last.pt \
            round1/last.pt round1/pseudo_labels.h5; do
  test -s "$work/run/$file" || { echo "missing $work/run/$file"; exit 1; }
done
grep -q "cache miss" "$work/first.log"

# Rerun from the moved folder: everything is up to date (the teacher's cache a hit), and the
# summary keeps the timings of the run that did the work.
cp "$work/run/summary.json" "$work/first.summary.json"
mv "$work/run" "$work/moved"
"$cli" run --resume "$work/moved" --progress 0 | tee "$work/second.log"
grep -q "phase teacher (round 0) is up to date: skipped" "$work/second.log"
grep -q '"cache":"hit"' <(tail -n 5 "$work/moved/phases.jsonl")
[ "$(grep -c "(up to date)" "$work/second.log")" -eq 2 ] || { echo "FAIL: the rerun's summary table is not up to date in both rounds"; exit 1; }
[ "$(grep -o '"wall_s": [0-9.e+-]*' "$work/moved/summary.json")" = "$(grep -o '"wall_s": [0-9.e+-]*' "$work/first.summary.json")" ] ||
  { echo "FAIL: the rerun replaced the summary's timings"; exit 1; }

source "$(dirname "$0")/render_report.sh"
render_report "$work/moved/report.html" "$work/report.png"  # curves and matrices found in the moved folder
svgs=$(count_in_dom '<svg')
series=$(count_in_dom 'class="series"')
cells=$(count_in_dom 'class="cell"')
bars=$(count_in_dom 'class="bar"')
echo "rendered: $svgs plots, $series curves, $cells heat-map cells, $bars bars"
[ "$svgs" -ge 8 ] && [ "$series" -ge 10 ] && [ "$cells" -ge 100 ] && [ "$bars" -ge 20 ]
echo "main job test passed"
