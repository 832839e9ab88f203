#!/usr/bin/env bash
# Figures 1-3 of the performance issue, side by side in one run:
#
#   1. Overhead: p50 latency of one small request (FP32 [1,16]) through the
#      coordinator to one worker, against the same two hops made by the bare
#      echo chain (client -> tessera-echo relay -> tessera-echo server), with
#      the same mutual TLS and role policies. Target: ratio <= 1.3.
#   2. The same small requests at concurrency 64: cluster throughput over
#      echo-chain throughput. Target: >= 0.7.
#   3. Large tensors: FP32 [4,1048576] in and out (16 MiB each way) through
#      the cluster, as tensor bytes moved per second (input + output), with the
#      echo chain's figure beside it. Target: >= 500 MB/s. For reference,
#      the same without TLS (plaintext cluster and echo chain).
#
# The cluster's model multiplies by 1 (the worker's engine runs a real
# kernel); the echo server copies its input to its output.
#
# Usage: bench/cluster/overhead.sh [--duration S] [--warmup S]
# (run from the repository root after building; BIN=build/bin by default)
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

bench_init
BIG=1048576

# Two models: small (16 features) and big (1 Mi features), y = x * 1.
"$PYTHON" - "$BENCH_WORK/repo" "$BIG" <<'EOF'
import os, sys
import onnx
from onnx import helper, TensorProto
root, big = sys.argv[1], int(sys.argv[2])
for name, features, max_batch in (("scale_small", 16, 64), ("scale_big", big, 8)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", features])
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "one"], ["y"])], name, [x], [y], [one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    os.makedirs(os.path.join(root, name, "1"), exist_ok=True)
    onnx.save(model, os.path.join(root, name, "1", "model.onnx"))
    with open(os.path.join(root, name, "config.pbtxt"), "w") as f:
        f.write(f'name: "{name}"\nplatform: "onnx"\nmax_batch_size: {max_batch}\nparallelism {{ strategy: DATA }}\n')
EOF

bench_up cluster "$BENCH_WORK/repo" 1
CLUSTER=$UP_ADDR
bench_echo_chain echo_small 16
ECHO_SMALL=$ECHO_ADDR
bench_echo_chain echo_big "$BIG"
ECHO_BIG=$ECHO_ADDR

R=$BENCH_WORK/results
mkdir -p "$R"
common=(--duration "$DURATION" --warmup "$WARMUP")
echo "figure 1: one small request at a time" >&2
bench_run "$R/echo_c1.json" "$ECHO_SMALL" echo "${common[@]}" --batch 1
bench_run "$R/cluster_c1.json" "$CLUSTER" scale_small "${common[@]}" --batch 1
echo "figure 2: small requests at concurrency 64" >&2
bench_run "$R/echo_c64.json" "$ECHO_SMALL" echo "${common[@]}" --batch 1 --concurrency-range 64
bench_run "$R/cluster_c64.json" "$CLUSTER" scale_small "${common[@]}" --batch 1 --concurrency-range 64
echo "figure 3: 16 MiB in and out" >&2
bench_run "$R/echo_big.json" "$ECHO_BIG" echo "${common[@]}" --batch 4 --concurrency-range 1:2
bench_run "$R/cluster_big.json" "$CLUSTER" scale_big "${common[@]}" --batch 4 --concurrency-range 1:2
echo "reference: 16 MiB in and out without TLS" >&2
BENCH_SECURITY=insecure
bench_up cluster_plain "$BENCH_WORK/repo" 1
bench_echo_chain echo_big_plain "$BIG"
bench_run "$R/echo_big_plain.json" "$ECHO_ADDR" echo "${common[@]}" --batch 4
bench_run "$R/cluster_big_plain.json" "$UP_ADDR" scale_big "${common[@]}" --batch 4

"$PYTHON" - "$R" "$BIG" <<'EOF'
import json, sys
r, big = sys.argv[1], int(sys.argv[2])
def load(name):
    with open(f"{r}/{name}.json") as f:
        return json.load(f)["steps"]
def row(label, echo, cluster, ratio, target):
    print(f"{label:<44} {echo:>14} {cluster:>14} {ratio:>8} {target:>10}")
print(f"{'figure':<44} {'echo chain':>14} {'cluster':>14} {'ratio':>8} {'target':>10}")
e, c = load("echo_c1")[0], load("cluster_c1")[0]
row("1. small request, p50 latency (ms)", f"{e['latency_ms']['p50']:.3f}", f"{c['latency_ms']['p50']:.3f}",
    f"{c['latency_ms']['p50'] / e['latency_ms']['p50']:.2f}", "<= 1.3")
e, c = load("echo_c64")[0], load("cluster_c64")[0]
row("2. small requests at c64, throughput (req/s)", f"{e['requests_per_s']:.0f}", f"{c['requests_per_s']:.0f}",
    f"{c['requests_per_s'] / e['requests_per_s']:.2f}", ">= 0.7")
request_bytes = 4 * big * 4
for ei, ci in zip(load("echo_big"), load("cluster_big")):
    em = 2 * request_bytes * ei["requests_per_s"] / 1e6
    cm = 2 * request_bytes * ci["requests_per_s"] / 1e6
    row(f"3. 16 MiB in + out, c{ci['concurrency']}, MB/s (p50 {ci['latency_ms']['p50']:.0f} ms)",
        f"{em:.0f}", f"{cm:.0f}", f"{cm / em:.2f}", ">= 500")
ei, ci = load("echo_big_plain")[0], load("cluster_big_plain")[0]
em = 2 * request_bytes * ei["requests_per_s"] / 1e6
cm = 2 * request_bytes * ci["requests_per_s"] / 1e6
row(f"   reference without TLS, c1, MB/s (p50 {ci['latency_ms']['p50']:.0f} ms)", f"{em:.0f}", f"{cm:.0f}",
    f"{cm / em:.2f}", "")
errors = sum(s["errors"] for n in ("echo_c1", "cluster_c1", "echo_c64", "cluster_c64", "echo_big", "cluster_big", "echo_big_plain",
                       "cluster_big_plain")
             for s in load(n))
print(f"errors: {errors}")
c = load("cluster_c1")[0].get("server")
if c:
    print(f"cluster breakdown at c1 (us/request): server {c['request_us']:.0f}, decode {c['compute_input_us']:.0f}, "
          f"infer {c['compute_infer_us']:.0f}, encode {c['compute_output_us']:.0f}; per piece: " +
          ", ".join(f"queue {s['queue_us']:.0f} compute {s['compute_us']:.0f} transfer {s['transfer_us']:.0f}"
                    for s in c["stages"]))
EOF
