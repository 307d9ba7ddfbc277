"""Benchmark of the bundled generator: prompt adherence, VAE reconstruction, speed.

Adherence: captions of held-out colour-shape-motion triples (never seen in training), one clip each,
read back by the OpenCV analyser (generator/analyzer.py); "correct" means the analyser's colour,
shape and motion equal the prompt's. The analyser's own accuracy on the procedural renders of the
same prompts is reported beside it, so a miss can be blamed on the model, not the ruler. Rotating
circles are left out: rotation of a disc is invisible. The background's colour is compared with the render's
(the caption names it; nothing else here scores it).

Speed: one clip at default settings, text encoding + denoising and VAE decoding timed separately, and
as ratios to a fixed numpy reference measured in the same run (a 512x512 float32 matmul x 20) so
figures from a loaded machine can be compared.

    .venv/bin/python benchmarks/generator_eval.py --prompts 200 --threads 2 --grid docs/generator_samples.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.adapters import bundled_model_dir  # noqa: E402
from generator.analyzer import analyse  # noqa: E402
from generator.layout_planner import SILHOUETTE_SIZE, scene_layout, scene_silhouette_targets  # noqa: E402
from generator.pipeline_videoguard import VideoguardTextToVideoPipeline  # noqa: E402
from generator.scenes import HELD_OUT_TRIPLES, TRAIN_TRIPLES, make_scene, render  # noqa: E402
from generator.train_vae import eval_psnr  # noqa: E402

GRID_PROMPTS = (
    "a red circle moving right",
    "a blue square moving up",
    "a yellow star rotating",
    "a green triangle falling downward",
    "a purple ball bouncing",
    "a cyan square growing",
)


def numpy_reference() -> float:
    a = np.random.default_rng(0).random((512, 512), dtype=np.float32)
    t = time.perf_counter()
    for _ in range(20):
        a = (a @ a) / 512.0
    return time.perf_counter() - t


def eval_prompts(count: int, triples_from: str = "held-out",
                 seed_base: int | None = None) -> list[tuple[str, tuple[str, str, str], int]]:
    """``count`` (caption, triple, scene seed) for held-out triples, cycling through them.

    ``triples_from="seen"`` takes training triples (with scene seeds training never used) instead: that
    is the split for choosing sampling settings, so the held-out figures stay blind. ``seed_base`` draws
    other scenes and captions of the same triples: a fresh set once the default one has been looked at."""
    pool = HELD_OUT_TRIPLES if triples_from == "held-out" else TRAIN_TRIPLES
    triples = sorted(t for t in pool if not (t[1] == "circle" and t[2] == "rotating"))
    if triples_from == "seen":
        triples = [triples[(i * 37) % len(triples)] for i in range(len(triples))]  # spread over colours
    out = []
    base = seed_base if seed_base is not None else 30_000_000 if triples_from == "held-out" else 31_000_000
    for i in range(count):
        seed = base + i
        scene = make_scene(seed, triple=triples[i % len(triples)], two_objects=False)
        out.append((scene.caption, triples[i % len(triples)], seed))
    return out


def border_colour(video: np.ndarray, ring: int = 8) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (3,) median RGB of the outer ``ring`` pixels of every frame: the background's colour
    (objects keep inside the frame; the median ignores one that reaches the edge)."""
    mask = np.ones(video.shape[1:3], bool)
    mask[ring:-ring, ring:-ring] = False
    return np.median(video[:, mask].reshape(-1, 3), axis=0)


