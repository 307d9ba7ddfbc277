"""Train the bundled video transformer (diffusers ``WanTransformer3DModel``) with flow matching on
cached VAE latents of procedural scenes.

Why a latent cache: encoding a clip costs about as much as a whole transformer step, so the clips are
encoded once (stage ``cache``, shardable over processes) and every step reads latents from memory.
Time reversal doubles the data for free: a per-frame VAE's latents of a reversed clip are the reversed
latents, and the caption names the opposite motion (never a held-out triple, see
``scenes.caption_variant``).

Flow matching as ``FlowMatchEulerDiscreteScheduler`` samples it: ``x_s = (1 - s) x0 + s n``, the model
gets timestep ``s * 1000`` and predicts ``n - x0``. 10% of captions are replaced by the empty caption
so sampling can use classifier-free guidance. An EMA of the weights is what gets exported.

    python -m generator.train_transformer cache --vae runs/vae/export --clips 1600 --out runs/latents
    python -m generator.train_transformer train --cache runs/latents --steps 4000 --out runs/transformer
    python -m generator.train_transformer export --out runs/transformer --vae runs/vae/export --to generator/bundled
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import torch
from diffusers import AutoencoderKL, WanTransformer3DModel
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from generator.layout_planner import (
    MAX_OBJECTS,
    SILHOUETTE_SIZE,
    layout_heatmaps,
    place_silhouettes,
    scene_layout,
    scene_silhouette_targets,
)
from generator.pipeline_videoguard import encode_silhouettes, video_noise
from generator.scenes import SIZE, Scene, caption_variant, make_scene, object_tracks, render
from generator.text_encoder import MAX_TOKENS, TEXT_DIM, encode_captions, load_minilm
from generator.train_vae import to_tensor

TRANSFORMER_CONFIG = dict(
    patch_size=(1, 4, 4),
    num_attention_heads=8,
    attention_head_dim=32,
    in_channels=16,
    out_channels=16,
    text_dim=TEXT_DIM,
    freq_dim=256,
    ffn_dim=1024,
    num_layers=5,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
    rope_max_seq_len=64,
)
# Finer tokens: 2 x 2 latent pixels (16 x 16 image pixels) per token, 17 x 8 x 8 = 1088 tokens. Why: with 4 x 4
# tokens per frame an object's position and outline live inside one 32-pixel token, which the 4 x 4 model never
# learned to draw (ragged blobs that do not travel); 64 values per token fit a width of 128.
ARCHITECTURES = {
    "p4w256": TRANSFORMER_CONFIG,
    "p2w128": dict(TRANSFORMER_CONFIG, patch_size=(1, 2, 2), num_attention_heads=4, ffn_dim=512, num_layers=6),
}
CAPTION_VARIANTS = 2
CACHE_SEED_BASE = 20_000_000


def build_transformer(arch: str = "p4w256", layout_channels: int = 0) -> WanTransformer3DModel:
    """The transformer of ``arch``; ``layout_channels`` extra input channels carry layout heatmaps (concatenated
    to the noisy latents as Wan's image-to-video model concatenates its conditioning; the output stays 16)."""
    config = ARCHITECTURES[arch]
    return WanTransformer3DModel(**dict(config, in_channels=config["in_channels"] + layout_channels))


def widen_input(state: dict[str, torch.Tensor], in_channels: int) -> dict[str, torch.Tensor]:
    """A transformer state dict with ``patch_embedding`` widened to ``in_channels`` input channels, the new
    channels' weights zero, so the widened model computes exactly what the original did until it learns to
    read them (the ControlNet / image-to-video initialisation)."""
    weight = state["patch_embedding.weight"]  # (width, C, pt, ph, pw)
    extra = in_channels - weight.shape[1]
    if extra < 0:
        raise ValueError(f"cannot narrow patch_embedding from {weight.shape[1]} to {in_channels} channels")
    pad = torch.zeros(weight.shape[0], extra, *weight.shape[2:], dtype=weight.dtype)
    return {**state, "patch_embedding.weight": torch.cat([weight, pad], dim=1)}


def regain_inputs(state: dict[str, torch.Tensor], channels: int, old_gain: float, new_gain: float,
                  ) -> dict[str, torch.Tensor]:
    """A state dict whose last ``channels`` input channels read inputs ``new_gain / old_gain`` times larger and
    compute the same function: their ``patch_embedding`` weights shrink by that factor. Why: Adam moves each
    weight by about the learning rate, so a larger gain is a larger learning rate for those channels only."""
    weight = state["patch_embedding.weight"].clone()
    weight[:, -channels:] *= old_gain / new_gain
    return {**state, "patch_embedding.weight": weight}


# ---------------------------------------------------------------------------------------------------------
# Stage 1: the latent cache
# ---------------------------------------------------------------------------------------------------------


def clip_captions(scene: Scene) -> tuple[list[str], bool]:
    """The 2 x CAPTION_VARIANTS captions of a cached clip (forward variants, then reversed ones; "" where the
    reversed clip is not describable) and whether the clip may be played backwards."""
    fwd = [scene.caption] + [caption_variant(scene, v) or scene.caption for v in range(1, CAPTION_VARIANTS)]
    rev = [caption_variant(scene, v, reverse=True) for v in range(CAPTION_VARIANTS)]
    return fwd + [c or "" for c in rev], rev[0] is not None


@torch.no_grad()
def recaption(tokenizer: PreTrainedTokenizerBase, text_model: PreTrainedModel, count: int, static_weight: float,
              batch: int = 512) -> torch.Tensor:
    """(count, 2, CAPTION_VARIANTS, MAX_TOKENS, 384) float16 text of cached clips ``0..count-1``, encoded again
    with ``static_weight`` (the cache holds the plain contextual states; the captions are rebuilt from the scenes'
    seeds, so the cache itself need not change)."""
    captions = [c for i in range(count) for c in clip_captions(make_scene(CACHE_SEED_BASE + i))[0]]
    text = torch.cat([encode_captions(tokenizer, text_model, captions[k:k + batch], static_weight=static_weight)
                      for k in range(0, len(captions), batch)]).half()
    return text.view(count, 2, CAPTION_VARIANTS, MAX_TOKENS, TEXT_DIM)


@torch.no_grad()
def cache(args: argparse.Namespace) -> None:
    """Encode clips ``shard::num_shards`` of ``range(clips)`` into ``<out>/shard_<k>.pt`` files of 100."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    vae = AutoencoderKL.from_pretrained(args.vae).eval()
    tokenizer, text_model = load_minilm()
    chunk = 100
    chunks = [c for c in range(0, args.clips, chunk) if (c // chunk) % args.num_shards == args.shard]
    for start in tqdm(chunks, desc=f"cache shard {args.shard}"):
        path = out / f"shard_{start // chunk:04d}.pt"
        if path.exists():
            continue
        latents, captions, reversible = [], [], []
        for i in range(start, min(start + chunk, args.clips)):
            scene = make_scene(CACHE_SEED_BASE + i)
            x = to_tensor(render(scene))  # (T, 3, H, W)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                z = vae.encode(x).latent_dist.mode().float()  # (T, C, h, w)
            z = (z - vae.config.shift_factor) * vae.config.scaling_factor
            latents.append(z.permute(1, 0, 2, 3).half())  # (C, T, h, w)
            clip_text, can_reverse = clip_captions(scene)
            reversible.append(can_reverse)
            captions.extend(clip_text)
        text = encode_captions(tokenizer, text_model, captions).half()  # (N * 2V, L, 384)
        n = len(latents)
        payload = {
            "latents": torch.stack(latents),  # (N, C, T, h, w) float16, normalised
            "text": text.view(n, 2, CAPTION_VARIANTS, MAX_TOKENS, TEXT_DIM),  # [:, 0] forward, [:, 1] reversed
            "reversible": torch.tensor(reversible),
        }
        tmp = path.with_suffix(".tmp")
        torch.save(payload, tmp)
        os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------------
# Stage 2: flow-matching training
# ---------------------------------------------------------------------------------------------------------


class LatentCache:
    """The cached clips, loaded shard by shard. ``ensure(n)`` blocks until the first ``n`` clips are
    in memory, so training can start while the cache stage is still writing shards yet stays
    deterministic: step ``k`` always samples from the same first ``clips_at(k)`` clips."""

    def __init__(self, directory: Path, total: int) -> None:
        self.directory, self.total = directory, total
        self.parts: list[dict[str, torch.Tensor]] = []
        self.data: dict[str, torch.Tensor] = {}

    @property
    def count(self) -> int:
        return sum(p["latents"].shape[0] for p in self.parts)

    def ensure(self, n: int, *, poll_s: float = 10.0, timeout_s: float = 3600.0) -> None:
        n = min(n, self.total)
        waited = 0.0
        while self.count < n:
            path = self.directory / f"shard_{len(self.parts):04d}.pt"
            if not path.exists():
                if waited >= timeout_s:
                    raise ValueError(f"waited {timeout_s:.0f} s for {path}; run the cache stage")
                time.sleep(poll_s)
                waited += poll_s
                continue
            self.parts.append(torch.load(path, weights_only=True))
            self.data = {k: torch.cat([p[k] for p in self.parts]) for k in self.parts[0]}


def shift_sigma(sigma: torch.Tensor, shift: float) -> torch.Tensor:
    """The scheduler's time shift ``k s / (1 + (k - 1) s)``, applied to training noise levels too.

    Why: 17 nearly identical frames average their noise down, so a clip's layout (where the object is,
    which way it moves) is decided at noise levels close to 1, which an unshifted logit-normal rarely
    samples. Wan trains and samples with a shift for the same reason."""
    return shift * sigma / (1 + (shift - 1) * sigma)


def object_masks(count: int, frames: int, latent_size: int, *, margin_px: float = 6.0) -> torch.Tensor:
    """(count, 1, T, h, w) soft masks of where the objects of cached clips ``0..count-1`` are, per latent pixel.

    Why: an object covers 1-3% of a frame, so an unweighted loss is spent almost entirely on backgrounds
    and the model learned colourful blobs instead of shapes and their paths. The tracks are the scene's own
    ground truth (no rendering), so the masks cost nothing to rebuild and need no cache change."""
    cell = SIZE / latent_size
    centres = (torch.arange(latent_size, dtype=torch.float32) + 0.5) * cell
    yy, xx = torch.meshgrid(centres, centres, indexing="ij")
    masks = torch.zeros(count, 1, frames, latent_size, latent_size)
    for i in range(count):
        for track in object_tracks(make_scene(CACHE_SEED_BASE + i)):
            for t, (x, y, r, _) in enumerate(track[:frames]):
                d = torch.sqrt((xx - x) ** 2 + (yy - y) ** 2)
                masks[i, 0, t] = torch.maximum(masks[i, 0, t], torch.clamp((r * 1.25 + margin_px - d) / cell, 0, 1))
    return masks


def layout_maps(count: int, frames: int, latent_size: int, peak: float = 1.0) -> torch.Tensor:
    """(count, MAX_OBJECTS, T, h, w) float16 ground-truth layout heatmaps of cached clips ``0..count-1``, in the
    order the caption names the objects (rebuilt from the scenes' seeds, like ``object_masks``)."""
    layouts = [scene_layout(make_scene(CACHE_SEED_BASE + i), frames) for i in range(count)]
    tracks = torch.stack([t for t, _ in layouts])
    present = torch.stack([p for _, p in layouts])
    return layout_heatmaps(tracks, present, latent_size, peak).half()


def silhouette_maps(cache_dir: Path, vae_path: str, count: int, frames: int, batch: int = 8) -> torch.Tensor:
    """(count, C, T, h, w) float16 VAE latents of the true outlines of cached clips ``0..count-1`` (the scenes'
    shapes at their true angles, placed by ``place_silhouettes`` as the pipeline places the planned ones), cached
    in ``<cache>/silhouettes_<count>.pt`` (an encode per frame, so built once)."""
    path = cache_dir / f"silhouettes_{count}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    vae = AutoencoderKL.from_pretrained(vae_path).eval()
    parts = []
    for start in tqdm(range(0, count, batch), desc="silhouettes"):
        rows = []
        for i in range(start, min(start + batch, count)):
            scene = make_scene(CACHE_SEED_BASE + i)
            tracks, present = scene_layout(scene, frames)
            templates, _, angles = scene_silhouette_targets(scene, SILHOUETTE_SIZE, frames)
            rows.append((templates, tracks, angles, present))
        stacked = [torch.stack(col) for col in zip(*rows, strict=True)]
        coverage = place_silhouettes(*stacked, SIZE)  # (b, T, H, W)
        parts.append(encode_silhouettes(vae, coverage).half())
    maps = torch.cat(parts)
    tmp = path.with_suffix(".tmp")
    torch.save(maps, tmp)
    os.replace(tmp, path)
    return maps


def sample_batch(data: dict[str, torch.Tensor], n: int, uncond: torch.Tensor, gen: torch.Generator, batch: int,
                 dropout: float, layout_dropout: float = 0.0,
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(B, C, T, h, w) clean latents, (B, L, 384) text and the (B, 1, T, h, w) object masks (None when the
    data has none) from the first ``n`` clips, with time reversal and caption dropout. With layout heatmaps in
    the data (``data["layout"]``), they are time-reversed with their clip, zeroed for a ``layout_dropout``
    share of the batch (so the model still draws without a layout) and returned concatenated to the latents
    as channels C.. of the first tensor."""
    idx = torch.randint(0, n, (batch,), generator=gen)
    rev = (torch.rand(batch, generator=gen) < 0.5) & data["reversible"][idx]
    var = torch.randint(0, CAPTION_VARIANTS, (batch,), generator=gen)
    x0 = data["latents"][idx].float()
    x0 = torch.where(rev[:, None, None, None, None], x0.flip(2), x0)
    mask = data["masks"][idx] if "masks" in data else None
    if mask is not None:
        mask = torch.where(rev[:, None, None, None, None], mask.flip(2), mask)
    text = data["text"][idx, rev.long(), var].float()
    drop = torch.rand(batch, generator=gen) < dropout
    text = torch.where(drop[:, None, None], uncond.expand(batch, -1, -1), text)
    if "layout" in data:
        layout = data["layout"][idx].float()
        layout = torch.where(rev[:, None, None, None, None], layout.flip(2), layout)
        keep = torch.rand(batch, generator=gen) >= layout_dropout
        x0 = torch.cat([x0, layout * keep[:, None, None, None, None]], dim=1)
    return x0, text, mask


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "ckpt.pt"
    cache = LatentCache(Path(args.cache), args.clips)

    def clips_at(step: int) -> int:
        return min(args.clips, args.clips_at_start + int(args.clips_per_step * step))

    cache.ensure(clips_at(0))
    tokenizer, text_model = load_minilm()
    uncond = encode_captions(tokenizer, text_model, [""], static_weight=args.text_static_weight)  # (1, L, 384)
    if args.text_static_weight:
        cache.ensure(args.clips)
        cache.data["text"] = recaption(tokenizer, text_model, cache.count, args.text_static_weight)
    del text_model
    silhouette_channels = TRANSFORMER_CONFIG["out_channels"] if args.silhouette_gain else 0
    extra_channels = args.layout_channels + silhouette_channels
    model = build_transformer(args.arch, extra_channels)
    if args.layout_channels:
        cache.ensure(args.clips)
        _, _, frames, h, _ = cache.data["latents"].shape
        cache.data["layout"] = layout_maps(cache.count, frames, h, args.layout_peak)[:, :args.layout_channels]
    if silhouette_channels:
        silhouettes = silhouette_maps(Path(args.cache), args.vae, cache.count, frames)
        cache.data["layout"] = torch.cat([cache.data["layout"], (args.silhouette_gain * silhouettes.float()).half()],
                                         dim=1)
    if args.init_from and not ckpt_path.exists():
        # a fine-tune starts from another run's EMA weights (what that run exported), input widened if needed
        init = torch.load(args.init_from, weights_only=False)
        weights = widen_input(init["ema"], model.config.in_channels)
        old_gain = init.get("silhouette_gain", 0.0)
        if silhouette_channels and old_gain:
            weights = regain_inputs(weights, silhouette_channels, old_gain, args.silhouette_gain)
        model.load_state_dict(weights)
        print(f"initialised from {args.init_from} (step {init['step']})", flush=True)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(args.seed)
    start = 0
    if ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        start = state["step"]
    print(f"{args.clips} clips, {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params", flush=True)
    with open(out / "log.jsonl", "a") as log:
        bar = tqdm(range(start, args.steps), initial=start, total=args.steps, desc="transformer", mininterval=5)
        t0 = time.time()
        for step in bar:
            decay = min(1.0, (args.steps - step) / (0.25 * args.steps))
            lr = args.lr * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * decay)
            for g in opt.param_groups:
                g["lr"] = lr
            cache.ensure(clips_at(step))
            if args.object_weight and ("masks" not in cache.data or cache.data["masks"].shape[0] < cache.count):
                _, _, frames, h, _ = cache.data["latents"].shape
                cache.data["masks"] = object_masks(cache.count, frames, h)
            x0, text, mask = sample_batch(cache.data, clips_at(step), uncond, gen, args.batch, args.dropout,
                                          args.layout_dropout)
            x0, layout = x0[:, :model.config.out_channels], x0[:, model.config.out_channels:]
            noise = video_noise(tuple(x0.shape), args.noise_correlation, gen)
            u = torch.sigmoid(torch.randn(args.batch, generator=gen) + args.sigma_shift)  # logit-normal
            sigma = args.sigma_max * shift_sigma(u, args.train_shift)
            s = sigma[:, None, None, None, None]
            xt = (1 - s) * x0 + s * noise
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                pred = model(torch.cat([xt, layout], dim=1), sigma * 1000.0, text, return_dict=False)[0]
            err = (pred.float() - (noise - x0)) ** 2
            if mask is None:
                loss = err.mean()
            else:
                weight = 1.0 + args.object_weight * mask
                loss = (err * weight).mean() / weight.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            decay = min(args.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                    pe.lerp_(pm, 1 - decay)
            log.write(json.dumps({"step": step + 1, "loss": float(loss.detach()), "lr": lr,
                                  "t": round(time.time() - t0, 1)}) + "\n")
            if (step + 1) % 20 == 0:
                log.flush()
            if (step + 1) % args.save_every == 0 or step + 1 == args.steps:
                tmp = ckpt_path.with_suffix(".tmp")
                torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                            "gen": gen.get_state(), "step": step + 1, "arch": args.arch,
                            "layout_channels": extra_channels, "layout_peak": args.layout_peak,
                            "silhouette_gain": args.silhouette_gain}, tmp)
                os.replace(tmp, ckpt_path)


def export(args: argparse.Namespace) -> None:
    """Assemble the pipeline directory: the EMA transformer, the exported VAE, the scheduler (and the layout
    planner, for a transformer trained with layout channels)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from generator.layout_planner import LayoutPlanner
    from generator.pipeline_videoguard import VideoguardTextToVideoPipeline

    state = torch.load(Path(args.out) / "ckpt.pt", weights_only=False)
    model = build_transformer(state.get("arch", "p4w256"), state.get("layout_channels", 0))
    model.load_state_dict(state[args.weights])
    if state.get("layout_channels", 0) and not args.layout_planner:
        raise ValueError("this transformer reads layout channels: pass --layout-planner (see train_layout_planner)")
    pipe = VideoguardTextToVideoPipeline(
        layout_planner=LayoutPlanner.from_pretrained(args.layout_planner) if args.layout_planner else None,
        transformer=model,
        vae=AutoencoderKL.from_pretrained(args.vae),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=args.shift),
        default_num_inference_steps=args.default_steps,
        default_guidance_scale=args.guidance,
        noise_correlation=args.noise_correlation,
        text_static_weight=args.text_static_weight,
        layout_peak=state.get("layout_peak", 1.0),
        silhouette_gain=state.get("silhouette_gain", 0.0),
        sketch_strength=args.sketch_strength,
    )
    pipe.save_pretrained(args.to)
    print(f"exported transformer step {state['step']} ({args.weights} weights) + {args.vae} -> {args.to}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=["cache", "train", "export"])
    p.add_argument("--vae", default="runs/vae/export")
    p.add_argument("--clips", type=int, default=1600)
    p.add_argument("--clips-at-start", type=int, default=300, help="train: clips used from step 0")
    p.add_argument("--clips-per-step", type=float, default=1.0, help="train: clips added per step")
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--num-shards", type=int, default=1)
    p.add_argument("--cache", default="runs/latents")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--sigma-shift", type=float, default=0.3)
    p.add_argument("--train-shift", type=float, default=1.0, help="train: time shift of the noise levels")
    p.add_argument("--sigma-max", type=float, default=1.0,
                   help="train: scale the noise levels into (0, sigma_max]; a pipeline that starts from its sketch "
                        "(sketch_strength < 1) only ever samples below the sketch's noise level, so a fine-tune for "
                        "it can spend every step there")
    p.add_argument("--noise-correlation", type=float, default=0.0,
                   help="train and export: share of the noise variance common to all frames")
    p.add_argument("--object-weight", type=float, default=0.0,
                   help="train: extra loss weight on latent pixels covered by an object (0 = plain loss)")
    p.add_argument("--text-static-weight", type=float, default=0.0,
                   help="train and export: share of the static word-piece embeddings added to the text states")
    p.add_argument("--layout-channels", type=int, default=0, choices=range(MAX_OBJECTS + 1),
                   help="train: layout heatmap channels concatenated to the latents (0 = the committed model)")
    p.add_argument("--layout-peak", type=float, default=1.0,
                   help="train: height of the layout heatmaps (recorded in the checkpoint and exported)")
    p.add_argument("--silhouette-gain", type=float, default=0.0,
                   help="train: also condition on the VAE latents of the objects' outlines, times this (0 = none; "
                        "needs --layout-channels 2 and --vae of the pipeline)")
    p.add_argument("--layout-dropout", type=float, default=0.1, help="train: share of samples without a layout")
    p.add_argument("--init-from", default=None,
                   help="train: checkpoint whose EMA weights start a new run (input widened with zero weights)")
    p.add_argument("--weights", choices=["ema", "model"], default="ema",
                   help="export: the EMA weights, or the raw ones (early in a fine-tune, when the EMA still lags)")
    p.add_argument("--layout-planner", default=None, help="export: directory of a trained LayoutPlanner")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default="p4w256", help="train: transformer shape")
    p.add_argument("--ema", type=float, default=0.998)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-bf16", dest="bf16", action="store_false")
    p.add_argument("--out", default="runs/transformer")
    p.add_argument("--to", default="generator/bundled")
    p.add_argument("--shift", type=float, default=2.0, help="scheduler shift written into the pipeline")
    p.add_argument("--default-steps", type=int, default=16)
    p.add_argument("--guidance", type=float, default=4.0)
    p.add_argument("--sketch-strength", type=float, default=1.0,
                   help="export: default sampling start (1 = pure noise; below 1 = the planner's sketch)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    {"cache": cache, "train": train, "export": export}[args.stage](args)


if __name__ == "__main__":
    main()
