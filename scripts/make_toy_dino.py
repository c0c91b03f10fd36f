#!/usr/bin/env python3
"""Writes models/toy-dino: a DINO ViT of dino_vitb8's layout (patch 8, depth 12, image 224) at the
toy scale (embed 48, 3 heads), randomly initialised as DINO's VisionTransformer initialises itself
(trunc_normal std 0.02 for positions, CLS and Linear weights; zero biases; unit LayerNorms; the
patch conv as torch's default). The toy world has no self-supervised DINO: PIE-Bench's structure
distance on the toy twin is the self-similarity of these random keys, a deterministic measure of
layout change, not DINO's semantics (models/README.md). Run with Debian's python3 (python3-torch):
    /usr/bin/python3 scripts/make_toy_dino.py models/toy-dino
"""
import json
import os
import sys

import torch


def main(out):
    torch.manual_seed(20261205)
    e, depth, heads, patch, img = 48, 12, 3, 8, 224
    grid = img // patch
    sd = {}

    def trunc(*shape):
        t = torch.empty(*shape)
        torch.nn.init.trunc_normal_(t, std=0.02)
        return t

    sd["cls_token"] = trunc(1, 1, e)
    sd["pos_embed"] = trunc(1, grid * grid + 1, e)
    conv = torch.nn.Conv2d(3, e, patch, stride=patch)
    sd["patch_embed.proj.weight"] = conv.weight.detach().clone()
    sd["patch_embed.proj.bias"] = conv.bias.detach().clone()
    for i in range(depth):
        p = f"blocks.{i}."
        for norm in ("norm1", "norm2"):
            sd[p + norm + ".weight"] = torch.ones(e)
            sd[p + norm + ".bias"] = torch.zeros(e)
        for name, (o, n) in {"attn.qkv": (3 * e, e), "attn.proj": (e, e), "mlp.fc1": (4 * e, e), "mlp.fc2": (e, 4 * e)}.items():
            sd[p + name + ".weight"] = trunc(o, n)
            sd[p + name + ".bias"] = torch.zeros(o)
    sd["norm.weight"] = torch.ones(e)
    sd["norm.bias"] = torch.zeros(e)

    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"), sd)
    config = {"embed_dim": e, "depth": depth, "num_heads": heads, "patch_size": patch, "img_size": [img], "in_chans": 3,
              "mlp_ratio": 4, "qkv_bias": True, "qk_scale": None, "layer_norm_eps": 1e-6, "num_classes": 0,
              "source": "random initialisation (scripts/make_toy_dino.py), not trained"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
        f.write("\n")


def write_safetensors(path, tensors):
    # The format is a JSON header (names sorted; float16 little-endian data, as every toy model is
    # stored) then the bytes; Debian has no python3-safetensors.
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].contiguous().to(torch.float16).numpy().tobytes()
        header[name] = {"dtype": "F16", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models/toy-dino")
