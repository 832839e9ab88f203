#!/usr/bin/env bash
# DIRECT stage forwarding (worker to worker) against RELAY (through the
# coordinator) for pipelined models, on this machine.
#
#   bench/cluster/forwarding.sh [--workers 4] [--batch 4] [--duration 5] [--concurrency 1:8:x2]
#                               [--model bench/engine/models/resnet18.onnx] [--stages 2,4]
#                               [--micro-batch 0]
#
# Starts `tessera up` with N workers (one engine thread each) on a temporary
# repository holding the model once per stage count and forwarding mode
# (NAME_s<K>_relay, NAME_s<K>_direct: PIPELINE with K stages,
# parallelism.forwarding RELAY or DIRECT, the same partitions), then runs
# `tessera bench` (closed loop over the concurrency range, mutual TLS) on
# each and prints, per stage count and concurrency, throughput and p50
# latency of both modes and their ratio DIRECT / RELAY (throughput > 1 and
# p50 < 1 favour DIRECT), and the server's transfer time per request (the
# stages' round-trip shares beyond worker queue and compute, summed), which
# is what forwarding changes; throughput and latency also carry the compute
# of every stage, so on a loaded machine they are noisy. With --keep DIR the
# bench CSVs and the cluster's log are copied to DIR.
#
# The default model comes from bench/engine/run.sh (bench/engine/models/).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build_dir="${BUILD_DIR:-$repo/build}"
bin="$build_dir/bin"
workers=4 batch=4 duration=5 concurrency="1:8:x2" stages="2,4" micro=0 keep=""
model="$repo/bench/engine/models/resnet18.onnx"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workers) workers="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --stages) stages="$2"; shift 2 ;;
    --micro-batch) micro="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    *) echo "forwarding.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -f "$model" ]] || { echo "forwarding.sh: $model missing: run bench/engine/run.sh first" >&2; exit 1; }
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then ninja -C "$build_dir" tessera tessera-worker tessera-coordinator >&2; fi

work="$(mktemp -d)"
up_pid=""
cleanup() {
  if [[ -n "$up_pid" ]]; then kill -TERM "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
  if [[ -n "$keep" ]]; then mkdir -p "$keep" && cp "$work"/*.csv "$work"/up.err "$keep"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

base="$(basename "$model" .onnx)"
IFS=, read -r -a stage_list <<<"$stages"
for k in "${stage_list[@]}"; do
  (( k <= workers )) || { echo "forwarding.sh: $k stages need $k workers (--workers $workers)" >&2; exit 2; }
  for mode in relay direct; do
    dir="$work/models/${base}_s${k}_$mode"
    mkdir -p "$dir/1"
    ln -s "$model" "$dir/1/model.onnx"
    printf 'platform: "onnx"\nmax_batch_size: %d\nparallelism { strategy: PIPELINE stages: %d micro_batch_size: %d forwarding: %s }\n' \
      "$(( batch > 8 ? batch : 8 ))" "$k" "$micro" "${mode^^}" >"$dir/config.pbtxt"
  done
done

"$bin/tessera" certs --out "$work/certs" >/dev/null
"$bin/tessera" up --model-repository "$work/models" --workers "$workers" --threads 1 --certs "$work/certs" \
  --listen 127.0.0.1:0 >"$work/up.out" 2>"$work/up.err" &
up_pid=$!
address=""
for _ in $(seq 1 3000); do
  address="$(sed -n 's/^ready: //p' "$work/up.out" | head -n 1)"
  [[ -n "$address" ]] && break
  kill -0 "$up_pid" 2>/dev/null || { tail -n 20 "$work/up.err" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$address" ]] || { echo "forwarding.sh: cluster not ready" >&2; exit 1; }

# One bench per model; CSV columns found by name from the header.
run_bench() {  # model csv
  "$bin/tessera" bench --server "$address" --certs "$work/certs" --model "$1" --batch "$batch" \
    --concurrency-range "$concurrency" --duration "$duration" --csv "$2" >&2
}
# Prints "concurrency inferences/s p50_us errors transfer_us" per row of a
# bench CSV; transfer_us: the server's per-stage transfer times (round trip
# share minus worker queue and compute), summed over the stages.
columns() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) { col[$i] = i; if ($i ~ /^Stage [0-9]+ Transfer$/) tr[i] = 1 } next }
           { t = 0; for (i in tr) t += $i
             print $col["Concurrency"], $col["Inferences/Second"], $col["p50 latency"], $col["Errors"], t }' "$1"
}

echo "# $base, batch $batch, $workers workers x 1 engine thread, micro_batch_size $micro, ${duration}s per step"
echo "| stages | concurrency | RELAY infer/s | DIRECT infer/s | throughput DIRECT/RELAY | RELAY p50 ms | DIRECT p50 ms | p50 DIRECT/RELAY | transfer ms R/D | errors R/D |"
echo "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
for k in "${stage_list[@]}"; do
  for mode in relay direct; do run_bench "${base}_s${k}_$mode" "$work/s${k}_$mode.csv"; done
  join <(columns "$work/s${k}_relay.csv") <(columns "$work/s${k}_direct.csv") |
    awk -v k="$k" '{ printf "| %d | %d | %.1f | %.1f | %.3f | %.2f | %.2f | %.3f | %.2f/%.2f | %d/%d |\n",
                      k, $1, $2, $6, ($2 > 0 ? $6 / $2 : 0), $3 / 1000, $7 / 1000, ($3 > 0 ? $7 / $3 : 0),
                      $5 / 1000, $9 / 1000, $4, $8 }'
done
