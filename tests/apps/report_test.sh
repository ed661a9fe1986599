#!/usr/bin/env bash
# `semiflow report`: on tiny runs (a 2-label-per-class Fashion-MNIST split, 200 test and unlabeled
# images, seconds each) the page has axis titles and tick labels, class names and a colour scale
# on the confusion matrix, the pseudo-label charts and the hyperparameter table; two runs overlay
# on the same charts with a legend naming them, against wall-clock time; all render in Chromium.
# Usage: report_test.sh SEMIFLOW CONFIG_DIR
set -euo pipefail
cli=$1
configs=$2
source "$(dirname "$0")/fmnist_workdir.sh"
source "$(dirname "$0")/render_report.sh"
fmnist_workdir "$configs" 2
for manifest in unlabeled test; do
  head -201 "$work/data/fmnist/$manifest.csv" > "$work/small.csv"
  mv "$work/small.csv" "$work/data/fmnist/$manifest.csv"
done

supervised=(--progress 0 --set labeled.epochs=3 --set train.eval_every=1)
"$cli" run "$work/configs/fmnist_supervised.yaml" --out "$work/lr_0.1" "${supervised[@]}" > "$work/out.txt" 2>&1 ||
  { cat "$work/out.txt"; echo "FAIL: supervised run"; exit 1; }
"$cli" run "$work/configs/fmnist_supervised.yaml" --out "$work/lr_0.05" "${supervised[@]}" --set train.lr=0.05 > "$work/out.txt" 2>&1 ||
  { cat "$work/out.txt"; echo "FAIL: supervised run with lr 0.05"; exit 1; }
"$cli" run "$work/configs/fmnist_noisy_student.yaml" --out "$work/ns" --progress 0 --set rounds=1 --set teacher.labeled.epochs=2 \
  --set teacher.train.eval_every=1 --set student.mixed.epochs=1 --set student.mixed.balance_per_class=10 \
  --set finetune.labeled.epochs=1 > "$work/out.txt" 2>&1 || { cat "$work/out.txt"; echo "FAIL: noisy student run"; exit 1; }
grep -q '"elapsed_s":' "$work/lr_0.1/metrics.jsonl" || { echo "FAIL: metrics.jsonl has no elapsed_s"; exit 1; }

expect() {  # expect TEXT [AT_LEAST]: the rendered page holds TEXT at least AT_LEAST (1) times
  local found
  found=$(count_in_dom "$1")
  [ "$found" -ge "${2:-1}" ] || { echo "FAIL: $found times '$1' in the rendered page, expected ${2:-1}+"; exit 1; }
}

# One run: the report `semiflow run` wrote, rewritten by `semiflow report` in its place.
"$cli" report "$work/ns" | grep -qF "wrote $work/ns/report.html"
render_report "$work/ns/report.html" "$work/one_run.png"
for title in '>epoch</text>' '>loss</text>' '>learning rate</text>' '>accuracy / score</text>' '>round</text>' \
             '>true</text>' '>predicted</text>' '>share of true class</text>' '>teacher confidence</text>' '>pseudo-labels</text>'; do
  expect "$title"
done
expect 'class="cell"' 100
expect 'class="colour-scale"'
expect '>Ankle boot</text>' 2       # both axes of the confusion matrix
expect '>T-shirt/top</text>' 3      # and the class counts
expect '>accessories</text>'
expect 'class="bar"' 20
expect 'class="tick"' 60
expect 'class="legend"' 5
expect 'Hyperparameters of the training nodes'
expect '<td>label_smoothing</td>'
expect 'Round 1: finetune / train'
# Ticks of a 1-2-5 step: accuracy on 0.2 steps.
expect '>0.4</text>'

# Two runs overlaid, against wall-clock time; several runs need --out.
"$cli" report "$work/lr_0.1" "$work/lr_0.05" > "$work/out.txt" 2>&1 && { echo "FAIL: two runs without --out"; exit 1; }
grep -q -- "--out" "$work/out.txt" || { cat "$work/out.txt"; echo "FAIL: no word of --out"; exit 1; }
"$cli" report "$work/lr_0.1" "$work/lr_0.05" --x wall --out "$work/overlay.html" > /dev/null
render_report "$work/overlay.html" "$work/two_runs.png"
expect '>training wall-clock time (s)</text>' 3
expect '>lr_0.1</text>' 3           # in the legends
expect '>lr_0.05</text>' 3
expect 'class="series"' 14          # per run: 3 losses, lr, 3 accuracies and the AI Rush score
expect 'class="differs">0.05</td>'  # the hyperparameter the runs differ in
expect 'confusion (item)' 2         # one matrix per run

echo "report test passed"
