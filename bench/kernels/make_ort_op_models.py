#!/usr/bin/python3
"""Writes one single-operator ONNX model per bench_kernels case (same shapes,
weights as initializers, the fused activation as a separate node that ONNX
Runtime fuses itself) so ort_ops.js can time ONNX Runtime on them.

  /usr/bin/python3 bench/kernels/make_ort_op_models.py /tmp/ort_op_models
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# name, C, HW, M, k, stride, pad, group, activation -- as kConvShapes in bench_kernels.cc
CONV = [
    ("resnet_conv1_7x7s2", 3, 224, 64, 7, 2, 3, 1, None),
    ("resnet_l1_3x3_64", 64, 56, 64, 3, 1, 1, 1, "Relu"),
    ("resnet_l2_3x3s2_128", 64, 56, 128, 3, 2, 1, 1, "Relu"),
    ("resnet_l2_down_1x1s2", 64, 56, 128, 1, 2, 0, 1, None),
    ("resnet_l2_3x3_128", 128, 28, 128, 3, 1, 1, 1, "Relu"),
    ("resnet_l3_3x3_256", 256, 14, 256, 3, 1, 1, 1, "Relu"),
    ("resnet_l4_3x3_512", 512, 7, 512, 3, 1, 1, 1, "Relu"),
    ("mnv2_conv1_3x3s2", 3, 224, 32, 3, 2, 1, 1, "Clip"),
    ("mnv2_dw_32_112", 32, 112, 32, 3, 1, 1, 32, "Clip"),
    ("mnv2_dw_96_112s2", 96, 112, 96, 3, 2, 1, 96, "Clip"),
    ("mnv2_dw_144_56", 144, 56, 144, 3, 1, 1, 144, "Clip"),
    ("mnv2_dw_384_14", 384, 14, 384, 3, 1, 1, 384, "Clip"),
    ("mnv2_dw_960_7", 960, 7, 960, 3, 1, 1, 960, "Clip"),
    ("mnv2_pw_24to144_56", 24, 56, 144, 1, 1, 0, 1, "Clip"),
    ("mnv2_pw_144to24_56", 144, 56, 24, 1, 1, 0, 1, None),
    ("mnv2_pw_384to64_14", 384, 14, 64, 1, 1, 0, 1, None),
    ("mnv2_pw_960to320_7", 960, 7, 320, 1, 1, 0, 1, None),
]

# name, A shape, B shape (-1 = batch), B constant, bias -- as kMatMulShapes
MATMUL = [
    ("bert_qkv_64x256x256", [-1, 64, 256], [256, 256], True, True),
    ("bert_ffn1_64x256x1024", [-1, 64, 256], [256, 1024], True, True),
    ("bert_ffn2_64x1024x256", [-1, 64, 1024], [1024, 256], True, True),
    ("bert_attn_scores_4x64x64x64", [-1, 4, 64, 64], [-1, 4, 64, 64], False, False),
    ("resnet_fc_512x1000", [-1, 512], [512, 1000], True, True),
]

rng = np.random.default_rng(0)


def rand(shape):
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def conv_model(spec, batch):
    name, c, hw, m, k, stride, pad, group, act = spec
    out_hw = (hw + 2 * pad - k) // stride + 1
    inits = [numpy_helper.from_array(rand([m, c // group, k, k]), "W"), numpy_helper.from_array(rand([m]), "B")]
    nodes = [helper.make_node("Conv", ["X", "W", "B"], ["C" if act else "Y"], strides=[stride, stride],
                              pads=[pad] * 4, group=group, kernel_shape=[k, k])]
    if act == "Relu":
        nodes.append(helper.make_node("Relu", ["C"], ["Y"]))
    elif act == "Clip":
        inits += [numpy_helper.from_array(np.array(0, np.float32), "lo"),
                  numpy_helper.from_array(np.array(6, np.float32), "hi")]
        nodes.append(helper.make_node("Clip", ["C", "lo", "hi"], ["Y"]))
    graph = helper.make_graph(nodes, name,
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, [batch, c, hw, hw])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [batch, m, out_hw, out_hw])],
                              inits)
    return graph


def matmul_model(spec, batch):
    name, a, b, b_const, bias = spec
    a = [batch if d == -1 else d for d in a]
    b = [batch if d == -1 else d for d in b]
    inputs = [helper.make_tensor_value_info("A", TensorProto.FLOAT, a)]
    inits = []
    if b_const:
        inits.append(numpy_helper.from_array(rand(b), "Bm"))
    else:
        inputs.append(helper.make_tensor_value_info("Bm", TensorProto.FLOAT, b))
    nodes = [helper.make_node("MatMul", ["A", "Bm"], ["P" if bias else "Y"])]
    if bias:
        inits.append(numpy_helper.from_array(rand([b[-1]]), "bias"))
        nodes.append(helper.make_node("Add", ["P", "bias"], ["Y"]))
    out = a[:-1] + [b[-1]]
    return helper.make_graph(nodes, name, inputs, [helper.make_tensor_value_info("Y", TensorProto.FLOAT, out)], inits)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ort_op_models"
    os.makedirs(out_dir, exist_ok=True)
    for batch in (1, 8):
        for spec in CONV:
            save(conv_model(spec, batch), os.path.join(out_dir, f"Conv__{spec[0]}__b{batch}.onnx"))
        for spec in MATMUL:
            save(matmul_model(spec, batch), os.path.join(out_dir, f"MatMul__{spec[0]}__b{batch}.onnx"))


if __name__ == "__main__":
    main()
