"""Two diagnostics for the bundled generator's missed shape and motion adherence (issue 4): where is it lost?

1. ``vae``: the OpenCV analyser on the procedural renders of the evaluation prompts and on the same clips
   passed through the bundled VAE (encode, decode). If the VAE already lost shape or motion, no transformer
   could produce them; if not, the transformer is what misses.
2. ``words``: how far each kind of word moves the generated latents. The same seed and one base caption
   ("a red square moving right"), with one word swapped at a time: three other colours, three other shapes,
   three other motions. The RMS difference of the final latents from the base caption's, per swapped word, next
   to the latents' own RMS. A word the model ignores moves nothing.

    OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/generator_probe.py --prompts 48 --seeds 0 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generator_eval import eval_prompts  # noqa: E402

from generator.adapters import bundled_model_dir  # noqa: E402
from generator.analyzer import analyse  # noqa: E402
from generator.pipeline_videoguard import VideoguardTextToVideoPipeline  # noqa: E402
from generator.scenes import make_scene, render  # noqa: E402
from generator.train_vae import to_tensor  # noqa: E402

BASE = ("red", "square", "moving right")
SWAPS = {"colour": ("blue", "green", "yellow"), "shape": ("circle", "triangle", "star"),
         "motion": ("moving left", "moving up", "falling downward")}


def vae_ruler(pipe: VideoguardTextToVideoPipeline, count: int, triples_from: str) -> None:
    keys = ("colour", "shape", "motion")
    renders, recons = np.zeros(3), np.zeros(3)
    for _, triple, seed in eval_prompts(count, triples_from):
        frames = render(make_scene(seed, triple=triple, two_objects=False))  # (T, H, W, 3) uint8
        with torch.no_grad():
            rec = pipe.vae.decode(pipe.vae.encode(to_tensor(frames)).latent_dist.mode()).sample
        rec_frames = ((rec.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        for total, clip in ((renders, frames), (recons, rec_frames)):
            got = analyse(clip)
            total += [got.colour == triple[0], got.shape == triple[1], got.motion == triple[2]]
    print(f"analyser, {count} {triples_from} prompts: " + ", ".join(
        f"{k} renders {renders[i] / count:.3f} / VAE reconstructions {recons[i] / count:.3f}"
        for i, k in enumerate(keys)))


def word_sensitivity(pipe: VideoguardTextToVideoPipeline, seeds: list[int]) -> None:
    captions = [" ".join(("a",) + BASE)]
    for i, kind in enumerate(SWAPS):
        for word in SWAPS[kind]:
            parts = list(BASE)
            parts[i] = word
            captions.append(" ".join(["a", *parts]))
    for seed in seeds:
        latents = torch.cat([pipe([c], generator=torch.Generator().manual_seed(seed), output_type="latent")
                             .frames.float() for c in captions])
        moved = [float((latents[k] - latents[0]).pow(2).mean().sqrt()) for k in range(1, len(captions))]
        parts = [f"{kind} " + " ".join(f"{w}={moved[3 * i + j]:.2f}" for j, w in enumerate(SWAPS[kind]))
                 for i, kind in enumerate(SWAPS)]
        print(f"seed {seed}: latent RMS {float(latents[0].pow(2).mean().sqrt()):.2f}; moved by " + "; ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(bundled_model_dir()))
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--triples", choices=("held-out", "seen"), default="held-out")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["vae", "words"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = VideoguardTextToVideoPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    if "vae" not in args.skip:
        vae_ruler(pipe, args.prompts, args.triples)
    if "words" not in args.skip:
        word_sensitivity(pipe, args.seeds)


if __name__ == "__main__":
    main()
