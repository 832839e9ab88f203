#!/usr/bin/python3
"""Writes the simulation models for cluster benchmarks: operators that sleep
instead of computing, so 8 workers on 2 cores behave like 8 hosts.

  sim_delay.onnx     input "x" float32 [N, F] -> ai.tessera.sim.Delay -> "y"
  sim_pipeline.onnx  "x" -> Delay -> Add(0) -> Delay -> Add(0) -> Delay -> Add(0) -> Delay -> "y"
                     (equal per-sample delays, so the planner cuts it into
                     --stages balanced stages, one Delay each for 4 stages;
                     adding 0 keeps y == x and costs microseconds)

Delay (opset 1 of the custom domain ai.tessera.sim; worker/engine/tessera_schemas.h)
returns its input unchanged after sleeping
microseconds_per_sample * N + microseconds.

Also writes a model repository next to them:
  OUT/repository/sim_delay/config.pbtxt      DATA parallel over the workers
  OUT/repository/sim_delay/1/model.onnx
  OUT/repository/sim_pipeline/config.pbtxt   PIPELINE with --stages stages
  OUT/repository/sim_pipeline/1/model.onnx

Usage:
  /usr/bin/python3 bench/models/make_sim_models.py --out DIR \\
      [--us-per-sample 1000] [--pipeline-us-per-sample US] [--features 16] \\
      [--max-batch-size 64] [--stages 4] [--micro-batch-size 0] [--replicas 0]
Serve with: build/bin/tessera up --model-repository DIR/repository --workers 8
Needs /usr/bin/python3 with the onnx package (numpy only through onnx).
"""
import argparse
import os
import sys

import onnx
from onnx import TensorProto, helper

SIM_DOMAIN = "ai.tessera.sim"
ONNX_OPSET = 13


def delay_node(inp, out, name, us_per_sample, us_fixed):
    return helper.make_node("Delay", [inp], [out], name=name, domain=SIM_DOMAIN,
                            microseconds_per_sample=us_per_sample, microseconds=us_fixed)


def make_model(name, nodes, features, initializers=()):
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", features])],
        initializer=list(initializers))
    model = helper.make_model(graph, producer_name="tessera-bench",
                              opset_imports=[helper.make_opsetid("", ONNX_OPSET),
                                             helper.make_opsetid(SIM_DOMAIN, 1)])
    model.ir_version = 7
    # Python's checker does not know Delay's schema (the engine registers it)
    # and skips custom-domain nodes; it still checks the graph structure.
    onnx.checker.check_model(model)
    return model


def sim_delay(features, us_per_sample, us_fixed):
    return make_model("sim_delay", [delay_node("x", "y", "delay", us_per_sample, us_fixed)], features)


def sim_pipeline(features, us_per_sample, us_fixed, delays):
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])
    nodes = []
    prev = "x"
    for i in range(delays):
        last = i == delays - 1
        out = "y" if last else f"delayed{i}"
        nodes.append(delay_node(prev, out, f"delay{i}", us_per_sample, us_fixed))
        prev = out
        if not last:
            nodes.append(helper.make_node("Add", [prev, "zero"], [f"added{i}"], name=f"add{i}"))
            prev = f"added{i}"
    return make_model("sim_pipeline", nodes, features, [zero])


def config_text(name, comment, max_batch_size, parallelism):
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [f'name: "{name}"', 'platform: "onnx"', f"max_batch_size: {max_batch_size}",
              f"parallelism {{ {parallelism} }}"]
    return "\n".join(lines) + "\n"


def write_model_dir(repo, name, model, config):
    version_dir = os.path.join(repo, name, "1")
    os.makedirs(version_dir, exist_ok=True)
    onnx.save(model, os.path.join(version_dir, "model.onnx"))
    with open(os.path.join(repo, name, "config.pbtxt"), "w") as f:
        f.write(config)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--us-per-sample", type=int, default=1000,
                   help="sim_delay: microseconds slept per sample (default 1000)")
    p.add_argument("--pipeline-us-per-sample", type=int, default=None,
                   help="sim_pipeline: microseconds per sample for EACH of its Delays "
                        "(default: --us-per-sample / --stages, so the whole chain costs the same as sim_delay)")
    p.add_argument("--us-fixed", type=int, default=0, help="microseconds slept per call on top (default 0)")
    p.add_argument("--features", type=int, default=16, help="F in x [N, F] (default 16)")
    p.add_argument("--max-batch-size", type=int, default=64)
    p.add_argument("--stages", type=int, default=4, help="Delays in sim_pipeline and its pipeline stages (default 4)")
    p.add_argument("--micro-batch-size", type=int, default=0,
                   help="sim_pipeline micro-batch size; 0 = whole batch per stage (default 0)")
    p.add_argument("--replicas", type=int, default=0, help="sim_delay DATA replicas; 0 = the planner chooses")
    args = p.parse_args(argv)
    for name in ("us_per_sample", "us_fixed", "micro_batch_size", "replicas"):
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be >= 0")
    if args.features < 1 or args.max_batch_size < 1 or args.stages < 1:
        p.error("--features, --max-batch-size and --stages must be >= 1")
    pipe_us = args.pipeline_us_per_sample
    if pipe_us is None:
        pipe_us = max(1, args.us_per_sample // args.stages) if args.us_per_sample else 0
    if pipe_us < 0:
        p.error("--pipeline-us-per-sample must be >= 0")

    os.makedirs(args.out, exist_ok=True)
    delay = sim_delay(args.features, args.us_per_sample, args.us_fixed)
    pipeline = sim_pipeline(args.features, pipe_us, args.us_fixed, args.stages)
    onnx.save(delay, os.path.join(args.out, "sim_delay.onnx"))
    onnx.save(pipeline, os.path.join(args.out, "sim_pipeline.onnx"))

    repo = os.path.join(args.out, "repository")
    replicas = f" replicas: {args.replicas}" if args.replicas else ""
    write_model_dir(repo, "sim_delay", delay, config_text(
        "sim_delay",
        f"Simulation: y = x after {args.us_per_sample} us per sample (+{args.us_fixed} us), DATA parallel.\n"
        "Generated by bench/models/make_sim_models.py.",
        args.max_batch_size, f"strategy: DATA{replicas}"))
    micro = f" micro_batch_size: {args.micro_batch_size}" if args.micro_batch_size else ""
    write_model_dir(repo, "sim_pipeline", pipeline, config_text(
        "sim_pipeline",
        f"Simulation: {args.stages} Delays of {pipe_us} us per sample (+{args.us_fixed} us) in a chain,\n"
        f"cut into {args.stages} balanced PIPELINE stages. Generated by bench/models/make_sim_models.py.",
        args.max_batch_size, f"strategy: PIPELINE stages: {args.stages}{micro}"))
    print(f"wrote {args.out}/sim_delay.onnx ({args.us_per_sample} us/sample), "
          f"{args.out}/sim_pipeline.onnx ({args.stages} x {pipe_us} us/sample), repository {repo}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
