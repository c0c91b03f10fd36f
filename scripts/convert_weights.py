#!/usr/bin/python3
"""Converts published PyTorch weights into the safetensors layouts diffedit-bench loads.

For users with internet access: download the original files, convert once, point the configs (or
`diffedit metrics ... --weights`) at the result. Needs Debian's python3-torch (and nothing else:
safetensors files are written by this script, no `safetensors` package is required).

  inception-fid  pytorch-fid's pt_inception-2015-12-05-6726825d.pth  -> inception_fid.safetensors
  lpips          lpips' weights/v0.1/{alex,vgg,squeeze}.pth + the torchvision backbone
                 (alexnet-owt-7be5be79.pth, vgg16-397923af.pth, squeezenet1_1-b8a52dc0.pth)
                                                                    -> lpips_<net>.safetensors
  clip-openai    an OpenAI CLIP ViT checkpoint (ViT-B-32.pt, TorchScript or state dict)
                                                                    -> a Hugging Face CLIPModel dir
  dino           DINO's published ViT backbone (dino_vitbase8_pretrain.pth, a plain state dict)
                                                                    -> a directory: model.safetensors
                                                                       + config.json
  hf             any PyTorch state dict (e.g. a Hugging Face CLIPModel's pytorch_model.bin), names
                 kept                                               -> .safetensors (+ sibling
                 config/tokenizer files when the input is a directory)

Every tensor is written as float32 unless --dtype says otherwise; names follow torchvision / lpips /
Hugging Face, which is what the C++ loaders read. Run with --help per command.
"""
import argparse
import json
import math
import os
import re
import shutil
import struct
import sys

import torch

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
          torch.bool: "BOOL"}


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} in the safetensors format (sorted names, 8-byte aligned header), atomically."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in DTYPES:
            raise SystemExit(f"error: {name}: dtype {t.dtype} cannot be stored")
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for c in chunks:
            f.write(c)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_state_dict(path):
    """A plain state dict (torch.save) or a TorchScript archive (OpenAI's CLIP .pt files)."""
    if not os.path.isfile(path):
        raise SystemExit(f"error: {path}: no such file")
    try:
        obj = torch.jit.load(path, map_location="cpu").state_dict()
    except (RuntimeError, ValueError):
        obj = torch.load(path, map_location="cpu")
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise SystemExit(f"error: {path}: not a state dict of tensors")
    return dict(obj)


def cast(tensors, dtype):
    return {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in tensors.items()}


def convert_inception_fid(args):
    sd = load_state_dict(args.input)
    # pytorch-fid's FIDInceptionA/C/E keep torchvision's parameter names; the C++ loader reads them
    # (fc.* is kept for completeness and ignored). BatchNorm counters and the aux head are dropped.
    out = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked") and not k.startswith("AuxLogits.")}
    if "Mixed_7c.branch_pool.conv.weight" not in out:
        raise SystemExit(f"error: {args.input}: not an Inception-v3 state dict (no Mixed_7c.branch_pool.conv.weight)")
    write_safetensors(args.output, cast(out, args.dtype), {"format": "pt", "source": os.path.basename(args.input), "network": "inception-fid"})


LPIPS_HEADS = {"alex": 5, "vgg": 5, "squeeze": 7}


def convert_lpips(args):
    lins = load_state_dict(args.lin)
    backbone = load_state_dict(args.backbone)
    out = {}
    for k in range(LPIPS_HEADS[args.net]):
        name = f"lin{k}.model.1.weight"
        if name not in lins:
            raise SystemExit(f"error: {args.lin}: missing {name} (is this lpips' v0.1/{args.net}.pth?)")
        out[name] = lins[name]
    features = {k: v for k, v in backbone.items() if k.startswith("features.")}
    if not features:
        raise SystemExit(f"error: {args.backbone}: no features.* tensors (expected a torchvision {args.net} state dict)")
    out.update(features)
    write_safetensors(args.output, cast(out, args.dtype),
                      {"format": "pt", "network": f"lpips-{args.net}", "lin": os.path.basename(args.lin),
                       "backbone": os.path.basename(args.backbone)})


