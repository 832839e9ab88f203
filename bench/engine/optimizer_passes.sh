#!/usr/bin/env bash
# What the engine's graph passes (constant folding, fusions, layout) buy:
# runs `tessera run` with and without --no-optimize on the exported models,
# alternating the two, and prints the median p50 of each and their ratio.
# Needs the models from bench/engine/run.sh (bench/engine/models/).
#
#   bench/engine/optimizer_passes.sh [ROUNDS] [ITERATIONS]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tessera="${TESSERA:-$repo/build/bin/tessera}"
rounds="${1:-5}"
iterations="${2:-10}"
models="$here/models"
[[ -x "$tessera" ]] || { echo "optimizer_passes.sh: build tessera first ($tessera)" >&2; exit 1; }
[[ -d "$models/inputs" ]] || { echo "optimizer_passes.sh: run bench/engine/run.sh once to export the models" >&2; exit 1; }

p50() {  # model batch [extra flags]
  "$tessera" run --model "$models/$1.onnx" --input "input=$models/inputs/$1_b$2.npy" --threads 2 \
    --iterations "$iterations" --warmup 2 --json "${@:3}" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_ms"]["p50"])'
}

printf '| model | batch | optimized p50 ms | unoptimized p50 ms | unoptimized / optimized |\n'
printf '|---|---:|---:|---:|---:|\n'
for model in resnet18 mobilenet_v2 bert_encoder; do
  for batch in 1 8; do
    opt=(); plain=()
    for ((r = 0; r < rounds; r++)); do
      if ((r % 2 == 0)); then
        opt+=("$(p50 "$model" "$batch")"); plain+=("$(p50 "$model" "$batch" --no-optimize)")
      else
        plain+=("$(p50 "$model" "$batch" --no-optimize)"); opt+=("$(p50 "$model" "$batch")")
      fi
    done
    /usr/bin/python3 - "$model" "$batch" "${opt[*]}" "${plain[*]}" <<'PY'
import statistics, sys
model, batch, opt, plain = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
o = statistics.median(map(float, opt)); p = statistics.median(map(float, plain))
print(f"| {model} | {batch} | {o:.2f} | {p:.2f} | {p / o:.2f} |")
PY
  done
done
echo "medians over $rounds alternating rounds of $iterations timed runs, 2 threads"
