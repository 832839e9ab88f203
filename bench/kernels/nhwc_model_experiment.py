# Experiment (NOT the engine's layout pass): rewrites a model so every Conv is an
# ai.tessera FusedConv with layout="NHWC", with Transposes at the input, around MaxPool and
# before GlobalAveragePool; activations stay separate nodes. Usage (bench/kernels/RESULTS.md, NHWC):
#   /usr/bin/python3 bench/kernels/nhwc_model_experiment.py in.onnx out_nhwc.onnx
import onnx, sys
from onnx import helper
m = onnx.load(sys.argv[1])
g = m.graph
inp = g.input[0].name
nodes = list(g.node)
for n in nodes:
    for i, name in enumerate(n.input):
        if name == inp: n.input[i] = inp + "_nhwc"
new = [helper.make_node("Transpose", [inp], [inp + "_nhwc"], perm=[0, 2, 3, 1])]
for n in nodes:
    if n.op_type == "Conv":
        n.op_type = "FusedConv"; n.domain = "ai.tessera"
        n.attribute.append(helper.make_attribute("layout", "NHWC"))
    if n.op_type in ("GlobalAveragePool",):
        t = n.input[0] + "_nchw"
        new.append(helper.make_node("Transpose", [n.input[0]], [t], perm=[0, 3, 1, 2]))
        n.input[0] = t
    if n.op_type == "MaxPool":
        t = n.input[0] + "_nchw"; o = n.output[0]
        new.append(helper.make_node("Transpose", [n.input[0]], [t], perm=[0, 3, 1, 2]))
        n.input[0] = t; n.output[0] = o + "_pre"
        new.append(n)
        new.append(helper.make_node("Transpose", [o + "_pre"], [o], perm=[0, 2, 3, 1]))
        continue
    new.append(n)
del g.node[:]
g.node.extend(new)
del g.value_info[:]
m.opset_import.append(helper.make_opsetid("ai.tessera", 1))
onnx.save(m, sys.argv[2])