def openai_clip_to_hf(sd):
    """OpenAI CLIP ViT names -> Hugging Face CLIPModel names (+ the config read off the shapes)."""
    if "visual.conv1.weight" not in sd:
        raise SystemExit("error: only ViT CLIP checkpoints are supported (no visual.conv1.weight; ResNet CLIPs are not)")
    out = {}

    def blocks(src, dst, layers):
        for i in range(layers):
            s, d = f"{src}.{i}", f"{dst}.{i}"
            q, k, v = sd[f"{s}.attn.in_proj_weight"].chunk(3)
            qb, kb, vb = sd[f"{s}.attn.in_proj_bias"].chunk(3)
            for name, w, b in (("q_proj", q, qb), ("k_proj", k, kb), ("v_proj", v, vb)):
                out[f"{d}.self_attn.{name}.weight"], out[f"{d}.self_attn.{name}.bias"] = w, b
            pairs = {"attn.out_proj": "self_attn.out_proj", "ln_1": "layer_norm1", "ln_2": "layer_norm2",
                     "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
            for a, b in pairs.items():
                out[f"{d}.{b}.weight"], out[f"{d}.{b}.bias"] = sd[f"{s}.{a}.weight"], sd[f"{s}.{a}.bias"]

    def count(prefix):
        return len({m.group(1) for k in sd for m in [re.match(re.escape(prefix) + r"\.(\d+)\.", k)] if m})

    vision_layers, text_layers = count("visual.transformer.resblocks"), count("transformer.resblocks")
    v, t = "vision_model", "text_model"
    out[f"{v}.embeddings.class_embedding"] = sd["visual.class_embedding"]
    out[f"{v}.embeddings.patch_embedding.weight"] = sd["visual.conv1.weight"]
    out[f"{v}.embeddings.position_embedding.weight"] = sd["visual.positional_embedding"]
    out[f"{v}.pre_layrnorm.weight"], out[f"{v}.pre_layrnorm.bias"] = sd["visual.ln_pre.weight"], sd["visual.ln_pre.bias"]
    blocks("visual.transformer.resblocks", f"{v}.encoder.layers", vision_layers)
    out[f"{v}.post_layernorm.weight"], out[f"{v}.post_layernorm.bias"] = sd["visual.ln_post.weight"], sd["visual.ln_post.bias"]
    out["visual_projection.weight"] = sd["visual.proj"].t().contiguous()
    out[f"{t}.embeddings.token_embedding.weight"] = sd["token_embedding.weight"]
    out[f"{t}.embeddings.position_embedding.weight"] = sd["positional_embedding"]
    blocks("transformer.resblocks", f"{t}.encoder.layers", text_layers)
    out[f"{t}.final_layer_norm.weight"], out[f"{t}.final_layer_norm.bias"] = sd["ln_final.weight"], sd["ln_final.bias"]
    out["text_projection.weight"] = sd["text_projection"].t().contiguous()
    out["logit_scale"] = sd["logit_scale"].reshape(())

    vision_width, patch = sd["visual.conv1.weight"].shape[0], sd["visual.conv1.weight"].shape[-1]
    grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    text_width = sd["ln_final.weight"].shape[0]
    config = {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": sd["text_projection"].shape[1],
        "logit_scale_init_value": 2.6592,
        "text_config": {
            "model_type": "clip_text_model", "hidden_act": "quick_gelu", "hidden_size": text_width,
            "intermediate_size": sd["transformer.resblocks.0.mlp.c_fc.weight"].shape[0], "layer_norm_eps": 1e-5,
            "max_position_embeddings": sd["positional_embedding"].shape[0], "num_attention_heads": text_width // 64,
            "num_hidden_layers": text_layers, "vocab_size": sd["token_embedding.weight"].shape[0],
            "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1},  # eos 2: pool at argmax(ids), as OpenAI does
        "vision_config": {
            "model_type": "clip_vision_model", "hidden_act": "quick_gelu", "hidden_size": vision_width,
            "intermediate_size": sd["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0], "layer_norm_eps": 1e-5,
            "image_size": patch * grid, "patch_size": patch, "num_attention_heads": vision_width // 64,
            "num_hidden_layers": vision_layers, "num_channels": 3},
    }
    if text_width % 64 or vision_width % 64:
        raise SystemExit("error: widths must be multiples of 64 (OpenAI CLIP uses width // 64 heads)")
    return out, config


def convert_clip_openai(args):
    sd = load_state_dict(args.input)
    tensors, config = openai_clip_to_hf(sd)
    os.makedirs(args.output, exist_ok=True)
    write_safetensors(os.path.join(args.output, "model.safetensors"), cast(tensors, args.dtype),
                      {"format": "pt", "source": os.path.basename(args.input)})
    with open(os.path.join(args.output, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    size = config["vision_config"]["image_size"]
    with open(os.path.join(args.output, "preprocessor_config.json"), "w") as f:
        json.dump({"crop_size": size, "do_normalize": True, "resample": 3, "size": size,
                   "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}, f, indent=2)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        src = os.path.join(args.tokenizer, name)
        if not os.path.isfile(src):
            raise SystemExit(f"error: {src}: missing (the CLIP tokenizer files; --tokenizer DIR)")
        shutil.copyfile(src, os.path.join(args.output, name))


def dino_config(sd, num_heads):
    """DINO VisionTransformer arguments read off the state dict's shapes (C++: models/dino_vit.h)."""
    need = ["cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "blocks.0.mlp.fc1.weight", "norm.weight"]
    missing = [k for k in need if k not in sd]
    if missing:
        raise SystemExit(f"error: not a DINO ViT state dict (missing {', '.join(missing)})")
    embed_dim = sd["cls_token"].shape[-1]
    patch, in_chans = sd["patch_embed.proj.weight"].shape[-1], sd["patch_embed.proj.weight"].shape[1]
    grid = math.isqrt(sd["pos_embed"].shape[1] - 1)
    if grid * grid + 1 != sd["pos_embed"].shape[1]:
        raise SystemExit(f"error: pos_embed {list(sd['pos_embed'].shape)} is not a square grid plus the CLS row")
    depth = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    if num_heads is None:  # the head count is not in the shapes; every published DINO ViT uses 64-wide heads
        if embed_dim % 64:
            raise SystemExit(f"error: embed_dim {embed_dim} is not a multiple of 64: give --num-heads")
        num_heads = embed_dim // 64
    if embed_dim % num_heads:
        raise SystemExit(f"error: embed_dim {embed_dim} is not divisible by --num-heads {num_heads}")
    return {"architecture": "DINO vision_transformer.VisionTransformer", "embed_dim": embed_dim, "depth": depth,
            "num_heads": num_heads, "patch_size": patch, "img_size": [grid * patch], "in_chans": in_chans,
            "mlp_ratio": sd["blocks.0.mlp.fc1.weight"].shape[0] / embed_dim, "qkv_bias": "blocks.0.attn.qkv.bias" in sd,
            "qk_scale": None, "layer_norm_eps": 1e-6, "num_classes": 0}


def dino_names(config):
    names = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias", "norm.weight", "norm.bias"}
    for i in range(config["depth"]):
        for m in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            names |= {f"blocks.{i}.{m}.weight", f"blocks.{i}.{m}.bias"}
        if not config["qkv_bias"]:
            names.discard(f"blocks.{i}.attn.qkv.bias")
    return names


def convert_dino(args):
    sd = load_state_dict(args.input)
    config = dino_config(sd, args.num_heads)
    names = dino_names(config)
    # The hub model loads this file with strict=True: anything else (a head, a training checkpoint's
    # teacher/student prefixes) is not the published backbone.
    missing, extra = sorted(names - set(sd)), sorted(set(sd) - names)
    if missing or extra:
        raise SystemExit(f"error: {args.input}: not a DINO ViT backbone state dict"
                         + (f"; missing {', '.join(missing[:5])}" if missing else "") + (f"; unexpected {', '.join(extra[:5])}" if extra else ""))
    os.makedirs(args.output, exist_ok=True)
    write_safetensors(os.path.join(args.output, "model.safetensors"), cast(sd, args.dtype),
                      {"format": "pt", "source": os.path.basename(args.input), "network": "dino-vit"})
    with open(os.path.join(args.output, "config.json"), "w") as f:
        json.dump(dict(config, source=os.path.basename(args.input)), f, indent=2)


def convert_hf(args):
    src = args.input
    if os.path.isdir(src):
        names = [n for n in ("pytorch_model.bin", "model.pt", "model.pth") if os.path.isfile(os.path.join(src, n))]
        if not names:
            raise SystemExit(f"error: {src}: no pytorch_model.bin in this folder")
        os.makedirs(args.output, exist_ok=True)
        for n in os.listdir(src):
            if n.endswith((".json", ".txt")):
                shutil.copyfile(os.path.join(src, n), os.path.join(args.output, n))
        sd, out = load_state_dict(os.path.join(src, names[0])), os.path.join(args.output, "model.safetensors")
    else:
        sd, out = load_state_dict(src), args.output
    write_safetensors(out, cast(sd, args.dtype), {"format": "pt"})


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32", help="storage dtype of floating tensors")
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("inception-fid", help="pytorch-fid's Inception .pth -> .safetensors")
    a.add_argument("input"), a.add_argument("output")
    a.set_defaults(run=convert_inception_fid)
    a = sub.add_parser("lpips", help="lpips v0.1 heads + torchvision backbone -> one .safetensors")
    a.add_argument("--net", choices=sorted(LPIPS_HEADS), required=True)
    a.add_argument("--lin", required=True, help="lpips' weights/v0.1/<net>.pth")
    a.add_argument("--backbone", required=True, help="torchvision's pretrained <net> state dict")
    a.add_argument("output")
    a.set_defaults(run=convert_lpips)
    a = sub.add_parser("clip-openai", help="OpenAI CLIP ViT .pt -> Hugging Face CLIPModel directory")
    a.add_argument("input"), a.add_argument("output")
    a.add_argument("--tokenizer", default=os.path.join(here, "..", "models", "clip-tokenizer"), help="CLIP BPE files to copy")
    a.set_defaults(run=convert_clip_openai)
    a = sub.add_parser("dino", help="DINO ViT backbone .pth (e.g. dino_vitbase8_pretrain.pth) -> model.safetensors + config.json")
    a.add_argument("input"), a.add_argument("output")
    a.add_argument("--num-heads", type=int, help="attention heads (default: embed_dim / 64, as every published DINO ViT)")
    a.set_defaults(run=convert_dino)
    a = sub.add_parser("hf", help="a state dict (file, or a folder with pytorch_model.bin) -> safetensors, names kept")
    a.add_argument("input"), a.add_argument("output")
    a.set_defaults(run=convert_hf)
    args = p.parse_args(argv)
    args.dtype = torch.float16 if args.dtype == "float16" else torch.float32
    args.run(args)
    print(args.output)


if __name__ == "__main__":
    main()
