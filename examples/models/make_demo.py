#!/usr/bin/python3
"""Generates examples/models/demo_cnn/1/model.onnx, the bundled demo model.

A small CNN classifier over 32x32 RGB images with random (fixed-seed) weights:
  Conv(3->16, 3x3) Relu MaxPool(2) Conv(16->32, 3x3) Relu GlobalAveragePool
  Flatten Gemm(32->10) Softmax
input "input" float32 [N,3,32,32] (N dynamic), output "probabilities" [N,10].

The generated file is checked in, so running the demo needs no Python; rerun
this (with /usr/bin/python3 and the onnx package) only to change the model.
Output is deterministic for a given onnx/numpy version.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def main():
    rng = np.random.default_rng(20240611)

    def weight(name, shape, fan_in):
        values = rng.standard_normal(shape).astype(np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        return numpy_helper.from_array(values, name)

    def bias(name, size):
        return numpy_helper.from_array((rng.standard_normal(size) * 0.05).astype(np.float32), name)

    initializers = [
        weight("conv1.weight", (16, 3, 3, 3), 3 * 9), bias("conv1.bias", 16),
        weight("conv2.weight", (32, 16, 3, 3), 16 * 9), bias("conv2.bias", 32),
        weight("fc.weight", (10, 32), 32), bias("fc.bias", 10),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["conv1"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("MaxPool", ["relu1"], ["pool1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool1", "conv2.weight", "conv2.bias"], ["conv2"], name="conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["relu2"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "demo_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        initializer=initializers)
    model = helper.make_model(graph, producer_name="tessera-examples",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_cnn", "1", "model.onnx")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    onnx.save(model, out)
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
