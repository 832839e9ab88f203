#!/usr/bin/python3
"""Exports the engine benchmark models and their inputs into bench/engine/models/.

  resnet18.onnx      torchvision ResNet-18,     input "input" [B,3,224,224]
  mobilenet_v2.onnx  torchvision MobileNetV2,   input "input" [B,3,224,224]
  bert_encoder.onnx  torch.nn.TransformerEncoder (4 layers, d_model 256, 4 heads,
                     dim_feedforward 1024, gelu, batch_first), input "input" [B,64,256]

All have random weights (weights=None, torch.manual_seed(0)), output "output",
a dynamic batch axis, and are exported with torch.onnx.export at opset 14.
For every model and batch size (default 1 and 8) one random float32 input is
written to models/inputs/<model>_b<B>.npy (numpy seed fixed), and
models/manifest.json lists models, input names and input files.

Usage: /usr/bin/python3 export_models.py [--out DIR] [--batches 1,8] [--force]
Existing .onnx files are kept unless --force.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torchvision

OPSET = 14
SEQUENCE = 64
D_MODEL = 256


class BertStyleEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        layer = torch.nn.TransformerEncoderLayer(d_model=D_MODEL, nhead=4, dim_feedforward=1024, dropout=0.0,
                                                 activation="gelu", batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, num_layers=4, enable_nested_tensor=False)
        # TransformerEncoder deep-copies `layer`, so all layers would share
        # identical weights (and the exporter would store them once): give
        # each layer its own.
        for name, p in self.encoder.named_parameters():
            if p.dim() > 1:
                torch.nn.init.xavier_uniform_(p)
            elif "norm" in name:
                torch.nn.init.normal_(p, mean=1.0 if name.endswith("weight") else 0.0, std=0.02)
            else:
                torch.nn.init.normal_(p, std=0.02)

    def forward(self, x):
        return self.encoder(x)


def build(name):
    torch.manual_seed(0)
    if name == "resnet18":
        return torchvision.models.resnet18(weights=None), (3, 224, 224)
    if name == "mobilenet_v2":
        return torchvision.models.mobilenet_v2(weights=None), (3, 224, 224)
    if name == "bert_encoder":
        return BertStyleEncoder(), (SEQUENCE, D_MODEL)
    raise ValueError(name)


MODELS = ["resnet18", "mobilenet_v2", "bert_encoder"]


def export(name, path):
    model, sample_shape = build(name)
    model.eval()
    # Parameters that require grad keep TransformerEncoderLayer off its fused
    # "fast path" (an op ONNX export cannot express); results are identical.
    for p in model.parameters():
        p.requires_grad_(True)
    example = torch.randn(2, *sample_shape)
    torch.onnx.export(model, example, path, opset_version=OPSET, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, do_constant_folding=True)
    return sample_shape


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "models"))
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",") if b]
    os.makedirs(os.path.join(args.out, "inputs"), exist_ok=True)
    manifest_path = os.path.join(args.out, "manifest.json")
    manifest = []
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    for name in [m for m in args.models.split(",") if m]:
        path = os.path.join(args.out, f"{name}.onnx")
        _, sample_shape = build(name)
        if args.force or not os.path.exists(path):
            print(f"exporting {name} -> {path}", file=sys.stderr)
            export(name, path)
        entry = {"model": name, "path": path, "input": "input", "output": "output", "inputs": {}}
        for batch in batches:
            rng = np.random.default_rng(1000 + batch)
            x = rng.standard_normal((batch, *sample_shape)).astype(np.float32)
            input_path = os.path.join(args.out, "inputs", f"{name}_b{batch}.npy")
            np.save(input_path, x)
            entry["inputs"][str(batch)] = input_path
        manifest = [e for e in manifest if e.get("model") != name] + [entry]
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"models and inputs are in {args.out} (manifest.json lists {len(manifest)})", file=sys.stderr)


if __name__ == "__main__":
    main()
