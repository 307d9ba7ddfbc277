"""The release's closed loop on the bundled generator's clips, per carrier shape (format version).

    .venv/bin/python benchmarks/watermark_release_loop.py --clips 8 --payloads 4

What the pipeline's ``_watermark_and_encode`` does (guard/pipeline.py), with ``watermark`` called directly so
each carrier shape can be measured on the same clips and payloads: embed -> ``write_mp4`` at the policy's CRF and
preset -> decode -> ``detect(frames, fps=...)``; when the payload does not come back, ``watermark.reinforce``
gives per-cell gains and the clip is embedded again from the unmarked frames, at most ``--attempts`` embeds
(optionally with the strength raised by ``--escalate`` from the third embed, up to ``--max-strength``). Reported
per carrier shape (the bundled clips are 8 fps, where format v2 draws the Manchester carrier, so the doublet is
measured here by name): how many (clip, payload) pairs read back after 1, 2, ... embeds, the PSNR of the released
mark, and the blind read (no frame rate) of the released file.

Clips: the bundled generator (17 frames, 128x128, 8 fps; a 1/6 s carrier slot is 1.3 frames), generated once and
cached (``--cache``), since generating costs far more than the loop.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import watermark  # noqa: E402
from guard.policy import load_policy  # noqa: E402
from guard.stages import Clip  # noqa: E402
from guard.video_io import read_video, write_mp4  # noqa: E402

PROMPTS = ("a red circle moving left", "a blue square moving right", "a green triangle moving up",
           "a yellow circle moving down")


def generated_clips(count: int, cache: Path, steps: int | None = None) -> list[Clip]:
    """``count`` bundled-generator clips (prompts cycled, seed = index; ``steps`` denoising steps, None: the
    model's default), from ``cache`` when it holds them."""
    if cache.is_file():
        stored = np.load(cache)
        if len(stored["fps"]) >= count:
            return [Clip(stored[f"clip{i}"], float(stored["fps"][i])) for i in range(count)]
    from guard.generator_stage import build_generator

    generate = build_generator(load_policy())
    clips = []
    for i in range(count):
        start = time.perf_counter()
        clips.append(generate(PROMPTS[i % len(PROMPTS)], seed=i, num_inference_steps=steps))
        print(f"  generated clip {i + 1}/{count} in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"clip{i}": c.frames for i, c in enumerate(clips)}
    np.savez_compressed(cache, fps=np.array([c.fps for c in clips]), **arrays)
    return clips


def release(clip: Clip, payload: bytes, shape: str, attempts: int, crf: int, preset: str, escalate: float,
            max_strength: float) -> tuple[int, float, float]:
    """The closed loop for one clip and payload: (embeds used, 0 if it never read back; PSNR dB; blind p)."""
    gain, strength = None, watermark.DEFAULT_STRENGTH
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        for attempt in range(1, attempts + 1):
            if attempt >= 3:
                strength = min(strength * escalate, max(max_strength, watermark.DEFAULT_STRENGTH))
            marked = watermark.embed(clip.frames, payload, fps=clip.fps, strength=strength, cell_gain=gain,
                                     carrier_shape=None if shape == "default" else shape)
            write_mp4(Clip(marked, clip.fps), path, crf=crf, preset=preset)
            received = read_video(path)
            mse = float(np.mean((marked.astype(np.float64) - clip.frames) ** 2))
            psnr = 10 * np.log10(255**2 / max(mse, 1e-12))
            if watermark.detect(received.frames, fps=received.fps).payload == payload:
                return attempt, psnr, watermark.detect(received.frames).p_value
            if attempt < attempts:
                gain = watermark.reinforce(clip.frames, marked, received.frames, payload, fps=clip.fps,
                                           cell_gain=gain, carrier_shape=None if shape == "default" else shape)
    return 0, psnr, watermark.detect(received.frames).p_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--payloads", type=int, default=4, help="random payloads per clip")
    parser.add_argument("--attempts", type=int, default=3, help="embeds before the release is refused")
    parser.add_argument("--escalate", type=float, default=1.0, help="strength factor per embed from the third on")
    parser.add_argument("--max-strength", type=float, default=3.3)
    parser.add_argument("--steps", type=int, default=None, help="generator denoising steps (default: the model's)")
    parser.add_argument("--shapes", default=",".join(watermark.CARRIER_SHAPES),
                        help="carrier shapes; 'default' is format v2's choice at the clip's frame rate (Manchester "
                             "below 12 fps)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "videoguard_bundled_clips.npz")
    args = parser.parse_args()
    policy = load_policy()
    crf, preset = int(policy.output.crf), str(policy.output.preset)
    clips = generated_clips(args.clips, args.cache, args.steps)
    rng = np.random.default_rng(0)
    payloads = [[rng.bytes(watermark.PAYLOAD_BYTES) for _ in range(args.payloads)] for _ in clips]
    print(f"{len(clips)} bundled-generator clips ({clips[0].frames.shape[0]} frames, {clips[0].frames.shape[2]}x"
          f"{clips[0].frames.shape[1]}, {clips[0].fps:g} fps) x {args.payloads} payloads; release encode CRF {crf} "
          f"{preset}; at most {args.attempts} embeds, escalation x{args.escalate:g} from the third; generator steps "
          f"{args.steps or 'default'}")
    print("| shape | read back after 1 / 2 / ... embeds (cumulative) | refused | PSNR dB mean (min) | blind p < 1e-6 |")
    print("|---|---|---|---|---|")
    for shape in args.shapes.split(","):
        used, psnrs, blind = [], [], []
        for clip, clip_payloads in zip(clips, payloads, strict=True):
            for payload in clip_payloads:
                n, psnr, p_blind = release(clip, payload, shape, args.attempts, crf, preset, args.escalate,
                                           args.max_strength)
                used.append(n)
                psnrs.append(psnr)
                blind.append(p_blind < 1e-6)
        used_arr = np.array(used)
        cumulative = " / ".join(str(int(np.sum((used_arr > 0) & (used_arr <= k)))) for k in range(1, args.attempts + 1))
        print(f"| {shape} | {cumulative} of {len(used)} | {int(np.sum(used_arr == 0))} "
              f"| {np.mean(psnrs):.2f} ({min(psnrs):.2f}) | {int(np.sum(blind))} of {len(blind)} |", flush=True)


if __name__ == "__main__":
    main()
