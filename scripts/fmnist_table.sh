#!/usr/bin/env bash
# The learning-quality table on Fashion-MNIST with 1000 labels (100 per class), over seeds:
#   supervised     the teacher alone (round 0 of the Noisy Student run: the same recipe as
#                  configs/fmnist_supervised.yaml)
#   noisy_student  configs/fmnist_noisy_student.yaml, rounds 1 and 2
#   mpl            configs/fmnist_mpl.yaml (its teacher phase reuses the supervised teacher)
#   all_labels     configs/fmnist_all_labels.yaml: every training label, the upper bound
# Seed s means: the labeled split drawn with `data fashion-mnist --seed s` (the validation split
# stays the same 1,000 images), and the training seed `vars.seed=s`. Every model is picked on the
# validation split (best.pt); the figures are on the test set, read once per model with `semiflow
# eval`. Writes results/fmnist_1000.json and results/fmnist_1000.md (mean ± std over the seeds
# done so far). Rerunning resumes: finished runs are skipped, a stopped one continues, and rows of
# results/fmnist_1000.json whose run folders are elsewhere are kept.
#
#   scripts/fmnist_table.sh [--seeds "0 1 2"] [--runs runs/table] [--only "noisy_student mpl"] [--table-only]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="0 1 2"
runs=runs/table
only="noisy_student mpl all_labels"
table_only=false
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --table-only) table_only=true; shift ;;
    *) echo "error: unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
done
semiflow=build/semiflow
[ -x "$semiflow" ] || { echo "error: $semiflow is missing: run scripts/build.sh first" >&2; exit 1; }
mkdir -p results "$runs"

# Test-set figures of one checkpoint, kept beside it (a finished model is evaluated once).
evaluate() {
  local checkpoint=$1 data=$2 out=$1.test.json
  if [ ! -s "$out" ] || [ "$out" -ot "$checkpoint" ]; then
    "$semiflow" eval --checkpoint "$checkpoint" --manifest "$data/test.csv" --threads 2 --json > "$out.tmp"
    mv "$out.tmp" "$out"
  fi
}

if ! $table_only; then
  for seed in $seeds; do
    data=$PWD/data/fmnist_seed$seed
    if [ ! -s "$data/val.csv" ]; then
      echo "== seed $seed: data (labeled split seed $seed)"
      "$semiflow" data fashion-mnist --out "$data" --labeled-per-class 100 --seed "$seed"
    fi
    set_vars=(--set "vars.data=$data" --set "vars.seed=$seed")
    for method in $only; do
      out=$runs/seed$seed/$method
      echo "== seed $seed: $method ($(date +%T))"
      case $method in
        noisy_student)
          "$semiflow" run configs/fmnist_noisy_student.yaml --out "$out" "${set_vars[@]}"
          for round in 0 1 2; do evaluate "$out/round$round/best.pt" "$data"; done ;;
        mpl)
          # The teacher phase trains what round 0 of noisy_student trained: reuse it when it is there.
          teacher=$runs/seed$seed/noisy_student/round0
          if [ -s "$teacher/last.pt" ] && [ ! -e "$out/teacher/last.pt" ]; then
            mkdir -p "$out/teacher" && cp "$teacher"/{last.pt,best.pt,metrics.jsonl} "$out/teacher/"
          fi
          "$semiflow" run configs/fmnist_mpl.yaml --out "$out" "${set_vars[@]}"
          evaluate "$out/finetune/best.pt" "$data" ;;
        all_labels)
          "$semiflow" run configs/fmnist_all_labels.yaml --out "$out" "${set_vars[@]}"
          evaluate "$out/best.pt" "$data" ;;
        *) echo "error: --only takes noisy_student, mpl and all_labels, not $method" >&2; exit 2 ;;
      esac
    done
  done
fi

/usr/bin/python3 - "$runs" results/fmnist_1000 <<'PY'
import json, math, os, statistics, sys
runs, stem = sys.argv[1], sys.argv[2]
models = {  # row: (run, checkpoint inside it)
    "supervised": ("noisy_student", "round0/best.pt"),
    "noisy_student_round1": ("noisy_student", "round1/best.pt"),
    "noisy_student_round2": ("noisy_student", "round2/best.pt"),
    "mpl": ("mpl", "finetune/best.pt"),
    "all_labels": ("all_labels", "best.pt"),
}

