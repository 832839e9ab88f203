#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz/corpus/<fuzzer>/ (a few valid and
near-valid inputs each). Needs Debian's python3 with numpy and onnx, and
protoc (the KServe requests are protobuf text encoded by protoc).

  /usr/bin/python3 tests/fuzz/make_corpus.py   # from the repository root

Deterministic: running it again rewrites the same files.
"""
import hashlib
import io
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def reset(name):
    d = os.path.join(CORPUS, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- npy_fuzzer: .npy files.
def npy_bytes(array, version=None):
    buf = io.BytesIO()
    if version is None:
        np.save(buf, array)
    else:
        np.lib.format.write_array(buf, array, version=version)
    return buf.getvalue()


def npy_corpus():
    d = reset("npy_fuzzer")
    write(d, "f4_2x3", npy_bytes(np.arange(6, dtype="<f4").reshape(2, 3)))
    write(d, "f8_scalar", npy_bytes(np.array(2.5, dtype="<f8")))
    write(d, "i8_v2", npy_bytes(np.arange(4, dtype="<i8"), version=(2, 0)))
    write(d, "i4_v3", npy_bytes(np.arange(3, dtype="<i4"), version=(3, 0)))
    write(d, "b1", npy_bytes(np.array([True, False, True])))
    write(d, "u1_empty", npy_bytes(np.zeros((0, 5), dtype="u1")))
    write(d, "i1", npy_bytes(np.array([-1, 2, -3], dtype="i1")))
    # Near-valid: refused or truncated.
    write(d, "big_endian", npy_bytes(np.arange(3, dtype=">f4")))
    write(d, "fortran", npy_bytes(np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3))))
    write(d, "truncated", npy_bytes(np.arange(16, dtype="<f4"))[:-7])
    write(d, "huge_shape", npy_bytes(np.arange(2, dtype="<f4")).replace(b"(2,)", b"(9999999999999,)"))


# ---- model_loader_fuzzer: ONNX models.
def model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "fuzz", inputs, outputs, initializer=list(initializers))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="tessera-fuzz")
    m.ir_version = 8
    return m.SerializeToString()


def onnx_models():
    f = TensorProto.FLOAT
    rng = np.random.default_rng(6)
    out = {}
    out["relu"] = model([helper.make_node("Relu", ["x"], ["y"])],
                        [helper.make_tensor_value_info("x", f, ["n", 4])],
                        [helper.make_tensor_value_info("y", f, ["n", 4])])
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.ones(3, dtype=np.float32), "b")
    out["gemm_relu"] = model([helper.make_node("Gemm", ["x", "w", "b"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
                             [helper.make_tensor_value_info("x", f, [2, 4])],
                             [helper.make_tensor_value_info("y", f, [2, 3])], [w, b])
    k = numpy_helper.from_array(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), "k")
    out["conv_pool"] = model([helper.make_node("Conv", ["x", "k"], ["c"], pads=[1, 1, 1, 1]),
                              helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
                              helper.make_node("Flatten", ["p"], ["y"])],
                             [helper.make_tensor_value_info("x", f, [1, 1, 4, 4])],
                             [helper.make_tensor_value_info("y", f, [1, 8])], [k])
    shape = numpy_helper.from_array(np.array([2, -1], dtype=np.int64), "shape")
    out["reshape_add"] = model([helper.make_node("Reshape", ["x", "shape"], ["r"]),
                                helper.make_node("Add", ["r", "r"], ["y"])],
                               [helper.make_tensor_value_info("x", f, [4, 2])],
                               [helper.make_tensor_value_info("y", f, [2, 4])], [shape])
    # Near-valid: unknown operator, dangling input, old opset.
    out["unknown_op"] = model([helper.make_node("NoSuchOp", ["x"], ["y"])],
                              [helper.make_tensor_value_info("x", f, [2])],
                              [helper.make_tensor_value_info("y", f, [2])])
    out["dangling"] = model([helper.make_node("Add", ["x", "missing"], ["y"])],
                            [helper.make_tensor_value_info("x", f, [2])],
                            [helper.make_tensor_value_info("y", f, [2])])
    out["old_opset"] = model([helper.make_node("Relu", ["x"], ["y"])],
                             [helper.make_tensor_value_info("x", f, [2])],
                             [helper.make_tensor_value_info("y", f, [2])], opset=3)
    # Regressions (bugs the fuzzers found, fixed): an old-opset graph output
    # nothing produces, an old Conv with 2 pads for 2 spatial dims, a zero
    # pooling stride, an initializer claiming far more data than it holds.
    out["regress_old_unproduced"] = model([helper.make_node("Relu", ["x"], ["Y"])],
                                          [helper.make_tensor_value_info("x", f, [2])],
                                          [helper.make_tensor_value_info("y", f, [2])], opset=6)
    out["regress_old_conv_pads"] = model([helper.make_node("Conv", ["x", "k"], ["y"], pads=[402628605, 1])],
                                         [helper.make_tensor_value_info("x", f, [1, 1, 4, 4])],
                                         [helper.make_tensor_value_info("y", f, [1, 2, 4, 4])], [k], opset=1)
    out["regress_zero_stride"] = model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[0, 2])],
                                       [helper.make_tensor_value_info("x", f, [1, 1, 4, 4])],
                                       [helper.make_tensor_value_info("y", f, [1, 1, 2, 2])])
    huge = TensorProto(name="w", data_type=f, dims=[1 << 20, 1 << 17], raw_data=b"\0\0\0\0")
    out["regress_huge_initializer"] = model([helper.make_node("Identity", ["w"], ["y"])], [],
                                            [helper.make_tensor_value_info("y", f, [1 << 20, 1 << 17])], [huge])
    return out


def model_corpus():
    d = reset("model_loader_fuzzer")
    for name, data in onnx_models().items():
        write(d, name + ".onnx", data)
    write(d, "truncated.onnx", onnx_models()["gemm_relu"][:100])


# ---- partition_upload_fuzzer: flags, cuts, [id], [total], payload.
def upload_input(flags, cuts, payload, fuzzed_id=b"", fuzzed_total=0):
    # FuzzedDataProvider takes integers from the end of the data (most
    # significant byte first) and strings from the front: the data is
    # [id][payload][integers in reverse order of consumption].
    tail = [flags, len(cuts)]
    for c in cuts:
        tail += [c >> 8, c & 0xFF]
    if not flags & 2:
        tail += list(struct.pack(">Q", fuzzed_total))
    head = b"" if flags & 1 else fuzzed_id.ljust(64, b"0")[:64]
    return head + payload + bytes(reversed(tail))


def upload_corpus():
    d = reset("partition_upload_fuzzer")
    models = onnx_models()
    relu, conv = models["relu"], models["conv_pool"]
    write(d, "relu_one_chunk", upload_input(0b00011, [], relu))
    write(d, "conv_cut3", upload_input(0b00011, [50, 100, 7], conv))
    write(d, "relu_empty_chunk", upload_input(0b10011, [10], relu))
    write(d, "chunk_first", upload_input(0b00111, [10], relu))
    write(d, "second_header", upload_input(0b01011, [10], relu))
    write(d, "wrong_id", upload_input(0b00010, [20], relu, hashlib.sha256(b"other").hexdigest().encode()))
    write(d, "bad_total", upload_input(0b00001, [20], relu, fuzzed_total=3))
    write(d, "unknown_op", upload_input(0b00011, [], models["unknown_op"]))


# ---- kserve_request_fuzzer: serialized inference.ModelInferRequest.
KSERVE_REQUESTS = {
    "batched_typed": """model_name: "batched" id: "r1"
      inputs { name: "x" datatype: "FP32" shape: [2, 3] contents { fp32_contents: [0, 0.5, 1, 1.5, 2, 2.5] } }
      inputs { name: "ids" datatype: "INT64" shape: [2, 2] contents { int64_contents: [1, 2, 3, 4] } }""",
    "batched_raw": """model_name: "batched"
      inputs { name: "x" datatype: "FP32" shape: [1, 3] }
      inputs { name: "ids" datatype: "INT64" shape: [1, 2] }
      outputs { name: "ids" }
      raw_input_contents: "\\000\\000\\200?\\000\\000\\000@\\000\\000@@"
      raw_input_contents: "\\001\\000\\000\\000\\000\\000\\000\\000\\002\\000\\000\\000\\000\\000\\000\\000\"""",
    "plain_typed": """model_name: "plain"
      inputs { name: "b" datatype: "BOOL" shape: [2, 1] contents { bool_contents: [true, false] } }
      inputs { name: "u8" datatype: "UINT8" shape: [3] contents { uint_contents: [0, 7, 255] } }
      inputs { name: "i8" datatype: "INT8" shape: [4] contents { int_contents: [-128, -1, 0, 127] } }
      inputs { name: "i32" datatype: "INT32" shape: [] contents { int_contents: [42] } }
      inputs { name: "f64" datatype: "FP64" shape: [1, 2] contents { fp64_contents: [1.5, -2] } }
      outputs { name: "f64" } outputs { name: "b" }""",
    "plain_raw": """model_name: "plain"
      inputs { name: "b" datatype: "BOOL" shape: [2, 0] }
      inputs { name: "u8" datatype: "UINT8" shape: [2] }
      inputs { name: "i8" datatype: "INT8" shape: [4] }
      inputs { name: "i32" datatype: "INT32" shape: [] }
      inputs { name: "f64" datatype: "FP64" shape: [0, 3] }
      raw_input_contents: "" raw_input_contents: "\\001\\002" raw_input_contents: "\\377\\000\\001\\002"
      raw_input_contents: "\\007\\000\\000\\000" raw_input_contents: \"\"""",
    # Near-valid ones.
    "wrong_dtype": """inputs { name: "x" datatype: "FP16" shape: [1, 3] }
      inputs { name: "ids" datatype: "INT64" shape: [1, 2] contents { int64_contents: [1, 2] } }""",
    "negative_dim": """inputs { name: "x" datatype: "FP32" shape: [-1, 3] contents { fp32_contents: [1, 2, 3] } }
      inputs { name: "ids" datatype: "INT64" shape: [1, 2] contents { int64_contents: [1, 2] } }""",
    "overflow_dims": """inputs { name: "x" datatype: "FP32" shape: [4, 4611686018427387904] }
      inputs { name: "ids" datatype: "INT64" shape: [4, 2] }
      raw_input_contents: "" raw_input_contents: \"\"""",
    "duplicate_input": """inputs { name: "x" datatype: "FP32" shape: [1, 3] contents { fp32_contents: [1, 2, 3] } }
      inputs { name: "x" datatype: "FP32" shape: [1, 3] contents { fp32_contents: [1, 2, 3] } }""",
    "mixed_contents": """inputs { name: "x" datatype: "FP32" shape: [1, 3] contents { fp32_contents: [1, 2, 3] } }
      inputs { name: "ids" datatype: "INT64" shape: [1, 2] }
      raw_input_contents: "\\001\\000\\000\\000\\000\\000\\000\\000\\002\\000\\000\\000\\000\\000\\000\\000\"""",
    "shared_memory": """inputs { name: "x" datatype: "FP32" shape: [1, 3]
        parameters { key: "shared_memory_region" value { string_param: "r" } } }""",
}


def kserve_corpus():
    d = reset("kserve_request_fuzzer")
    for name, text in KSERVE_REQUESTS.items():
        data = subprocess.run(["protoc", "-I", ROOT, "--encode=inference.ModelInferRequest", "proto/inference.proto"],
                              input=text.encode(), stdout=subprocess.PIPE, check=True, cwd=ROOT).stdout
        write(d, name, data)


def main():
    npy_corpus()
    model_corpus()
    upload_corpus()
    kserve_corpus()
    for name in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, name))
        print(f"{name}: {len(files)} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