def adherence(pipe: VideoguardTextToVideoPipeline, count: int, steps: int | None, guidance: float | None,
              batch: int, start: int = 0, stop: int | None = None, frame_stride: int = 1,
              triples_from: str = "held-out", layout: str = "planner", strength: float | None = None,
              seed_base: int | None = None) -> list[dict]:
    """One record per prompt in ``[start, stop)`` of the ``count`` evaluation prompts.

    For a layout-conditioned pipeline, ``layout`` says what it draws: its planner's layout (the product),
    the scene's true layout ("truth": the renderer alone, planner errors excluded) or none ("none": zeros).
    ``strength``: where sampling starts (the pipeline's default when None; a given layout starts from noise)."""
    prompts = eval_prompts(count, triples_from, seed_base)[start:stop]
    records: list[dict] = []
    for offset in range(0, len(prompts), batch):
        chunk = prompts[offset : offset + batch]
        gen = torch.Generator().manual_seed(start + offset)
        given = None
        if pipe.layout_channels and layout != "planner":
            scenes = [make_scene(seed, triple=triple, two_objects=False) for _, triple, seed in chunk]
            truth = [scene_layout(scene) for scene in scenes]
            outlines = [scene_silhouette_targets(scene, SILHOUETTE_SIZE) for scene in scenes]
            size = pipe.config.default_size // pipe.vae_scale_factor
            given = pipe.draw_layout(torch.stack([t for t, _ in truth]), torch.stack([p for _, p in truth]),
                                     pipe.config.default_num_frames, (size, size),
                                     torch.stack([o[0] for o in outlines]), torch.stack([o[2] for o in outlines]))
            given = given * (layout == "truth")
        latents = pipe([c for c, _, _ in chunk], num_inference_steps=steps, guidance_scale=guidance,
                       generator=gen, output_type="latent", layout=given,
                       strength=1.0 if given is not None and strength is None else strength).frames  # (B, C, T, h, w)
        # The VAE decodes frame by frame, so decoding every ``frame_stride``-th latent frame gives exactly
        # those frames of the full clip, at a fraction of the cost (the analyser needs only the track).
        videos = pipe.decode_latents(latents[:, :, ::frame_stride])  # (B, T', H, W, 3) uint8
        for (caption, triple, seed), video in zip(chunk, videos, strict=True):
            got = analyse(video)
            rendered = render(make_scene(seed, triple=triple, two_objects=False))[::frame_stride]
            truth = analyse(rendered)
            want_background = border_colour(rendered)
            records.append({"caption": caption, "want": list(triple), "got": [got.colour, got.shape, got.motion],
                            "ruler": [truth.colour, truth.shape, truth.motion],
                            "background_error": float(np.abs(border_colour(video) - want_background).mean()),
                            "grey_background_error": float(np.abs(127.5 - want_background).mean())})
        print(f"  {start + offset + len(chunk)}/{count} " + json.dumps(summarise(records)["accuracy"]), flush=True)
    return records


def summarise(records: list[dict]) -> dict:
    keys = ("colour", "shape", "motion")
    n = max(len(records), 1)
    misses: Counter[str] = Counter()
    per_motion: dict[str, list[int]] = {}
    for r in records:
        for i, key in enumerate(keys):
            if r["got"][i] != r["want"][i]:
                misses[f"{key}: {r['want'][i]} -> {r['got'][i]}"] += 1
        tally = per_motion.setdefault(r["want"][2], [0, 0])
        tally[0] += int(r["got"][2] == r["want"][2])
        tally[1] += 1
    return {
        "prompts": len(records),
        "accuracy": {k: sum(r["got"][i] == r["want"][i] for r in records) / n for i, k in enumerate(keys)},
        "all_three": sum(r["got"] == r["want"] for r in records) / n,
        "analyser_on_renders": {k: sum(r["ruler"][i] == r["want"][i] for r in records) / n
                                for i, k in enumerate(keys)},
        "motion_breakdown": {m: f"{a}/{t}" for m, (a, t) in sorted(per_motion.items())},
        # the background's colour against the render's (mean absolute RGB difference of the border's median, in
        # 8-bit levels), and what a plain mid-grey background would score: nothing else scores backgrounds
        "background_error": float(np.mean([r.get("background_error", np.nan) for r in records])),
        "grey_background_error": float(np.mean([r.get("grey_background_error", np.nan) for r in records])),
        "top_misses": misses.most_common(12),
    }


