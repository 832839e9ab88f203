#!/usr/bin/env bash
# Engine benchmark: Tessera vs ONNX Runtime on ResNet-18, MobileNetV2 and a
# BERT-style encoder, batch 1 and 8, same inputs, 2 intra-op threads each.
# See README.md for what is measured and how to read the table.
#
#   bench/engine/run.sh [--ort-only] [--models resnet18,...] [--batches 1,8]
#                       [--rounds 5] [--iterations 10] [--warmup 2] [--threads 2]
#
# Steps (each skipped when already done):
#   1. npm install onnxruntime-node (exact version from package.json, --ignore-scripts:
#      the CPU binary ships inside the package) and check that it loads;
#   2. export the models and their random inputs with /usr/bin/python3 + torch
#      (export_models.py) into bench/engine/models/ (gitignored);
#   3. build the `tessera` CLI (Release) in $BUILD_DIR (default <repo>/build),
#      unless --ort-only or $TESSERA points at a binary;
#   4. run bench_driver.js, which alternates the two runners and prints the table.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build_dir="${BUILD_DIR:-$repo/build}"
python="${PYTHON:-/usr/bin/python3}"

ort_only=0
for arg in "$@"; do
  [[ "$arg" == "--ort-only" ]] && ort_only=1
done

for tool in node npm "$python"; do
  command -v "$tool" >/dev/null || { echo "run.sh: '$tool' is required" >&2; exit 1; }
done

# PyTorch, torchvision and onnx for the exports come from Debian's packages.
if ! "$python" -c "import torch, torchvision, onnx" 2>/dev/null; then
  echo "run.sh: installing python3-torch python3-torchvision python3-onnx ..." >&2
  sudo_cmd=""; [[ "$(id -u)" -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-torch python3-torchvision python3-onnx >&2
fi

cd "$here"
if ! node -e "require('onnxruntime-node')" 2>/dev/null; then
  echo "run.sh: installing onnxruntime-node ..." >&2
  npm install --ignore-scripts --no-audit --no-fund >&2
  node -e "require('onnxruntime-node')" || {
    echo "run.sh: onnxruntime-node does not load (see above)" >&2; exit 1; }
fi

"$python" "$here/export_models.py" --batches "$(
  # Pass the --batches value through so inputs exist for every batch asked for.
  b="1,8"; prev=""; for arg in "$@"; do
    [[ "$prev" == "--batches" ]] && b="$arg"; [[ "$arg" == --batches=* ]] && b="${arg#--batches=}"; prev="$arg"; done
  echo "$b")"

driver_args=()
if [[ $ort_only -eq 0 ]]; then
  tessera="${TESSERA:-$build_dir/bin/tessera}"
  if [[ -z "${TESSERA:-}" ]]; then
    if [[ ! -f "$build_dir/build.ninja" ]]; then
      cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
    fi
    ninja -C "$build_dir" tessera >&2
  fi
  driver_args+=(--tessera "$tessera")
fi

exec node "$here/bench_driver.js" "${driver_args[@]}" "$@"
