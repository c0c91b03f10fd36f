#!/usr/bin/python3
"""scripts/convert_weights.py on randomly initialised models saved in the published formats, each
result loaded by the C++ `diffedit` and compared with a PyTorch forward of the original model:

- LPIPS (alex, vgg, squeeze): torchvision backbones + lpips-style `lin{k}.model.1.weight` heads;
  the distance printed by `diffedit metrics lpips` equals LPIPS v0.1 computed here (1e-5).
- OpenAI CLIP (ViT, saved as TorchScript like OpenAI's .pt files) -> Hugging Face layout; the
  image-text cosine printed by `diffedit metrics clipscore` equals OpenAI's forward here (2e-5).
- DINO ViT (dino_vitbase8_pretrain.pth's names, tiny): every tensor written bit-exactly and the
  config read off the shapes (the C++ model's numerics: the piebench-v1 parity fixtures, same names).
- pytorch-fid Inception (torchvision Inception3 names, 1008 classes): every tensor written
  bit-exactly and the C++ loader (strict on names and shapes) accepts the file. The network's
  numerics are proven separately by the metrics-v1 parity fixtures, which use the same names.

Usage: test_convert_weights.py --cli build/src/diffedit
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest
from collections import OrderedDict

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "convert_weights.py")
CLI = None


def run(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def convert(*args, check=True):
    return run(sys.executable, SCRIPT, *args, check=check)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dtypes[h["dtype"]]).reshape(h["shape"]).copy())
    return out


def randomize(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.02 if p.dim() > 1 else 0.1) + (1.0 if name.endswith("weight") and p.dim() == 1 else 0.0))
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)


def save_png(path, array_u8):
    Image.fromarray(array_u8).save(path)
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


# LPIPS v0.1 (lpips=True): the taps are the ReLU outputs closing each of lpips' slices.
TAPS = {"alex": [1, 4, 7, 9, 11], "vgg": [3, 8, 15, 22, 29], "squeeze": [1, 4, 7, 9, 10, 11, 12]}
BACKBONES = {"alex": torchvision.models.alexnet, "vgg": torchvision.models.vgg16, "squeeze": torchvision.models.squeezenet1_1}


def lpips_reference(net, features, lins, x0, x1):
    shift = torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1)
    scale = torch.tensor([.458, .448, .450]).view(1, 3, 1, 1)

    def taps(x):
        h, out = (2 * x - 1 - shift) / scale, []
        for i, layer in enumerate(features):
            h = layer(h)
            if i in TAPS[net]:
                out.append(h.clone())
            if i == TAPS[net][-1]:
                break
        return out

    def unit(f):
        return f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)

    total = 0.0
    for k, (f0, f1) in enumerate(zip(taps(x0), taps(x1))):
        total = total + nn.functional.conv2d((unit(f0) - unit(f1)) ** 2, lins[f"lin{k}.model.1.weight"]).mean([2, 3])
    return total.item()


# OpenAI CLIP's ViT architecture and parameter names (model.py of openai/CLIP), tiny.
class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d, heads, mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads)
        self.ln_1 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(d, 4 * d)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(4 * d, d))]))
        self.ln_2 = nn.LayerNorm(d)
        self.mask = mask

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=self.mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, d, layers, heads, mask=None):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(d, heads, mask) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, size, patch, width, layers, embed):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width))
        self.positional_embedding = nn.Parameter(torch.randn((size // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, width // 64)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, embed))

    def forward(self, x):
        x = self.conv1(x).flatten(2).permute(0, 2, 1)
        x = torch.cat([self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1]), x], 1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x).permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class OpenAIClip(nn.Module):
    def __init__(self, size=32, patch=8, vision_width=128, vision_layers=2, width=128, layers=2, embed=64, context=77, vocab=49408):
        super().__init__()
        self.visual = VisionTransformer(size, patch, vision_width, vision_layers, embed)
        mask = torch.full((context, context), float("-inf")).triu(1)
        self.transformer = Transformer(width, layers, width // 64, mask)
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(torch.randn(context, width))
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.randn(width, embed))
        self.logit_scale = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))

    def encode_text(self, text):
        x = (self.token_embedding(text) + self.positional_embedding).permute(1, 0, 2)
        x = self.ln_final(self.transformer(x).permute(1, 0, 2))
        return x[torch.arange(x.shape[0]), text.argmax(-1)] @ self.text_projection

    def forward(self, image, text):
        return self.visual(image), self.encode_text(text)


class ConvertWeights(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        rng = np.random.default_rng(0)
        self.a = save_png(os.path.join(self.dir, "a.png"), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
        self.b = save_png(os.path.join(self.dir, "b.png"), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_lpips_distance_matches_the_original_model(self):
        for seed, net in enumerate(["alex", "squeeze", "vgg"]):
            backbone = BACKBONES[net]()
            randomize(backbone, seed)
            backbone.eval()
            torch.save(backbone.state_dict(), self.path(f"{net}-backbone.pth"))
            g = torch.Generator().manual_seed(100 + seed)
            with torch.no_grad():
                channels = [o.shape[1] for o in self._tap_shapes(net, backbone.features)]
            lins = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for k, c in enumerate(channels)}
            torch.save(lins, self.path(f"{net}.pth"))
            out = self.path(f"lpips_{net}.safetensors")
            convert("lpips", "--net", net, "--lin", self.path(f"{net}.pth"), "--backbone", self.path(f"{net}-backbone.pth"), out)
            with torch.no_grad():
                expected = lpips_reference(net, backbone.features, lins, self.a, self.b)
            got = float(run(CLI, "metrics", "lpips", self.path("a.png"), self.path("b.png"), "--net", net, "--weights", out).stdout.split()[-1])
            self.assertGreater(expected, 0.0)
            self.assertAlmostEqual(got, expected, delta=1e-5 * max(1.0, abs(expected)), msg=net)

    def _tap_shapes(self, net, features):
        h, out = torch.zeros(1, 3, 64, 64), []
        for i, layer in enumerate(features):
            h = layer(h)
            if i in TAPS[net]:
                out.append(h)
            if i == TAPS[net][-1]:
                break
        return out

    def test_lpips_rejects_a_file_without_heads(self):
        torch.save({"foo": torch.zeros(1)}, self.path("bad.pth"))
        torch.save(torchvision.models.alexnet().state_dict(), self.path("alex-backbone.pth"))
        r = convert("lpips", "--net", "alex", "--lin", self.path("bad.pth"), "--backbone", self.path("alex-backbone.pth"),
                    self.path("x.safetensors"), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("missing lin0.model.1.weight", r.stderr)

    def test_openai_clip_cosine_matches_the_original_model(self):
        torch.manual_seed(0)
        model = OpenAIClip()
        randomize(model, 7)
        with torch.no_grad():
            model.logit_scale.fill_(float(np.log(1 / 0.07)))
        model.eval()
        rng = np.random.default_rng(1)
        image = save_png(self.path("x.png"), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
        std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
        vocab = json.load(open(os.path.join(ROOT, "models", "clip-tokenizer", "vocab.json")))
        text = "a red circle above a blue star"
        ids = [49406] + [vocab[w + "</w>"] for w in text.split()] + [49407]
        tokens = torch.tensor([ids + [0] * (77 - len(ids))])
        with torch.no_grad():
            traced = torch.jit.trace(model, ((image - mean) / std, tokens))
            i, t = model((image - mean) / std, tokens)
        traced.save(self.path("ViT-tiny.pt"))  # OpenAI ships TorchScript archives
        expected = torch.nn.functional.cosine_similarity(i, t).item()
        convert("clip-openai", self.path("ViT-tiny.pt"), self.path("clip"))
        config = json.load(open(self.path("clip/config.json")))
        self.assertEqual(config["vision_config"]["image_size"], 32)
        self.assertEqual(config["vision_config"]["patch_size"], 8)
        self.assertEqual(config["text_config"]["num_attention_heads"], 2)
        out = run(CLI, "metrics", "clipscore", "--model", self.path("clip"), "--image", self.path("x.png"), "--text", text).stdout
        got = float(out.split("cosine")[1].split()[0])
        self.assertAlmostEqual(got, expected, delta=2e-5)
        # The cosine must depend on the text: a different caption scores differently.
        other = run(CLI, "metrics", "clipscore", "--model", self.path("clip"), "--image", self.path("x.png"), "--text", "a green ring").stdout
        self.assertGreater(abs(float(other.split("cosine")[1].split()[0]) - got), 1e-4)

    def test_inception_fid_is_written_bit_exactly_and_loads(self):
        model = torchvision.models.inception.Inception3(num_classes=1008, aux_logits=False, init_weights=False)
        randomize(model, 3)
        sd = model.state_dict()
        torch.save(sd, self.path("pt_inception.pth"))
        convert("inception-fid", self.path("pt_inception.pth"), self.path("inception.safetensors"))
        written = read_safetensors(self.path("inception.safetensors"))
        kept = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
        self.assertEqual(sorted(written), sorted(kept))
        for k, v in kept.items():
            self.assertTrue(torch.equal(written[k], v), k)
        r = run(CLI, "metrics", "stats", "--images", self.dir, "--net", "inception-fid", "--weights",
                self.path("inception.safetensors"), "--out", self.path("s.h5"), "--no-cache")
        self.assertIn("2048 features", r.stderr)
        # Half-precision storage.
        convert("--dtype", "float16", "inception-fid", self.path("pt_inception.pth"), self.path("inception16.safetensors"))
        self.assertEqual(read_safetensors(self.path("inception16.safetensors"))["fc.weight"].dtype, torch.float16)
        # Not an Inception: a clear error.
        torch.save({"x": torch.zeros(2)}, self.path("other.pth"))
        r = convert("inception-fid", self.path("other.pth"), self.path("o.safetensors"), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not an Inception-v3 state dict", r.stderr)
        self.assertFalse(os.path.exists(self.path("o.safetensors")))

    def test_dino_is_written_bit_exactly_with_its_config(self):
        def state_dict(embed, depth, patch, grid, extra=()):
            g = torch.Generator().manual_seed(embed + depth)
            shapes = {"cls_token": [1, 1, embed], "pos_embed": [1, grid * grid + 1, embed],
                      "patch_embed.proj.weight": [embed, 3, patch, patch], "patch_embed.proj.bias": [embed],
                      "norm.weight": [embed], "norm.bias": [embed]}
            for i in range(depth):
                for name, (o, n) in {"norm1": (embed, 0), "attn.qkv": (3 * embed, embed), "attn.proj": (embed, embed),
                                     "norm2": (embed, 0), "mlp.fc1": (4 * embed, embed), "mlp.fc2": (embed, 4 * embed)}.items():
                    shapes[f"blocks.{i}.{name}.weight"] = [o, n] if n else [o]
                    shapes[f"blocks.{i}.{name}.bias"] = [o]
            shapes.update(dict(extra))
            return {k: torch.randn(v, generator=g) for k, v in shapes.items()}

        sd = state_dict(64, 2, 4, 4)
        torch.save(sd, self.path("dino.pth"))
        convert("dino", self.path("dino.pth"), self.path("dino"))
        written = read_safetensors(self.path("dino/model.safetensors"))
        self.assertEqual(sorted(written), sorted(sd))
        for k, v in sd.items():
            self.assertTrue(torch.equal(written[k], v), k)
        config = json.load(open(self.path("dino/config.json")))
        for key, value in {"embed_dim": 64, "depth": 2, "num_heads": 1, "patch_size": 4, "img_size": [16], "in_chans": 3,
                           "mlp_ratio": 4.0, "qkv_bias": True, "qk_scale": None, "layer_norm_eps": 1e-6, "num_classes": 0}.items():
            self.assertEqual(config[key], value, key)
        # The head count is not in the shapes: widths that are not a multiple of 64 need --num-heads.
        torch.save(state_dict(48, 1, 8, 3), self.path("dino48.pth"))
        r = convert("dino", self.path("dino48.pth"), self.path("dino48"), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("give --num-heads", r.stderr)
        convert("dino", self.path("dino48.pth"), self.path("dino48"), "--num-heads", "3")
        self.assertEqual(json.load(open(self.path("dino48/config.json")))["num_heads"], 3)
        # Anything beyond the backbone (here a classification head) is refused.
        torch.save(state_dict(64, 1, 8, 2, {"head.weight": [10, 64]}), self.path("head.pth"))
        r = convert("dino", self.path("head.pth"), self.path("head"), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unexpected head.weight", r.stderr)
        self.assertFalse(os.path.exists(self.path("head/model.safetensors")))

    def test_hf_state_dict_keeps_names(self):
        os.makedirs(self.path("hf"))
        sd = {"text_model.embeddings.token_embedding.weight": torch.randn(10, 4), "logit_scale": torch.tensor(2.5)}
        torch.save(sd, self.path("hf/pytorch_model.bin"))
        json.dump({"model_type": "clip"}, open(self.path("hf/config.json"), "w"))
        convert("hf", self.path("hf"), self.path("hf-out"))
        written = read_safetensors(self.path("hf-out/model.safetensors"))
        self.assertTrue(torch.equal(written["text_model.embeddings.token_embedding.weight"], sd["text_model.embeddings.token_embedding.weight"]))
        self.assertTrue(os.path.isfile(self.path("hf-out/config.json")))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    args, rest = parser.parse_known_args()
    CLI = os.path.abspath(args.cli)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