def speed(pipe: VideoguardTextToVideoPipeline, repeats: int = 3) -> dict:
    reference = min(numpy_reference() for _ in range(3))
    denoise, decode = [], []
    for r in range(repeats):
        gen = torch.Generator().manual_seed(r)
        t0 = time.perf_counter()
        latents = pipe("a red circle moving left", generator=gen, output_type="latent").frames
        t1 = time.perf_counter()
        frames = pipe.decode_latents(latents)
        t2 = time.perf_counter()
        denoise.append(t1 - t0)
        decode.append(t2 - t1)
    d, v = float(np.median(denoise)), float(np.median(decode))
    return {
        "clip_shape": list(frames[0].shape),
        "steps": pipe.config.default_num_inference_steps,
        "guidance": pipe.config.default_guidance_scale,
        "numpy_reference_s": reference,
        "text_and_denoise_s": d,
        "vae_decode_s": v,
        "total_s": d + v,
        "total_over_reference": (d + v) / reference,
        "denoise_over_reference": d / reference,
        "decode_over_reference": v / reference,
    }


def grid(pipe: VideoguardTextToVideoPipeline, path: str) -> None:
    rows = []
    for i, prompt in enumerate(GRID_PROMPTS):
        video = pipe(prompt, generator=torch.Generator().manual_seed(i)).frames[0]  # (T, H, W, 3)
        tiles = np.concatenate([video[t] for t in (0, 4, 8, 12, 16)], axis=1)  # (H, 5W, 3)
        label = np.full((18, tiles.shape[1], 3), 255, np.uint8)
        cv2.putText(label, prompt, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([label, tiles], axis=0))
    image = np.concatenate(rows, axis=0)
    cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {path} {image.shape}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(bundled_model_dir()))
    p.add_argument("--prompts", type=int, default=200)
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the pipeline's)")
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--strength", type=float, default=None,
                   help="sketch strength (1 = from noise; default: the pipeline's sketch_strength)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frame-stride", type=int, default=1,
                   help="analyse every n-th frame (decoded alone; identical to those frames of the full clip)")
    p.add_argument("--psnr-clips", type=int, default=24)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--grid", default=None, help="write a PNG grid of sample frames here")
    p.add_argument("--skip", nargs="*", default=[], choices=["adherence", "psnr", "speed"])
    p.add_argument("--range", nargs=2, type=int, default=None, metavar=("START", "STOP"),
                   help="evaluate only these prompts (to split the run over processes)")
    p.add_argument("--merge", nargs="+", default=None, help="merge the adherence records of these JSON files")
    p.add_argument("--json", default=None, help="also write the results as JSON here")
    p.add_argument("--triples", choices=["held-out", "seen"], default="held-out",
                   help="seen: training triples with unseen scenes, for choosing sampling settings")
    p.add_argument("--seed-base", type=int, default=None,
                   help="first scene seed (default 30,000,000 held-out, 31,000,000 seen): other scenes and captions")
    p.add_argument("--layout", choices=["planner", "truth", "none"], default="planner",
                   help="layout-conditioned pipelines: draw the planner's layout, the scene's true one, or none")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.merge:
        records = [r for path in args.merge for r in json.loads(Path(path).read_text())["records"]]
        print(json.dumps(summarise(records), indent=1))
        return
    pipe = VideoguardTextToVideoPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    results: dict = {"model": args.model, "threads": args.threads}
    if "speed" not in args.skip:
        results["speed"] = speed(pipe)
        print(json.dumps(results["speed"], indent=1), flush=True)
    if "psnr" not in args.skip:
        results["vae_psnr_db"] = eval_psnr(pipe.vae, clips=args.psnr_clips, offset=1000)
        print(f"VAE PSNR on {args.psnr_clips} held-out clips: {results['vae_psnr_db']:.2f} dB", flush=True)
    if "adherence" not in args.skip:
        start, stop = args.range or (0, args.prompts)
        results["records"] = adherence(pipe, args.prompts, args.steps, args.guidance, args.batch, start, stop,
                                       args.frame_stride, args.triples, args.layout, args.strength,
                                       args.seed_base)
        results["adherence"] = summarise(results["records"])
        print(json.dumps(results["adherence"], indent=1), flush=True)
    if args.grid:
        grid(pipe, args.grid)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
