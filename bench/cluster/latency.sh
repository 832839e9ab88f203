#!/usr/bin/env bash
# Latency of one request through the cluster (DATA and PIPELINE) against the
# whole model on the local engine (`tessera run`), on this machine.
#
#   bench/cluster/latency.sh [--workers 2] [--iterations 20] [--warmup 3] [--models resnet18,bert_encoder]
#
# Uses the models bench/engine/run.sh exports (bench/engine/models/; run that
# first). Starts `tessera up` with N workers (one engine thread each, so the
# workers share the cores the way separate hosts would not) on a temporary
# repository serving each model as DATA (batch split over the workers) and
# as a 2-stage PIPELINE (no micro-batching), then times `tessera infer
# --iterations` (one connection, mutual TLS) at batch 1 and 8, and `tessera
# run` with 1 and 2 threads on the same inputs. Prints one table of medians.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build_dir="${BUILD_DIR:-$repo/build}"
bin="$build_dir/bin"
workers=2 iterations=20 warmup=3 models="resnet18,bert_encoder"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workers) workers="$2"; shift 2 ;;
    --iterations) iterations="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    *) echo "latency.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
ninja -C "$build_dir" tessera tessera-worker tessera-coordinator >&2

work="$(mktemp -d)"
up_pid=""
cleanup() {
  [[ -n "$up_pid" ]] && kill -TERM "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

declare -A input_name=([resnet18]=input [bert_encoder]=input)
IFS=, read -r -a model_list <<<"$models"
for m in "${model_list[@]}"; do
  src="$repo/bench/engine/models/$m.onnx"
  [[ -f "$src" ]] || { echo "latency.sh: $src missing: run bench/engine/run.sh first" >&2; exit 1; }
  for mode in data pipeline; do
    dir="$work/models/${m}_$mode"
    mkdir -p "$dir/1"
    ln -s "$src" "$dir/1/model.onnx"
    if [[ $mode == data ]]; then p="strategy: DATA"; else p="strategy: PIPELINE stages: 2"; fi
    printf 'platform: "onnx"\nmax_batch_size: 8\nparallelism { %s }\n' "$p" >"$dir/config.pbtxt"
  done
done

"$bin/tessera" certs --out "$work/certs" >/dev/null
"$bin/tessera" up --model-repository "$work/models" --workers "$workers" --threads 1 --certs "$work/certs" \
  --listen 127.0.0.1:0 >"$work/up.out" 2>"$work/up.err" &
up_pid=$!
address=""
for _ in $(seq 1 1200); do
  address="$(sed -n 's/^ready: //p' "$work/up.out" | head -n 1)"
  [[ -n "$address" ]] && break
  kill -0 "$up_pid" 2>/dev/null || { tail -n 20 "$work/up.err" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$address" ]] || { echo "cluster not ready" >&2; exit 1; }

p50_of_infer() { sed -n 's/.*p50 \([0-9.]*\) ms.*/\1/p' | head -n 1; }
echo "| model | batch | tessera run 1 thread | tessera run 2 threads | DATA ($workers workers) | PIPELINE (2 stages) | DATA / run(2t) | PIPELINE / run(2t) |"
echo "|---|--:|--:|--:|--:|--:|--:|--:|"
for m in "${model_list[@]}"; do
  for batch in 1 8; do
    shape="${batch}x3x224x224"
    [[ $m == bert_encoder ]] && shape="${batch}x64x256"
    r1="$("$bin/tessera" run --model "$repo/bench/engine/models/$m.onnx" --random-input "${input_name[$m]}=$shape" \
      --threads 1 --iterations "$iterations" --warmup "$warmup" --json | sed -n 's/.*"p50": \([0-9.]*\).*/\1/p')"
    r2="$("$bin/tessera" run --model "$repo/bench/engine/models/$m.onnx" --random-input "${input_name[$m]}=$shape" \
      --threads 2 --iterations "$iterations" --warmup "$warmup" --json | sed -n 's/.*"p50": \([0-9.]*\).*/\1/p')"
    d="$("$bin/tessera" infer --server "$address" --certs "$work/certs" --model "${m}_data" \
      --random-input "${input_name[$m]}=$shape" --iterations "$iterations" --warmup "$warmup" | p50_of_infer)"
    p="$("$bin/tessera" infer --server "$address" --certs "$work/certs" --model "${m}_pipeline" \
      --random-input "${input_name[$m]}=$shape" --iterations "$iterations" --warmup "$warmup" | p50_of_infer)"
    awk -v m="$m" -v b="$batch" -v r1="$r1" -v r2="$r2" -v d="$d" -v p="$p" 'BEGIN {
      printf "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", m, b, r1, r2, d, p, d / r2, p / r2 }'
  done
done
echo "medians of $iterations calls after $warmup warm-up calls; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
