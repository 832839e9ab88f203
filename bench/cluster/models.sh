#!/usr/bin/env bash
# Figures 6 and 7 of the performance issue, on real models:
#
#   6. Dynamic batching: the demo CNN (examples/models/demo_cnn) on 2 workers
#      at concurrency 32, batch 1 per request, served without and with
#      `dynamic_batching { max_queue_delay_microseconds: 500
#      preferred_batch_size: [8, 16] }` (max_batch_size 16): throughput and
#      latency side by side.
#   7. ResNet-18 (bench/engine/models/resnet18.onnx) as a 2-stage PIPELINE
#      on 2 workers (one engine thread each) on this one 2-core machine,
#      against `tessera run` of the whole model with 2 threads: latency of
#      one request (batch 1), and throughput at batch 8 (micro-batches of 2,
#      2 requests in flight), i.e. what splitting costs when no extra hardware
#      is gained.
#
# Usage: bench/cluster/models.sh [--duration S] [--warmup S]
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/cluster/bench_lib.sh

DURATION=5
WARMUP=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--warmup S]" >&2; exit 2 ;;
  esac
done
RESNET=bench/engine/models/resnet18.onnx
[[ -f $RESNET ]] || { echo "$RESNET missing" >&2; exit 1; }

bench_init
R=$BENCH_WORK/results
mkdir -p "$R"
repo=$BENCH_WORK/repo
for name in cnn cnn_batched; do
  mkdir -p "$repo/$name/1"
  cp examples/models/demo_cnn/1/model.onnx "$repo/$name/1/model.onnx"
  printf 'platform: "onnx"\nmax_batch_size: 16\nparallelism { strategy: DATA }\n' >"$repo/$name/config.pbtxt"
done
echo 'dynamic_batching { max_queue_delay_microseconds: 500 preferred_batch_size: [8, 16] }' \
  >>"$repo/cnn_batched/config.pbtxt"
mkdir -p "$repo/resnet18_pipeline/1"
cp "$RESNET" "$repo/resnet18_pipeline/1/model.onnx"
printf 'platform: "onnx"\nmax_batch_size: 8\nparallelism { strategy: PIPELINE stages: 2 micro_batch_size: 2 }\n' \
  >"$repo/resnet18_pipeline/config.pbtxt"

bench_up cluster "$repo" 2 --threads 1
common=(--duration "$DURATION" --warmup "$WARMUP")
echo "figure 6: dynamic batching at concurrency 32" >&2
bench_run "$R/cnn.json" "$UP_ADDR" cnn "${common[@]}" --batch 1 --concurrency-range 32
bench_run "$R/cnn_batched.json" "$UP_ADDR" cnn_batched "${common[@]}" --batch 1 --concurrency-range 32
echo "figure 7: ResNet-18, 2-stage PIPELINE against tessera run" >&2
bench_run "$R/resnet_b1.json" "$UP_ADDR" resnet18_pipeline "${common[@]}" --batch 1
bench_run "$R/resnet_b8.json" "$UP_ADDR" resnet18_pipeline "${common[@]}" --batch 8 --concurrency-range 2
for b in 1 8; do
  "$BIN/tessera" run --model "$RESNET" --random-input "input=${b}x3x224x224" --threads 2 --iterations 20 \
    --warmup 3 --json >"$R/run_b$b.json"
done

"$PYTHON" - "$R" <<'EOF'
import json, sys
r = sys.argv[1]
def load(name):
    with open(f"{r}/{name}.json") as f:
        return json.load(f)
def step(name):
    return load(name)["steps"][0]
errors = 0
off, on = step("cnn"), step("cnn_batched")
errors += off["errors"] + on["errors"]
print("6. dynamic batching, demo CNN, 2 workers, concurrency 32, batch 1")
print(f"{'':<22} {'infer/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
for label, s in (("without", off), ("with", on)):
    print(f"{label:<22} {s['inferences_per_s']:>9.1f} {s['latency_ms']['p50']:>8.2f} {s['latency_ms']['p99']:>8.2f}")
print(f"{'with / without':<22} {on['inferences_per_s'] / off['inferences_per_s']:>9.2f} "
      f"{on['latency_ms']['p50'] / off['latency_ms']['p50']:>8.2f} {on['latency_ms']['p99'] / off['latency_ms']['p99']:>8.2f}")
print()
b1, b8 = step("resnet_b1"), step("resnet_b8")
errors += b1["errors"] + b8["errors"]
run1, run8 = load("run_b1")["latency_ms"]["p50"], load("run_b8")["latency_ms"]["p50"]
print("7. ResNet-18: 2-stage PIPELINE on 2 workers (1 thread each) against `tessera run --threads 2`")
print(f"{'':<34} {'run':>9} {'pipeline':>9} {'pipeline/run':>13}")
print(f"{'batch 1, one request: p50 ms':<34} {run1:>9.2f} {b1['latency_ms']['p50']:>9.2f} "
      f"{b1['latency_ms']['p50'] / run1:>13.2f}")
print(f"{'batch 8, 2 in flight: samples/s':<34} {8e3 / run8:>9.1f} {b8['inferences_per_s']:>9.1f} "
      f"{b8['inferences_per_s'] / (8e3 / run8):>13.2f}")
print(f"errors: {errors}")
EOF
