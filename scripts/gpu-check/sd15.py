#!/usr/bin/env python3
"""The diffusers side of scripts/gpu-check.sh: random Stable Diffusion 1.5-shaped weights written
as a diffusers model directory (which the native benchmarks load too: the same weights), and
diffusers' own timings of the UNet and of one full DiffEdit edit on them.

  sd15.py make DIR [--device cuda] [--dtype float16] [--small]
      DIR/{unet,vae,text_encoder,tokenizer,scheduler}/ + model_index.json. UNet and VAE are
      diffusers' classes with SD 1.5's configs, randomly initialised (on --device); the text
      encoder is transformers' CLIPTextModel when transformers imports, else the same tensors
      (ViT-L/14's text tower, transformers' names) drawn with torch alone. The tokenizer is the
      project's CLIP vocabulary (models/clip-tokenizer), the scheduler SD 1.5's DDIM config.
      --small: tiny shapes of the same architecture (the CPU mode of gpu-check.sh).
  sd15.py time DIR --out JSON [--device cuda] [--dtype float16] [--unet-iterations 20] [--edit-iterations 2]
      diffusers' UNet2DConditionModel (batch 2 at the config's latent size) and
      StableDiffusionDiffEditPipeline (generate_mask with 10 maps at strength 0.5, invert and
      __call__ at inpaint_strength 0.8, 50 steps, guidance 7.5, on a random image: what
      bench_methods' DiffEditModelDir runs natively), one untimed run each first on CUDA. Without
      transformers the pipeline runs on prompt embeddings (text_encoder=None; a stand-in module
      satisfies the pipeline's imports) and the JSON says so.

Each command writes what it did and any failure as JSON (make: DIR/make.json), never a traceback
alone: gpu-check.sh reads the files, whatever happened.
"""
import argparse
import contextlib
import importlib.abc
import importlib.machinery
import json
import os
import shutil
import sys
import time
import traceback
import types

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SD15_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=[320, 640, 1280, 1280],
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32)
SD15_VAE = dict(
    sample_size=512, in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, block_out_channels=[128, 256, 512, 512],
    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4, norm_num_groups=32, scaling_factor=0.18215)
SD15_TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                 max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=768,
                 bos_token_id=0, eos_token_id=2, pad_token_id=1)
SD15_SCHEDULER = {"_class_name": "DDIMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
                  "clip_sample": False, "set_alpha_to_one": False, "steps_offset": 1, "num_train_timesteps": 1000,
                  "prediction_type": "epsilon", "trained_betas": None, "timestep_spacing": "leading"}
# --small: the same block types at toy widths (latent 16, images 128).
SMALL_UNET = dict(SD15_UNET, sample_size=16, block_out_channels=[32, 32, 64, 64], cross_attention_dim=64, attention_head_dim=4,
                  norm_num_groups=8)
SMALL_VAE = dict(SD15_VAE, sample_size=128, block_out_channels=[16, 16, 32, 32], norm_num_groups=8)
SMALL_TEXT = dict(SD15_TEXT, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, projection_dim=64)


def dtype_of(name):
    import torch
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


def importable(name):
    try:
        __import__(name)
        return True
    except Exception:  # a broken install counts as absent
        return False


