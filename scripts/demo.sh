#!/usr/bin/env bash
# The README's main command: runs the bundled demo CNN on the local Tessera
# engine with a random batch of 4 images and prints one JSON object (output
# shapes and latency over 20 timed runs after 1 warmup run).
#
# Installs missing Debian packages (scripts/install-deps.sh) and builds the
# `tessera` CLI (Release, Ninja, into $BUILD_DIR, default ./build; a no-op
# when up to date). Extra arguments are passed to `tessera run`,
# e.g.  scripts/demo.sh --threads 2 --output-dir /tmp/demo_out
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$repo/build}"
tessera="$build_dir/bin/tessera"

"$repo/scripts/install-deps.sh" >&2
if [[ ! -f "$build_dir/build.ninja" ]]; then
  cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
fi
ninja -C "$build_dir" tessera >&2

exec "$tessera" run \
  --model "$repo/examples/models/demo_cnn/1/model.onnx" \
  --random-input input=4x3x32x32 \
  --iterations 20 \
  --json \
  "$@"
