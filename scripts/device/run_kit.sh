#!/usr/bin/env bash
# There: the GPU machine, which has a CUDA torch in its python3 and no package access. Builds
# semiflow against that torch (libtorch 2.x) and the Debian libraries carried in device_kit/prefix
# (made here by scripts/device/fetch_kit.sh), then, most telling first, while time is left:
#   1. the CUDA tests (tests_nodes "[cuda]": DeviceFeed's overlapped copies, train in fp32, bf16
#      and fp16, teacher inference against the CPU's);
#   2. EfficientNetV2-S at 224, batch 128, training and inference in bf16 against PyTorch eager,
#      with a step's forward, backward and optimizer timed apart on both sides;
#   3. the student phase end to end on Fashion-MNIST at 224 (images/s, the train node's input-wait
#      share) and teacher inference over the 58k unlabeled images (scripts/device/student_phase.sh);
#   4. the same benchmark in fp32.
# Each step is printed as it starts and skipped when fewer seconds are left than it needs
# (KIT_BUDGET_S, counted from the start). The machine returns at most 8 files from $OUT: kit.log
# (everything printed), build_warnings.txt, cuda_tests.txt, model_speed_{bf16,fp32}.json,
# student_phase.json and logs.tar.gz (configure, build, runs, per-node statistics).
#
# Device call: run(command: "bash scripts/device/run_kit.sh", carry: ["device_kit/prefix"], timeout_s: 590)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
kit=$root/device_kit/prefix
out=${OUT:-$root/device_out}
build=$root/build-gpu
logs=$build/kit_logs
budget=${KIT_BUDGET_S:-560}
mkdir -p "$out" "$logs"
exec > >(tee "$out/kit.log") 2>&1
step() { echo "== $(date +%T) [${SECONDS}s] $*"; }
# Whether `seconds` more fit in the budget; says so when they do not.
fits() {
  if ((SECONDS + $1 <= budget)); then return 0; fi
  echo "-- skipped: $2 needs about $1 s, $((budget - SECONDS)) s left"
  return 1
}
pack_logs() { tar -czf "$out/logs.tar.gz" -C "$build" kit_logs 2> /dev/null || true; }
trap pack_logs EXIT
[ -d "$kit/usr/include" ] || { echo "error: $kit is missing: run scripts/device/fetch_kit.sh here and carry device_kit/prefix" >&2; exit 1; }

command -v nvcc > /dev/null || export PATH=/usr/local/cuda/bin:$PATH
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}  # Hopper; skips torch's architecture probe
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,utilization.gpu,clocks.sm --format=csv 2> /dev/null
step "torch $(python3 -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name(0))');" \
  "$(nproc) cores; $(g++ --version | head -n 1); nvcc $(nvcc --version | grep -o 'release [0-9.]*')"
# nccl.h comes with the wheel's nvidia-nccl package, not with torch's headers.
nccl_include=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "include"))' 2> /dev/null || true)
lib=$kit/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$lib:$lib/hdf5/serial/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# The kit's .pc files say prefix=/usr: the sysroot puts their paths inside the kit.
export PKG_CONFIG_PATH=$lib/pkgconfig:$kit/usr/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$kit
# The wheel's own gloo headers (if it has them) match its ProcessGroupGloo; Debian's are a fallback.
if [ -d "$torch_prefix/../../include/gloo" ]; then
  rm -rf "$kit/usr/include/gloo"
  echo "gloo headers: the wheel's"
else
  echo "gloo headers: Debian's (the wheel has none)"
fi

# Warnings do not stop the kit (its figures matter more than one compiler's new warning); they
# are counted and listed in build_warnings.txt.
step "configure (kit_logs/configure.log)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEMIFLOW_WERROR=OFF \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$kit/usr" -DHDF5_ROOT="$lib/hdf5/serial" \
  -DHDF5_C_COMPILER_EXECUTABLE=HDF5_C_COMPILER_EXECUTABLE-NOTFOUND \
  ${nccl_include:+"-DCMAKE_CXX_FLAGS=-isystem $nccl_include"} > "$logs/configure.log" 2>&1 ||
  { tail -n 40 "$logs/configure.log"; exit 1; }
if grep -q "^C10_CUDA_LIBRARY:FILEPATH=.*c10_cuda" "$build/CMakeCache.txt"; then echo "c10_cuda found: CUDA streams and events compiled in"
else echo "warning: no c10_cuda in this torch: DeviceFeed copies without a side stream"; fi

step "build semiflow, its model benchmark and the node tests (kit_logs/build.log)"
targets=(semiflow semiflow_bench_model_speed tests_nodes)
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" -- -k 0 > "$logs/build.log" 2>&1
built=$?
grep -E "warning:" "$logs/build.log" | sort | uniq -c | sort -rn > "$out/build_warnings.txt"
echo "build rc $built, $(grep -c "warning:" "$logs/build.log") warning lines ($(wc -l < "$out/build_warnings.txt") distinct)"
head -n 5 "$out/build_warnings.txt" | cut -c1-300
if ((built != 0)); then grep -E "error" "$logs/build.log" | head -n 30; fi
[ -x "$build/semiflow" ] || { echo "error: semiflow did not build"; exit 1; }

if [ -x "$build/tests_nodes" ] && fits 60 "the CUDA tests"; then
  step "CUDA tests: tests_nodes \"[cuda]\" (cuda_tests.txt)"
  (cd "$build" && timeout 120 ./tests_nodes "[cuda]" --durations yes > "$out/cuda_tests.txt" 2>&1)
  echo "rc $?"; tail -n 4 "$out/cuda_tests.txt"
fi

bench() {  # precision
  step "EfficientNetV2-S 224x224 batch 128, $1: semiflow vs PyTorch eager (model_speed_$1.json)"
  timeout 150 "$build/semiflow_bench_model_speed" --arch s --classes 10 --image-size 224 --batch 128 --threads 8 --rounds 3 \
    --steps 10 --device cuda --precision "$1" --python python3 --json > "$out/model_speed_$1.json" 2> "$logs/model_speed_$1.log" ||
    { tail -n 5 "$logs/model_speed_$1.log"; return; }
  cat "$out/model_speed_$1.json"
}
[ -x "$build/semiflow_bench_model_speed" ] && fits 90 "the bf16 benchmark" && bench bf16

if fits 150 "the student phase and teacher inference"; then
  step "end to end at 224: the student phase (input-wait share) and teacher inference over 58k images"
  WORK=$build/student_phase timeout 240 bash "$root/scripts/device/student_phase.sh" "$build/semiflow" \
    "$kit/usr/share/datasets/fashion-mnist" "$out" || echo "student_phase.sh failed (rc $?)"
  cp "$build"/student_phase/*.log "$build"/student_phase/*_stats.json "$logs"/ 2> /dev/null
fi

[ -x "$build/semiflow_bench_model_speed" ] && fits 90 "the fp32 benchmark" && bench fp32
step "done: figures in $out"
