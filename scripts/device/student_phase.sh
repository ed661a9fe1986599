#!/usr/bin/env bash
# The GPU kit's end-to-end figures (run by scripts/device/run_kit.sh there; runnable here with
# DEVICE=cpu and small sizes): Fashion-MNIST resized to SIZE, through the whole graph.
#   1. the student phase: decode, RandAugment, crop and flip at SIZE, batch, train ARCH in PRECISION
#      on the first IMAGES training images for EPOCHS epochs; images/s, each epoch's rate (the
#      first pays cuDNN's algorithm search; the later ones are the steady state) and the train
#      node's input-wait share (time it waited for a batch over its busy plus waiting time).
#   2. teacher inference: the trained checkpoint pseudo-labels the whole unlabeled manifest (58k
#      images with the default split) into an HDF5 cache; images/s.
# Writes student_phase.json (both figures) to OUT; the data, runs, logs and per-node statistics
# go to WORK (default OUT/student_phase).
#   scripts/device/student_phase.sh SEMIFLOW IDX_DIR OUT
#   env: DEVICE (cuda), ARCH (s), SIZE (224), IMAGES (10000), EPOCHS (2), PRECISION (bf16), BATCH (128), WORK
set -euo pipefail
semiflow=$1 idx_dir=$2 out=$3
device=${DEVICE:-cuda} arch=${ARCH:-s} size=${SIZE:-224} images=${IMAGES:-10000} epochs=${EPOCHS:-2} precision=${PRECISION:-bf16} batch=${BATCH:-128}
work=${WORK:-$out/student_phase}
mkdir -p "$work"
step() { echo "== $(date +%T) $*"; }

step "Fashion-MNIST from $idx_dir as JPEGs (1000 labels; the rest unlabeled)"
data=$work/fmnist
[ -s "$data/unlabeled.csv" ] || "$semiflow" data fashion-mnist --idx-dir "$idx_dir" --out "$data" --labeled-per-class 100 --seed 0 > "$work/data.log" 2>&1
head -n "$((images + 1))" "$data/train_all.csv" > "$data/student.csv"
hierarchy=$data/hierarchy.yaml

cat > "$work/student.yaml" <<YAML
threads: {graph: $(nproc), torch: 4}
max_in_flight: 256
nodes:
  - {name: images, type: source, manifest: $data/student.csv, hierarchy: $hierarchy, epochs: $epochs, micro_batch: 32}
  - {name: decode, type: decode, input: images, channels: 3}
  - {name: augment, type: augment, input: decode,
     ops: [resize size=$size, random_crop size=$size padding=$((size / 8)), hflip p=0.5, rand_augment n=2 m=9]}
  - {name: batch, type: batch, input: augment, batch_size: $batch, drop_last: true, mean: [0.286, 0.286, 0.286], std: [0.353, 0.353, 0.353]}
  - {name: train, type: train, input: batch, hierarchy: $hierarchy, arch: $arch, device: $device, precision: $precision,
     epochs: $epochs, lr: 0.05, warmup_epochs: 0, best_metric: train_loss, out_dir: $work/student, resume: false}
YAML
step "student phase: $arch at ${size}x${size}, $images images, batch $batch, $precision on $device"
"$semiflow" run "$work/student.yaml" --progress 0 --stats-json "$work/student_stats.json" > "$work/student.log" 2>&1 ||
  { tail -n 5 "$work/student.log"; exit 1; }

cat > "$work/teacher.yaml" <<YAML
threads: {graph: $(nproc), torch: 4}
max_in_flight: 256
nodes:
  - {name: images, type: source, manifest: $data/unlabeled.csv, epochs: 1, shuffle: false, micro_batch: 64}
  - {name: decode, type: decode, input: images, channels: 3}
  - {name: resize, type: augment, input: decode, ops: [resize size=$size]}
  - {name: batch, type: batch, input: resize, batch_size: 256, mean: [0.286, 0.286, 0.286], std: [0.353, 0.353, 0.353]}
  - {name: teacher, type: teacher_inference, input: batch, checkpoints: [$work/student/last.pt], manifest: $data/unlabeled.csv,
     cache: $work/pseudo_labels.h5, device: $device, precision: $precision}
YAML
step "teacher inference over $(($(wc -l < "$data/unlabeled.csv") - 1)) unlabeled images at ${size}x${size}, $precision"
rm -f "$work/pseudo_labels.h5"
"$semiflow" run "$work/teacher.yaml" --progress 0 --stats-json "$work/teacher_stats.json" > "$work/teacher.log" 2>&1 ||
  { tail -n 5 "$work/teacher.log"; exit 1; }

/usr/bin/env python3 - "$work" "$out/student_phase.json" "$device" "$arch" "$size" "$precision" "$batch" <<'PY'
import json, sys
work, path, device, arch, size, precision, batch = sys.argv[1:]

def rows(manifest):
    return sum(1 for _ in open(f"{work}/fmnist/{manifest}")) - 1

def phase(stats, name, images):
    stats = json.load(open(f"{work}/{stats}"))
    if isinstance(stats, list):  # one entry per phase
        stats = stats[0]["stats"]
    node = next(n for n in stats["nodes"] if n["name"] == name)
    return {"images": images, "elapsed_s": stats["elapsed_s"], "images_per_s": images / stats["elapsed_s"],
            "busy_s": node["busy_s"], "input_wait_s": node["waiting_s"],
            "input_wait_share": node["waiting_s"] / max(1e-9, node["busy_s"] + node["waiting_s"])}

epochs = [json.loads(line) for line in open(f"{work}/student/metrics.jsonl")]
student = phase("student_stats.json", "train", sum(e["images"] for e in epochs))
# The train node's own rate per epoch (images over the epoch's training seconds, without start-up).
student["train_images_per_s_by_epoch"] = [e["images_per_s"] for e in epochs]
result = {"device": device, "arch": arch, "image_size": int(size), "precision": precision, "batch": int(batch),
          "student_phase": student, "teacher_inference": phase("teacher_stats.json", "teacher", rows("unlabeled.csv"))}
json.dump(result, open(path, "w"), indent=2)
print(json.dumps(result))
PY
