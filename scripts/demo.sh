#!/usr/bin/env bash
# The README's main command: a local Tessera cluster on the bundled model
# repository (examples/models), answering real requests.
#
#  1. installs missing Debian packages (scripts/install-deps.sh) and builds
#     the tessera, tessera-worker and tessera-coordinator binaries (Release,
#     Ninja, into $BUILD_DIR, default ./build; a no-op when up to date);
#  2. makes certificates (`tessera certs`) and starts `tessera up`: four
#     workers and a coordinator on loopback, mutual TLS on every link;
#  3. sends the same batch of 8 images (examples/inputs/demo_input.npy) to the
#     demo CNN served three ways -- DATA (shards over the workers), PIPELINE
#     (2 stages) and HYBRID (2 stages x 2 replicas, micro-batches of 2) --
#     with `tessera infer`, and checks each answer against the local engine
#     (`tessera run` of the whole model) with `tessera compare`: the pipeline
#     answer is bit-identical, the others agree to 1e-5;
#  4. stops the cluster (SIGTERM to `tessera up`).
# Exits non-zero if any answer differs.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$repo/build}"
bin="$build_dir/bin"

"$repo/scripts/install-deps.sh" >&2
if [[ ! -f "$build_dir/build.ninja" ]]; then
  cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
fi
ninja -C "$build_dir" tessera tessera-worker tessera-coordinator >&2

work="$(mktemp -d)"
up_pid=""
cleanup() {
  if [[ -n "$up_pid" ]] && kill -0 "$up_pid" 2>/dev/null; then
    kill -TERM "$up_pid" 2>/dev/null || true
    wait "$up_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/tessera" certs --out "$work/certs" >/dev/null
echo "== starting a local cluster: 4 workers and a coordinator (mutual TLS)"
"$bin/tessera" up --model-repository "$repo/examples/models" --workers 4 --certs "$work/certs" \
  --listen 127.0.0.1:0 >"$work/up.out" 2>"$work/up.err" &
up_pid=$!
address=""
for _ in $(seq 1 1200); do
  address="$(sed -n 's/^ready: //p' "$work/up.out" | head -n 1)"
  [[ -n "$address" ]] && break
  if ! kill -0 "$up_pid" 2>/dev/null; then
    echo "tessera up exited before the cluster was ready:" >&2
    tail -n 30 "$work/up.err" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z "$address" ]]; then
  echo "the cluster did not become ready within 120 s:" >&2
  tail -n 30 "$work/up.err" >&2
  exit 1
fi
echo "   ready: $address"

input="$repo/examples/inputs/demo_input.npy"
echo "== the whole model on the local engine (tessera run)"
"$bin/tessera" run --model "$repo/examples/models/demo_cnn/1/model.onnx" --input "input=$input" \
  --output-dir "$work/local" >/dev/null

status=0
for model in demo_cnn demo_cnn_pipeline demo_cnn_hybrid; do
  echo "== $model"
  sed -n 's/^parallelism/   parallelism/p' "$repo/examples/models/$model/config.pbtxt"
  "$bin/tessera" infer --server "$address" --certs "$work/certs" --model "$model" \
    --input "input=$input" --output-dir "$work/$model"
  for file in "$work/local"/*.npy; do
    printf '   %s against the local engine: ' "$(basename "$file")"
    "$bin/tessera" compare "$work/$model/$(basename "$file")" "$file" || status=1
  done
done
exit "$status"
