#!/usr/bin/python3
"""Exports the small real graphs the planner tests partition.

  planner_resnet.onnx       ResNet-style CNN built from torchvision's BasicBlock
                            (residual adds, strided 1x1-conv downsample branches),
                            batch and spatial size fixed (1x3x32x32).
  planner_transformer.onnx  torch.nn.TransformerEncoder, 2 layers, d_model 32,
                            4 heads, GELU, dynamic batch and sequence axes, so the
                            graph carries Shape/Gather/Unsqueeze/Concat subgraphs.

Both at opset 14 with fixed seeds. Run with Debian's /usr/bin/python3 (torch,
torchvision, onnx); the outputs are committed so the tests need no PyTorch.
"""
import os

import onnx
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

HERE = os.path.dirname(os.path.abspath(__file__))


class SmallResNet(nn.Module):
    def __init__(self, widths=(8, 16, 32), num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        layers = []
        in_ch = widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or in_ch != w:
                down = nn.Sequential(nn.Conv2d(in_ch, w, 1, stride=stride, bias=False), nn.BatchNorm2d(w))
            layers.append(BasicBlock(in_ch, w, stride=stride, downsample=down))
            layers.append(BasicBlock(w, w))
            in_ch = w
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class SmallTransformer(nn.Module):
    def __init__(self, d_model=32, heads=4, layers=2, ff=64, out=8):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=ff, dropout=0.0,
                                           activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, out)

    def forward(self, x):
        return self.head(self.encoder(x))


def randomize_bn(model):
    # Non-trivial BatchNorm statistics so the folded weights matter.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


def export(model, sample, path, dynamic_axes=None):
    # Exported with autograd on: TransformerEncoderLayer's inference fast path
    # (a fused aten op) is skipped when gradients are enabled, so the export
    # shows the decomposed attention a real exporter emits.
    model.eval()
    torch.onnx.export(model, sample, path, opset_version=14, input_names=["input"],
                      output_names=["output"], dynamic_axes=dynamic_axes, do_constant_folding=True)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    print(path, os.path.getsize(path), "bytes,", len(m.graph.node), "nodes")


def main():
    torch.manual_seed(0)
    resnet = SmallResNet()
    randomize_bn(resnet)
    export(resnet, torch.randn(1, 3, 32, 32), os.path.join(HERE, "planner_resnet.onnx"),
           dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})

    torch.manual_seed(1)
    transformer = SmallTransformer()
    export(transformer, torch.randn(2, 5, 32), os.path.join(HERE, "planner_transformer.onnx"),
           dynamic_axes={"input": {0: "batch", 1: "sequence"}, "output": {0: "batch", 1: "sequence"}})


if __name__ == "__main__":
    main()
