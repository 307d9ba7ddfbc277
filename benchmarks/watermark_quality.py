"""Watermark invisibility: PSNR, SSIM and added flicker, ours (each carrier shape) against invisible-watermark
dwtDctSvd.

    .venv/bin/python benchmarks/watermark_quality.py --clips 8

Flicker is measured on the added signal d_t = marked_t - original_t (luma): the mean absolute frame-to-frame
change of d averaged over 16x16 blocks (what an eye sees as large-area flicker), in 8-bit levels, and the
largest such block change anywhere; also the largest per-pixel step and the share of frame-to-frame transitions
in which any 16x16 block steps by more than 1 level (v1 flickers at every slot boundary, the v2 doublet blinks
once a second with larger steps). A still mark scores 0; a per-frame watermark on moving content does not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from watermark_attacks import natural_clips  # noqa: E402

import watermark  # noqa: E402

LUMA = np.array([0.299, 0.587, 0.114])


def quality(original: np.ndarray, marked: np.ndarray) -> dict[str, float]:
    diff = marked.astype(np.float64) - original
    psnr = 10 * np.log10(255**2 / max(float(np.mean(diff**2)), 1e-12))
    ssim = float(np.mean([structural_similarity(o, m, channel_axis=-1, data_range=255)
                          for o, m in zip(original, marked, strict=True)]))
    added = diff @ LUMA  # (T, H, W)
    t, h, w = added.shape
    blocks = added[:, : h // 16 * 16, : w // 16 * 16].reshape(t, h // 16, 16, w // 16, 16).mean(axis=(2, 4))
    step = np.abs(np.diff(blocks, axis=0))  # (T-1, h/16, w/16)
    pixel_step = np.abs(np.diff(added, axis=0))  # (T-1, H, W)
    return {"psnr": psnr, "ssim": ssim, "flicker_mean": float(step.mean()), "flicker_max": float(step.max()),
            "pixel_step_max": float(pixel_step.max()), "pixel_step_p999": float(np.quantile(pixel_step, 0.999)),
            "stepping": float(np.mean(step.max(axis=(1, 2)) > 1.0))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=8)
    args = parser.parse_args()
    clips = natural_clips(args.clips)
    payload = np.random.default_rng(0).integers(0, 2, 64).astype(np.uint8)
    methods = {f"videoguard, {shape} carrier":
               (lambda c, s=shape: watermark.embed(c, np.packbits(payload).tobytes(), fps=24.0, carrier_shape=s))
               for shape in watermark.CARRIER_SHAPES}
    try:
        from imwatermark import WatermarkEncoder

        def dwt_dct_svd(c: np.ndarray) -> np.ndarray:
            encoder = WatermarkEncoder()
            encoder.set_watermark("bits", payload.tolist())
            return np.stack([encoder.encode(f[..., ::-1].copy(), "dwtDctSvd")[..., ::-1] for f in c])

        methods["invisible-watermark dwtDctSvd"] = dwt_dct_svd
    except ImportError:
        print("NOTE: invisible-watermark not installed; baseline skipped "
              "(.venv/bin/pip install --no-deps invisible-watermark PyWavelets)", file=sys.stderr)
    print(f"| method | PSNR dB (min) | SSIM (min) | flicker mean / max (levels, 16x16 blocks) | largest pixel step "
          f"(99.9th pct) | transitions with a block step > 1 level |   ({args.clips} clips)")
    print("|---|---|---|---|---|---|")
    for name, embed in methods.items():
        rows = [quality(c, embed(c)) for c in clips]
        psnr, ssim = [r["psnr"] for r in rows], [r["ssim"] for r in rows]
        flicker_mean, flicker_max = [r["flicker_mean"] for r in rows], [r["flicker_max"] for r in rows]
        print(f"| {name} | {np.mean(psnr):.2f} ({min(psnr):.2f}) | {np.mean(ssim):.4f} ({min(ssim):.4f}) | "
              f"{np.mean(flicker_mean):.2f} / {max(flicker_max):.2f} | {max(r['pixel_step_max'] for r in rows):.0f} "
              f"({max(r['pixel_step_p999'] for r in rows):.1f}) | {np.mean([r['stepping'] for r in rows]):.2f} |")


if __name__ == "__main__":
    main()
