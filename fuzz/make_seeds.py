#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/ (run with /usr/bin/python3: needs PIL).

Seeds are small valid inputs of each format plus the malformed files of tests/data/bad; the
fuzzer mutates from there. Crash regressions found later go next to them, named crash-*.
"""
import io, json, os, shutil, struct, sys

root = os.path.dirname(os.path.abspath(__file__))
corpus = os.path.join(root, "corpus")
bad = os.path.join(root, "..", "tests", "data", "bad")


def put(kind, name, data):
    with open(os.path.join(corpus, kind, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def safetensors(tensors, metadata=None, pad=0):
    header, data = {}, b""
    for name, (dtype, shape, payload) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode() + b" " * pad
    return struct.pack("<Q", len(text)) + text + data


put("safetensors", "empty", safetensors({}))
put("safetensors", "one_f32", safetensors({"w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4))}))
put("safetensors", "mixed", safetensors({
    "a.bias": ("F16", [3], b"\x00\x3c" * 3), "b": ("BF16", [1, 2], b"\x80\x3f" * 2),
    "c": ("I64", [], struct.pack("<q", 7)), "d": ("BOOL", [4], b"\x01\x00\x01\x00"),
    "e": ("U8", [0, 3], b""), "f": ("F64", [1], struct.pack("<d", 0.5))},
    metadata={"format": "pt"}, pad=5))
for name in ("lying_header.safetensors", "truncated.safetensors", "not_safetensors.safetensors"):
    shutil.copy(os.path.join(bad, name), os.path.join(corpus, "safetensors", name))

quick = os.path.join(root, "..", "configs", "quickstart.json")
shutil.copy(quick, os.path.join(corpus, "config", "quickstart"))
put("config", "valid", json.dumps({"name": "x", "steps": 10, "seeds": [1, 2], "threshold": 0.5,
                                   "methods": {"diffedit": {"grid": {"r": [0.5, 0.7]}, "parameters": {"t": 1}}}}))
put("config", "overrides", json.dumps({"name": "x"}) + "\0steps=20\nmodel.dtype=\"float16\"\nseeds.0=3\nthreshold=\"auto\"\nmethods.m.grid.r=[1,2]")
put("config", "bad_override", "{}\0=1\nname\nname.x.y=2")
put("config", "duplicate", '{"name": "a", "name": "b"}')
put("config", "deep", '{"name": "n", "model": {"path": null, "dtype": "float32"}, "flag": true, "guidance": 1e3}')
for name in ("malformed.json", "unknown_key.json", "wrong_type.json", "empty_grid.json"):
    shutil.copy(os.path.join(bad, name), os.path.join(corpus, "config", name))

for i, text in enumerate([
        "a photo of a red circle above a blue square on a striped background",
        "A Bowl of FRUITS!!  with   spaces\tand\nnewlines", "", "!!!", "café naïve – “quotes” …",
        "日本語のテキスト 🍎🐱", "it's 3.14159 o'clock, don't", "<|startoftext|> x <|endoftext|>",
        "word " * 100, "\xff\xfe invalid", "&amp; &lt;b&gt; html", "ﬁ ligature ＦＵＬＬＷＩＤＴＨ"]):
    put("tokenizer", "prompt%02d" % i, text.encode("utf-8", "surrogateescape") if "\xff" not in text else b"\xff\xfe invalid utf-8 \xc3")

from PIL import Image  # noqa: E402

def encode(img, fmt, **kw):
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kw)
    return buffer.getvalue()

rgb = Image.new("RGB", (5, 4))
rgb.putdata([(i * 12 % 256, i * 40 % 256, 255 - i) for i in range(20)])
put("image", "rgb.png", encode(rgb, "PNG"))
put("image", "rgb.jpg", encode(rgb, "JPEG", quality=90))
put("image", "gray.png", encode(rgb.convert("L"), "PNG"))
put("image", "gray.jpg", encode(rgb.convert("L"), "JPEG"))
put("image", "rgba.png", encode(rgb.convert("RGBA"), "PNG"))
put("image", "la.png", encode(rgb.convert("LA"), "PNG"))
put("image", "palette.png", encode(rgb.convert("P"), "PNG"))
gray16 = Image.new("I;16", (5, 4))
gray16.putdata([i * 3000 for i in range(20)])
put("image", "gray16.png", encode(gray16, "PNG"))
put("image", "bmp.bmp", encode(rgb, "BMP"))
for name in ("truncated.png", "text.png", "empty.png"):
    shutil.copy(os.path.join(bad, name), os.path.join(corpus, "image", name))
print("seeds written to", corpus)
