#!/usr/bin/env bash
# There: the GPU machine, which has a CUDA torch in its python3 and no package access. Builds
# semiflow against that torch (libtorch 2.x) and the Debian libraries carried in device_kit/prefix
# (made here by scripts/device/fetch_kit.sh), runs the unit tests, trains a generated 10-class
# image set on CUDA in fp32, bf16 and fp16 and keeps each run's epoch records, runs the student
# phase and teacher inference end to end on Fashion-MNIST at 224 (scripts/device/student_phase.sh),
# then times EfficientNetV2-S at 224 (train and inference, fp32 and bf16) against PyTorch eager. Everything it
# measured goes to $OUT (configure/build/test logs, metrics), and every step is printed as it starts.
#
# Device call: run(command: "bash scripts/device/run_kit.sh", carry: ["device_kit/prefix"], timeout_s: 540)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
kit=$root/device_kit/prefix
out=${OUT:-$root/device_out}
build=$root/build-gpu
mkdir -p "$out"
step() { echo "== $(date +%T) $*"; }
[ -d "$kit/usr/include" ] || { echo "error: $kit is missing: run scripts/device/fetch_kit.sh here and carry device_kit/prefix" >&2; exit 1; }

torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
step "torch $(python3 -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name(0))')"
# nccl.h comes with the wheel's nvidia-nccl package, not with torch's headers.
nccl_include=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "include"))' 2> /dev/null || true)
lib=$kit/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$lib:$lib/hdf5/serial/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# The kit's .pc files say prefix=/usr: the sysroot puts their paths inside the kit.
export PKG_CONFIG_PATH=$lib/pkgconfig:$kit/usr/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$kit
# The wheel's own gloo headers (if it has them) match its ProcessGroupGloo; Debian's are a fallback.
if [ -d "$torch_prefix/../../include/gloo" ]; then rm -rf "$kit/usr/include/gloo"; fi

step "configure (log: configure.log)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEMIFLOW_WERROR=ON \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$kit/usr" -DHDF5_ROOT="$lib/hdf5/serial" \
  -DHDF5_C_COMPILER_EXECUTABLE=HDF5_C_COMPILER_EXECUTABLE-NOTFOUND \
  ${nccl_include:+"-DCMAKE_CXX_FLAGS=-isystem $nccl_include"} > "$out/configure.log" 2>&1 ||
  { tail -n 30 "$out/configure.log"; exit 1; }
step "build (log: build.log)"
if ! cmake --build "$build" -j "$(nproc)" > "$out/build.log" 2>&1; then
  grep -E "error|warning" "$out/build.log" | head -n 30
  exit 1
fi

step "unit tests of the models and nodes (log: ctest.log)"
(cd "$build" && ctest -R "^(models|nodes): " -j 8 --timeout 300 > "$out/ctest.log" 2>&1) || true
tail -n 3 "$out/ctest.log"

step "a generated 10-class set (1,024 train, 256 test images of 32x32)"
data=$build/gpu_data
python3 - "$data" <<'PY'
import os, random, sys
from PIL import Image
classes = [("clothes", "tops", "T-shirt/top"), ("clothes", "bottoms", "Trouser"), ("clothes", "tops", "Pullover"),
           ("clothes", "dresses", "Dress"), ("clothes", "outers", "Coat"), ("goods", "shoes", "Sandal"),
           ("clothes", "tops", "Shirt"), ("goods", "shoes", "Sneaker"), ("goods", "accessories", "Bag"),
           ("goods", "shoes", "Ankle boot")]
root = sys.argv[1]
os.makedirs(os.path.join(root, "images"), exist_ok=True)
random.seed(0)
for split, n in (("train", 1024), ("test", 256)):
    with open(os.path.join(root, f"{split}.csv"), "w") as manifest:
        manifest.write("path,category,group,item\n")
        for i in range(n):
            k = i % 10
            # The class sets the grey level and the stripe period: learnable, not trivial.
            image = Image.new("L", (32, 32))
            image.putdata([min(255, 25 * k + (40 if (x // (k + 2)) % 2 else 0) + random.randint(0, 30))
                           for y in range(32) for x in range(32)])
            path = f"images/{split}{i:05d}.jpg"
            image.save(os.path.join(root, path), quality=90)
            manifest.write(f"{path},{','.join(classes[k])}\n")
PY
cat > "$data/train.yaml" <<YAML
threads: {graph: 8, torch: 4}
nodes:
  - {name: labeled, type: source, manifest: train.csv, hierarchy: $root/configs/hierarchies/fashion_mnist.yaml, epochs: 3}
  - {name: decode, type: decode, input: labeled, channels: 1}
  - {name: augment, type: augment, input: decode, ops: [random_crop size=32 padding=4, hflip p=0.5]}
  - {name: batch, type: batch, input: augment, mean: [0.5], std: [0.25]}
  - {name: train, type: train, input: batch, hierarchy: $root/configs/hierarchies/fashion_mnist.yaml, arch: tiny,
     eval_manifest: test.csv, best_metric: airush_score, out_dir: run, device: ${DEVICE:-cuda}, lr: 0.1, resume: false}
YAML
for precision in fp32 bf16 fp16; do
  step "train on CUDA in $precision (3 epochs)"
  (cd "$data" && "$build/semiflow" run train.yaml --progress 0 --set train.precision=$precision > "$out/train_$precision.log" 2>&1) ||
    { tail -n 5 "$out/train_$precision.log"; continue; }
  cp "$data/run/metrics.jsonl" "$out/metrics_$precision.jsonl"
  grep -o '"epoch":[0-9]*\|"images_per_s":[0-9.]*\|"airush_score":[0-9.]*' "$data/run/metrics.jsonl" | paste -sd ' ' | cut -c1-300
done
step "end to end at 224: the student phase (input-wait share) and teacher inference over 58k images"
DEVICE=${DEVICE:-cuda} bash "$root/scripts/device/student_phase.sh" "$build/semiflow" "$kit/usr/share/datasets/fashion-mnist" "$out" ||
  echo "student_phase.sh failed: see $out/student_phase/*.log"
# EfficientNetV2-S at 224 against PyTorch eager in this machine's python3 (torchvision's builder
# with the same stage table), rounds interleaved, in fp32 and bf16 autocast.
if [ "${DEVICE:-cuda}" = cuda ]; then
  for precision in fp32 bf16; do
    step "EfficientNetV2-S 224x224 batch 128, $precision: semiflow vs PyTorch eager (model_speed_$precision.json)"
    "$build/semiflow_bench_model_speed" --arch s --classes 10 --image-size 224 --batch 128 --threads 8 --rounds 3 --steps 10 \
      --device cuda --precision "$precision" --python python3 --json > "$out/model_speed_$precision.json" 2> "$out/model_speed_$precision.log" ||
      { tail -n 5 "$out/model_speed_$precision.log"; continue; }
    cut -c1-600 "$out/model_speed_$precision.json"
  done
fi
step "done: figures in $out"