def wall_s(run_dir, rounds=None):
    try:
        summary = json.load(open(os.path.join(run_dir, "summary.json")))
    except (OSError, ValueError):
        return None
    return sum(p.get("wall_s", 0.0) for r in summary["rounds"] if rounds is None or r["round"] in rounds for p in r["phases"])

def figures(path):
    result = json.load(open(path))  # `semiflow eval --json`
    row = {name: level["accuracy"] for name, level in result["levels"].items()}
    for key in ("airush_score", "exact_path_accuracy", "consistency"):
        row[key] = result[key]
    return row

seeds = sorted(int(d[4:]) for d in os.listdir(runs) if d.startswith("seed") and d[4:].isdigit())
table = {"runs": runs, "seeds": {}, "mean": {}, "std": {}}
for seed in seeds:
    entry = {}
    for name, (run, checkpoint) in models.items():
        path = os.path.join(runs, f"seed{seed}", run, checkpoint) + ".test.json"
        if not os.path.exists(path):
            continue
        entry[name] = figures(path)
        run_dir = os.path.join(runs, f"seed{seed}", run)
        rounds = {"supervised": [0], "noisy_student_round1": [1], "noisy_student_round2": [2]}.get(name)
        entry[name]["wall_s"] = wall_s(run_dir, rounds)
    table["seeds"][str(seed)] = entry
# Rows measured earlier whose run folders are not here (another machine, a fresh checkout) stay in
# the table; a row measured again from its run folder replaces them.
if os.path.exists(stem + ".json"):
    for seed, entry in json.load(open(stem + ".json"))["seeds"].items():
        for name, row in entry.items():
            table["seeds"].setdefault(seed, {}).setdefault(name, row)
table["seeds"] = dict(sorted(table["seeds"].items(), key=lambda item: int(item[0])))
seeds = [int(seed) for seed in table["seeds"]]

columns = []
for entry in table["seeds"].values():
    for row in entry.values():
        columns += [k for k in row if k not in columns]
for name in models:
    done = [e[name] for e in table["seeds"].values() if name in e]
    if not done:
        continue
    table["mean"][name] = {k: statistics.mean(r[k] for r in done if r.get(k) is not None) for k in columns if any(r.get(k) is not None for r in done)}
    table["std"][name] = {k: (statistics.stdev(r[k] for r in done if r.get(k) is not None) if len(done) > 1 else 0.0) for k in table["mean"][name]}
    table["mean"][name]["seeds"] = len(done)

def gap_closed(student):
    # Share of the teacher-to-bound gap a student closes, per seed then averaged (AI Rush score).
    shares = []
    for e in table["seeds"].values():
        if all(k in e for k in ("supervised", student, "all_labels")):
            gap = e["all_labels"]["airush_score"] - e["supervised"]["airush_score"]
            shares.append((e[student]["airush_score"] - e["supervised"]["airush_score"]) / gap if gap > 0 else math.nan)
    return (statistics.mean(shares), len(shares)) if shares else (None, 0)

table["gap_closed"] = {}
for student in ("noisy_student_round1", "noisy_student_round2", "mpl"):
    share, n = gap_closed(student)
    if share is not None:
        table["gap_closed"][student] = {"airush_score": share, "seeds": n}
json.dump(table, open(stem + ".json", "w"), indent=2)

with open(stem + ".md", "w") as md:
    md.write(f"Fashion-MNIST, 1000 labels, test set; mean ± std over seeds {', '.join(map(str, seeds))} "
             "(models picked on the validation split). Written by scripts/fmnist_table.sh.\n\n")
    metric_columns = [c for c in columns if c != "wall_s"]
    md.write("| model | seeds | " + " | ".join(metric_columns) + " | wall s |\n")
    md.write("|---" * (len(metric_columns) + 3) + "|\n")
    for name in models:
        if name not in table["mean"]:
            continue
        mean, std = table["mean"][name], table["std"][name]
        cells = [f"{mean[c]:.4f} ± {std[c]:.4f}" if c in mean else "" for c in metric_columns]
        wall = f"{mean['wall_s']:.0f}" if "wall_s" in mean else ""
        md.write(f"| {name} | {mean['seeds']} | " + " | ".join(cells) + f" | {wall} |\n")
    for student, gap in table["gap_closed"].items():
        md.write(f"\n{student} closes {100 * gap['airush_score']:.1f}% of the teacher-to-all-labels gap in AI Rush score "
                 f"(mean over {gap['seeds']} seeds).")
    md.write("\n")
print(open(stem + ".md").read())
PY