def text_encoder_tensors(cfg, device, dtype):
    """CLIPTextModel's state dict (transformers' names), drawn as transformers initialises it."""
    import torch
    g = torch.Generator(device=device).manual_seed(0)
    d, f, std = cfg["hidden_size"], cfg["intermediate_size"], 0.02

    def normal(*shape, s=std):
        return (torch.randn(*shape, generator=g, device=device) * s).to(dtype)

    t = {"text_model.embeddings.token_embedding.weight": normal(cfg["vocab_size"], d),
         "text_model.embeddings.position_embedding.weight": normal(cfg["max_position_embeddings"], d)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"text_model.encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            t[p + f"self_attn.{proj}.weight"] = normal(d, d)
            t[p + f"self_attn.{proj}.bias"] = torch.zeros(d, device=device, dtype=dtype)
        t[p + "mlp.fc1.weight"], t[p + "mlp.fc1.bias"] = normal(f, d), torch.zeros(f, device=device, dtype=dtype)
        t[p + "mlp.fc2.weight"], t[p + "mlp.fc2.bias"] = normal(d, f), torch.zeros(d, device=device, dtype=dtype)
        for ln in ("layer_norm1", "layer_norm2"):
            t[p + ln + ".weight"], t[p + ln + ".bias"] = torch.ones(d, device=device, dtype=dtype), torch.zeros(d, device=device, dtype=dtype)
    t["text_model.final_layer_norm.weight"] = torch.ones(d, device=device, dtype=dtype)
    t["text_model.final_layer_norm.bias"] = torch.zeros(d, device=device, dtype=dtype)
    return {k: v.contiguous().cpu() for k, v in t.items()}


def make(args):
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    dtype, dev = dtype_of(args.dtype), torch.device(args.device)
    unet_cfg, vae_cfg, text_cfg = (SMALL_UNET, SMALL_VAE, SMALL_TEXT) if args.small else (SD15_UNET, SD15_VAE, SD15_TEXT)
    out = args.dir
    os.makedirs(out, exist_ok=True)
    report = {"dir": out, "small": args.small, "dtype": args.dtype, "device": args.device}
    t0 = time.time()
    torch.manual_seed(0)
    # diffusers' own initialisation, done on the device where torch allows it (torch >= 2.0).
    on_device = dev if hasattr(dev, "__enter__") else contextlib.nullcontext()
    with on_device:
        unet = UNet2DConditionModel(**unet_cfg).to(dev, dtype)
    unet.save_pretrained(os.path.join(out, "unet"), safe_serialization=True)
    report["unet_parameters"] = sum(p.numel() for p in unet.parameters())
    del unet
    with on_device:
        vae = AutoencoderKL(**vae_cfg).to(dev, dtype)
    vae.save_pretrained(os.path.join(out, "vae"), safe_serialization=True)
    report["vae_parameters"] = sum(p.numel() for p in vae.parameters())
    del vae
    os.makedirs(os.path.join(out, "text_encoder"), exist_ok=True)
    text_config = dict(text_cfg, architectures=["CLIPTextModel"], model_type="clip_text_model", torch_dtype=args.dtype,
                       attention_dropout=0.0, dropout=0.0, initializer_factor=1.0, initializer_range=0.02)
    if importable("transformers"):
        from transformers import CLIPTextConfig, CLIPTextModel
        enc = CLIPTextModel(CLIPTextConfig(**{k: v for k, v in text_config.items() if k not in ("architectures", "torch_dtype")}))
        enc.to(dtype).save_pretrained(os.path.join(out, "text_encoder"), safe_serialization=True)
        report["text_encoder_from"] = "transformers"
    else:
        from safetensors.torch import save_file
        save_file(text_encoder_tensors(text_cfg, dev, dtype), os.path.join(out, "text_encoder", "model.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(out, "text_encoder", "config.json"), "w") as f:
            json.dump(text_config, f, indent=2)
        report["text_encoder_from"] = "torch (transformers not importable)"
    shutil.copytree(os.path.join(ROOT, "models", "clip-tokenizer"), os.path.join(out, "tokenizer"), dirs_exist_ok=True)
    os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
    with open(os.path.join(out, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(SD15_SCHEDULER, f, indent=2)
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.31.0", "unet": ["diffusers", "UNet2DConditionModel"],
                   "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
                   "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDIMScheduler"],
                   "safety_checker": [None, None], "feature_extractor": [None, None]}, f, indent=2)
    report["seconds"] = round(time.time() - t0, 2)
    return report


def sync(device):
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, iterations):
    """Seconds of each of `iterations` runs of fn, after one untimed run on CUDA."""
    if device.type == "cuda":
        fn()
        sync(device)
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return {"seconds": times, "mean_s": sum(times) / len(times), "min_s": min(times)}


def stand_in_transformers():
    """When transformers does not import: modules named transformers and transformers.* whose every
    attribute is an empty class (a string for UPPER_CASE names, which diffusers reads as file-name
    constants), declared available to diffusers before it imports its loaders (which it gates on
    transformers), so that the DiffEdit pipeline's module imports; the pipeline is then given no
    text encoder. Call before importing anything from diffusers."""
    def attribute(name):
        if name.startswith("__"):
            raise AttributeError(name)
        return f"stand-in-{name}" if name.isupper() else type(name, (), {})

    class StandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, fullname, path=None, target=None):
            if fullname == "transformers" or fullname.startswith("transformers."):
                return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            return None

        def create_module(self, spec):
            m = types.ModuleType(spec.name)
            m.__getattr__ = attribute
            m.__path__ = []
            m.__version__ = "4.46.0"
            return m

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, StandIn())
    import diffusers.utils.import_utils as iu
    iu._transformers_available, iu._transformers_version = True, "4.46.0"


