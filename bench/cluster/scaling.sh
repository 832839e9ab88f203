#!/usr/bin/env bash
# Figures 4 and 5 of the performance issue, with the simulation model
# (ai.tessera.sim Delay: each worker sleeps per sample and runs one Execute
# at a time, so workers on 2 cores behave like separate hosts):
#
#   4. DATA scaling: throughput of sim_delay (US microseconds per sample)
#      with 1, 2, 4 and 8 workers, against linear scaling of the 1-worker
#      figure (and against the ideal N * 1e6 / US samples/s).
#      Target: >= 90% of linear at 8.
#   5. PIPELINE scaling: sim_pipeline, 4 stages (4 Delays of --stage-us
#      microseconds per sample each), batches of 8 cut into 8 micro-batches,
#      on 4 workers,
#      against the bound set by the slowest stage (1e6 / stage-us samples/s),
#      at several concurrencies. Target: >= 85%.
#
# Usage: bench/cluster/scaling.sh [--us US] [--stage-us US] [--duration S]
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/cluster/bench_lib.sh

US=20000        # sim_delay: per sample
STAGE_US=10000  # sim_pipeline: per sample and stage
DURATION=5
WARMUP=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --us) US=$2; shift 2 ;;
    --stage-us) STAGE_US=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    *) echo "usage: $0 [--us US] [--stage-us US] [--duration S] [--warmup S]" >&2; exit 2 ;;
  esac
done

bench_init
R=$BENCH_WORK/results
mkdir -p "$R"
"$PYTHON" bench/models/make_sim_models.py --out "$BENCH_WORK/sim" --us-per-sample "$US" \
  --pipeline-us-per-sample "$STAGE_US" --stages 4 --micro-batch-size 1 --max-batch-size 8 >/dev/null
common=(--duration "$DURATION" --warmup "$WARMUP" --batch 8)

for n in 1 2 4 8; do
  echo "figure 4: DATA on $n workers" >&2
  bench_up "data$n" "$BENCH_WORK/sim/repository" "$n" --threads 1
  # 2 requests of 8 samples per worker in flight: every worker always has
  # a piece queued behind the one it runs.
  bench_run "$R/data$n.json" "$UP_ADDR" sim_delay "${common[@]}" --concurrency-range $((2 * n))
  kill -TERM "${BENCH_PIDS[-1]}"
  wait "${BENCH_PIDS[-1]}" 2>/dev/null || true
done

echo "figure 5: PIPELINE, 4 stages on 4 workers" >&2
bench_up pipeline "$BENCH_WORK/sim/repository" 4 --threads 1
bench_run "$R/pipeline.json" "$UP_ADDR" sim_pipeline "${common[@]}" --concurrency-range 1:4:x2

"$PYTHON" - "$R" "$US" "$STAGE_US" <<'EOF'
import json, sys
r, us, stage_us = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
def step(name, i=0):
    with open(f"{r}/{name}.json") as f:
        return json.load(f)["steps"][i]
errors = 0
print(f"4. DATA scaling, sim_delay at {us:.0f} us/sample, batch 8, concurrency 2 per worker")
print(f"{'workers':>8} {'samples/s':>10} {'of linear':>10} {'of ideal':>9} {'p50 ms':>8}")
one = step("data1")["inferences_per_s"]
for n in (1, 2, 4, 8):
    s = step(f"data{n}")
    errors += s["errors"]
    t = s["inferences_per_s"]
    print(f"{n:>8} {t:>10.1f} {t / (n * one):>10.1%} {t / (n * 1e6 / us):>9.1%} {s['latency_ms']['p50']:>8.1f}")
print()
print(f"5. PIPELINE, 4 stages x {stage_us:.0f} us/sample, batch 8 in 8 micro-batches; bound {1e6 / stage_us:.1f} samples/s")
print(f"{'concurrency':>11} {'samples/s':>10} {'of bound':>9} {'p50 ms':>8}")
with open(f"{r}/pipeline.json") as f:
    for s in json.load(f)["steps"]:
        errors += s["errors"]
        t = s["inferences_per_s"]
        print(f"{s['concurrency']:>11} {t:>10.1f} {t / (1e6 / stage_us):>9.1%} {s['latency_ms']['p50']:>8.1f}")
        server = s.get("server") or {}
        for st in server.get("stages", []):
            print(f"{'':>11}   stage {st['stage']}: queue {st['queue_us'] / 1e3:.1f} ms, compute "
                  f"{st['compute_us'] / 1e3:.1f} ms, transfer {st['transfer_us'] / 1e3:.2f} ms per piece")
print(f"errors: {errors}")
EOF