def time_diffusers(args):
    import torch
    with_text = importable("transformers")
    if not with_text:
        stand_in_transformers()
    import diffusers
    from diffusers import AutoencoderKL, DDIMInverseScheduler, DDIMScheduler, UNet2DConditionModel
    dtype, dev = dtype_of(args.dtype), torch.device(args.device)
    report = {"diffusers": diffusers.__version__, "diffusers_from": os.path.dirname(diffusers.__file__), "torch": torch.__version__,
              "device": args.device, "dtype": args.dtype}
    unet = UNet2DConditionModel.from_pretrained(os.path.join(args.dir, "unet"), torch_dtype=dtype).to(dev).eval()
    latent = unet.config.sample_size
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, latent, latent, generator=g).to(dev, dtype)
    ctx = torch.randn(2, 77, unet.config.cross_attention_dim, generator=g).to(dev, dtype)
    t = torch.tensor(501, device=dev)
    with torch.no_grad():
        report["unet"] = dict(timed(lambda: unet(x, t, ctx).sample, dev, args.unet_iterations), batch=2, latent=latent)
    if dev.type == "cuda":
        report["unet"]["max_memory_allocated_MB"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)

    from diffusers.pipelines.stable_diffusion_diffedit.pipeline_stable_diffusion_diffedit import StableDiffusionDiffEditPipeline
    vae = AutoencoderKL.from_pretrained(os.path.join(args.dir, "vae"), torch_dtype=dtype).to(dev).eval()
    text_encoder = tokenizer = None
    if with_text:
        from transformers import CLIPTextModel, CLIPTokenizer
        text_encoder = CLIPTextModel.from_pretrained(os.path.join(args.dir, "text_encoder"), torch_dtype=dtype).to(dev).eval()
        tokenizer = CLIPTokenizer.from_pretrained(os.path.join(args.dir, "tokenizer"))
    scheduler = DDIMScheduler.from_pretrained(os.path.join(args.dir, "scheduler"))
    inverse = DDIMInverseScheduler.from_config(scheduler.config)
    pipe = StableDiffusionDiffEditPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                           safety_checker=None, feature_extractor=None, inverse_scheduler=inverse,
                                           requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    side = latent * pipe.vae_scale_factor
    image = torch.rand(1, 3, side, side, generator=g)
    source, target = "a photograph of a bowl of apples", "a photograph of a bowl of pears"
    if with_text:
        texts = dict(source=dict(source_prompt=source), target=dict(target_prompt=target), call=dict(prompt=target), invert=dict(prompt=source))
    else:
        width = unet.config.cross_attention_dim
        emb = {k: torch.randn(1, 77, width, generator=g).to(dev, dtype) for k in ("source", "target", "empty")}
        texts = dict(source=dict(source_prompt_embeds=emb["source"], source_negative_prompt_embeds=emb["empty"]),
                     target=dict(target_prompt_embeds=emb["target"], target_negative_prompt_embeds=emb["empty"]),
                     call=dict(prompt_embeds=emb["target"], negative_prompt_embeds=emb["empty"]),
                     invert=dict(prompt_embeds=emb["source"], negative_prompt_embeds=emb["empty"]))

    def edit():
        mask = pipe.generate_mask(image=image, **texts["source"], **texts["target"], num_maps_per_mask=10, mask_encode_strength=0.5,
                                  mask_thresholding_ratio=3.0, num_inference_steps=50, guidance_scale=7.5,
                                  generator=torch.Generator().manual_seed(1), output_type="np")
        inv = pipe.invert(image=image, **texts["invert"], num_inference_steps=50, inpaint_strength=0.8, guidance_scale=7.5,
                          generator=torch.Generator().manual_seed(2))
        return pipe(mask_image=mask, image_latents=inv.latents, **texts["call"], num_inference_steps=50, inpaint_strength=0.8,
                    guidance_scale=7.5, generator=torch.Generator().manual_seed(3), output_type="pt").images

    with torch.no_grad():
        report["diffedit"] = dict(timed(edit, dev, args.edit_iterations), image_side=side, mask_samples=10, steps=50, strength=0.8,
                                  text_encoder=with_text)
    if not with_text:
        report["diffedit"]["note"] = ("transformers not importable: the pipeline ran on prompt embeddings (no text encoder calls; "
                                      "the native edit encodes its 4 prompts, a few ms)")
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--small", action="store_true")
    t = sub.add_parser("time")
    t.add_argument("dir")
    t.add_argument("--out", required=True)
    t.add_argument("--unet-iterations", type=int, default=20)
    t.add_argument("--edit-iterations", type=int, default=2)
    for p in (m, t):
        p.add_argument("--device", default="cuda")
        p.add_argument("--dtype", default="float16")
    args = ap.parse_args()
    out = args.out if args.cmd == "time" else os.path.join(args.dir, "make.json")
    try:
        report = make(args) if args.cmd == "make" else time_diffusers(args)
        report["status"] = "ok"
        rc = 0
    except Exception as e:  # reported in the JSON for gpu-check.json
        traceback.print_exc()
        report = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
        rc = 1
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report)[:2000])
    return rc


if __name__ == "__main__":
    sys.exit(main())
