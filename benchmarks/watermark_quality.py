"""Watermark invisibility: PSNR, SSIM and added flicker, ours (each carrier shape) against invisible-watermark
dwtDctSvd.

    .venv/bin/python benchmarks/watermark_quality.py --clips 8

Flicker is measured on the added signal d_t = marked_t - original_t (luma): the mean absolute frame-to-frame
change of d averaged over 16x16 blocks (what an eye sees as large-area flicker), in 8-bit levels, and the
largest such block change anywhere; also the largest per-pixel step and the share of frame-to-frame transitions
in which any 16x16 block steps by more than 1 level (v1 flickers at every slot boundary, the v2 doublet blinks
once a second with larger steps). A still mark scores 0; a per-frame watermark on moving content does not.

Temporal visibility (``flicker_jnd``), a stated model rather than a level count: the added signal in display
luminance (BT.1886-like display, gamma 2.4, black at 0.1 % of white) as a Weber contrast against the adapting
luminance, the local mean over about two cells but never below the clip's mean (a dark patch in a brighter scene
is seen at the scene's adaptation; contrast re a mean as in Watson & Ahumada's Spatial Standard Observer,
J. Vision 5(9), 2005),
weighted in the 3-D (time x space) Fourier domain by Kelly's spatio-temporal contrast sensitivity surface
(D. H. Kelly, "Motion and vision. II. Stabilized spatio-temporal threshold surface", JOSA 69(10):1340, 1979,
eq. 8: S = [6.1 + 7.3 |log10(v/3)|^3] v a^2 exp(-2 a (v+2)/45.9), a = 2 pi f_s, v = f_t / f_s; peak ~220),
split into octave channels (spatial 0.5-16 cpd x temporal 0.5-8 Hz) and pooled over channels per sample with a
Minkowski sum, exponent 4 (a channel model as in Daly's VDP, 1993). A sinusoid at threshold reads 1 (0.84-1
between channel centres), so the result is in just-noticeable differences (JND): >= 1 somewhere means the
model predicts the flicker is visible there. Stated choices:
temporal frequency 0 (the static part) is left out (that is what PSNR/SSIM measure); components below 0.5 cpd get
the 0.5 cpd sensitivity (the stabilised surface falls off below it, while large-field flicker does not: de Lange
1958); time is mirror-extended (no wrap-around step); no masking by the picture (texture and motion raise the
threshold, so outside flat areas the figure is an upper bound) and no probability summation (a peak read, which
under-counts a large area flickering together). Two viewing conditions, both at ITU-R BT.2022's 3-picture-height
distance of an HD display: the clip at native pixels (57 px/deg) and the clip scaled to the screen height
(13.5 px/deg, cells 1.2 deg). Reported: the largest |JND| anywhere and in flat areas (local luma deviation
< 3 levels, where masking does not apply), and the share of flat-area samples at >= 1 JND; the unmarked
clip's own temporal change through the same filter is the reference. With masking (``picture=``): each spatial
channel divided by the threshold elevation the unmarked picture's own contrast in that channel causes (Legge &
Foley 1980, exponent 0.7; orientation not split, so optimistic), for the whole frame.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from watermark_attacks import natural_clips  # noqa: E402

import watermark  # noqa: E402

LUMA = np.array([0.299, 0.587, 0.114])
VIEWING_PX_PER_DEG = {"native 57 px/deg": 1080 / 18.9, "full height 13.5 px/deg": 256 / 18.9}  # 3H of an HD display
_FS_FLOOR = 0.5  # cpd: below it the stabilised Kelly surface is not trusted (large-field flicker stays visible)
_FLAT_DEV = 3.0  # luma levels: local deviation under which an area counts as flat (no masking)
SPATIAL_CENTRES = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]  # cpd
TEMPORAL_CENTRES = [0.5, 1.0, 2.0, 4.0, 8.0]  # Hz
BETA = 4.0  # Minkowski exponent of the pooling over channels
MASK_HZ = 2.0  # temporal frequency at which the (mostly static) picture's contrast is weighted as a masker
MASK_SLOPE = 0.7  # threshold elevation exponent above the masker's own threshold


def kelly_sensitivity(fs: np.ndarray, ft: np.ndarray) -> np.ndarray:
    """Kelly (1979) eq. 8: contrast sensitivity at spatial frequency ``fs`` (cpd) and temporal ``ft`` (Hz)."""
    fs = np.maximum(fs, _FS_FLOOR)
    ft = np.maximum(ft, 1e-6)
    alpha, v = 2 * np.pi * fs, ft / fs
    return (6.1 + 7.3 * np.abs(np.log10(v / 3)) ** 3) * v * alpha**2 * np.exp(-2 * alpha * (v + 2) / 45.9)


def display_luminance(luma: np.ndarray) -> np.ndarray:
    """8-bit luma -> relative display luminance (white 1, black 0.001; gamma 2.4 as ITU-R BT.1886)."""
    return 0.001 + 0.999 * (np.asarray(luma, np.float64) / 255.0) ** 2.4


def log_bands(freq: np.ndarray, centres: list[float]) -> list[np.ndarray]:
    """Octave channels over |freq|: cos-shaped in log2, squared weights summing to 1 (a sinusoid between two
    centres splits as cos/sin); the first channel takes everything below its centre, the last everything above."""
    x = np.log2(np.maximum(np.abs(freq), 1e-9))
    bands = []
    for i, centre in enumerate(centres):
        d = x - np.log2(centre)
        w = np.where(np.abs(d) < 1, np.cos(np.pi * d / 2), 0.0)
        if i == 0:
            w = np.where(d < 0, 1.0, w)
        if i == len(centres) - 1:
            w = np.where(d > 0, 1.0, w)
        bands.append(w.astype(np.float32))
    return bands


def masking_elevation(picture: np.ndarray, band_s: np.ndarray, fs: np.ndarray) -> np.ndarray:
    """(T, H, W) picture contrast -> (T, H, W) threshold elevation in one spatial channel: the picture's own
    contrast in that channel in JND (weighted by Kelly's surface at ``MASK_HZ``: the picture is mostly static, and
    the stabilised surface at 0 Hz is not what a moving eye sees), raised to ``MASK_SLOPE`` above 1 (Legge & Foley,
    "Contrast masking in human vision", JOSA 70:1458, 1980; Daly's VDP, 1993). Orientation is not split, so
    masking across orientations within an octave counts fully (optimistic)."""
    weight = (kelly_sensitivity(fs, np.array(MASK_HZ)) * band_s).astype(np.float32)  # (H, W/2+1)
    masker = np.abs(np.fft.irfft2(np.fft.rfft2(picture.astype(np.float32)) * weight, s=picture.shape[1:]))
    return np.maximum(masker, 1.0) ** MASK_SLOPE


def csf_filter(contrast: np.ndarray, fps: float, px_per_deg: float, pooled: bool = True,
               picture: np.ndarray | None = None) -> np.ndarray:
    """(T, H, W) contrast -> (T, H, W) in JND: Kelly-weighted in the Fourier domain (time mirror-extended,
    temporal DC removed), split into octave channels in spatial and temporal frequency, pooled over channels per
    sample with a Minkowski sum (``BETA``). Why channels: one broadband filter adds a square wave's harmonics
    coherently and overestimates it, while detection follows the fundamental (Campbell & Robson, J. Physiol.
    197:551, 1968); channel models (Watson 1987 cortex transform, Daly 1993 VDP) pool across channels instead.
    ``pooled=False``: the single broadband filter (a sinusoid reads the same either way). ``picture`` (T, H, W):
    the unmarked picture's contrast; each spatial channel is then divided by its masking elevation."""
    t = len(contrast)
    ext = np.concatenate([contrast, contrast[::-1]]).astype(np.float32)  # (2T, H, W): no wrap-around step
    ft = np.abs(np.fft.fftfreq(2 * t, 1 / fps))
    fy = np.fft.fftfreq(contrast.shape[1]) * px_per_deg
    fx = np.fft.rfftfreq(contrast.shape[2]) * px_per_deg
    fs = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)  # (H, W/2+1)
    spec = np.fft.rfftn(ext) * kelly_sensitivity(fs[None], ft[:, None, None]).astype(np.float32)
    spec[ft == 0] = 0.0
    if not pooled:
        return np.fft.irfftn(spec, s=ext.shape, axes=(0, 1, 2))[:t]
    total = np.zeros(contrast.shape, np.float64)
    nyquist = px_per_deg / 2
    for band_s in log_bands(fs, [c for c in SPATIAL_CENTRES if c / 2 < nyquist]):
        elevation = 1.0 if picture is None else masking_elevation(picture, band_s, fs)
        for band_t in log_bands(ft, TEMPORAL_CENTRES):
            channel = np.fft.irfftn(spec * band_s[None] * band_t[:, None, None], s=ext.shape, axes=(0, 1, 2))[:t]
            total += (np.abs(channel) / elevation) ** BETA
    return total ** (1 / BETA)


def local_mean(lum: np.ndarray) -> np.ndarray:
    """(T, H, W) -> the local mean over about two cells (Gaussian sigma 1 cell): the adapting luminance."""
    sigma = lum.shape[1] / 16
    return np.stack([cv2.GaussianBlur(f.astype(np.float32), (0, 0), sigma) for f in lum]).astype(np.float64)


def flat_mask(luma: np.ndarray) -> np.ndarray:
    """(T, H, W) luma -> bool, True where the local deviation (Gaussian, ~1/3 cell) is under _FLAT_DEV levels."""
    sigma = luma.shape[1] / 16 / 3
    out = np.empty(luma.shape, bool)
    for i, y in enumerate(luma.astype(np.float32)):
        mean = cv2.GaussianBlur(y, (0, 0), sigma)
        dev = np.sqrt(np.maximum(cv2.GaussianBlur(y * y, (0, 0), sigma) - mean * mean, 0.0))
        out[i] = dev < _FLAT_DEV
    return out


def flicker_jnd(original: np.ndarray, marked: np.ndarray, fps: float = 24.0) -> dict[str, float]:
    """Temporal visibility of ``marked - original`` by Kelly's surface (see the module docstring), per viewing
    condition: the largest |JND| anywhere and in flat areas, the flat share at >= 1 JND, and the unmarked clip's
    own change (minus its temporal mean) through the same filter."""
    y_orig, y_mark = original.astype(np.float64) @ LUMA, marked.astype(np.float64) @ LUMA
    l_orig = display_luminance(y_orig)
    adapt = np.maximum(local_mean(l_orig), float(l_orig.mean()))  # (T, H, W) adapting luminance
    added = (display_luminance(y_mark) - l_orig) / adapt
    own = (l_orig - l_orig.mean(axis=0)) / adapt
    picture = (l_orig - adapt) / adapt  # the masker: the picture's own local contrast, frame by frame
    flat = flat_mask(y_orig)
    out: dict[str, float] = {"flat_share": float(flat.mean())}
    for view, ppd in VIEWING_PX_PER_DEG.items():
        jnd = np.abs(csf_filter(added, fps, ppd))
        out[f"{view}: max"] = float(jnd.max())
        out[f"{view}: flat max"] = float(jnd[flat].max()) if flat.any() else 0.0
        out[f"{view}: flat >=1"] = float(np.mean(jnd[flat] >= 1.0)) if flat.any() else 0.0
        out[f"{view}: content max"] = float(np.abs(csf_filter(own, fps, ppd)).max())
        masked = csf_filter(added, fps, ppd, picture=picture)
        out[f"{view}: masked max"] = float(masked.max())
        out[f"{view}: masked p99"] = float(np.quantile(masked, 0.99))
        out[f"{view}: masked >=1"] = float(np.mean(masked >= 1.0))
    return out


def quality(original: np.ndarray, marked: np.ndarray) -> dict[str, float | list[float]]:
    diff = marked.astype(np.float64) - original
    psnr = 10 * np.log10(255**2 / max(float(np.mean(diff**2)), 1e-12))
    frame_ssim = [structural_similarity(o, m, channel_axis=-1, data_range=255)
                  for o, m in zip(original, marked, strict=True)]
    ssim = float(np.mean(frame_ssim))
    # the clip figures average over frames; a carrier that marks few frames spends the budget on them, so the
    # worst single frame is reported too
    frame_mse = np.maximum(np.mean(diff**2, axis=(1, 2, 3)), 1e-12)
    added = diff @ LUMA  # (T, H, W)
    t, h, w = added.shape
    blocks = added[:, : h // 16 * 16, : w // 16 * 16].reshape(t, h // 16, 16, w // 16, 16).mean(axis=(2, 4))
    step = np.abs(np.diff(blocks, axis=0))  # (T-1, h/16, w/16)
    pixel_step = np.abs(np.diff(added, axis=0))  # (T-1, H, W)
    return {"psnr": psnr, "ssim": ssim, "flicker_mean": float(step.mean()), "flicker_max": float(step.max()),
            "pixel_step_max": float(pixel_step.max()), "pixel_step_p999": float(np.quantile(pixel_step, 0.999)),
            "stepping": float(np.mean(step.max(axis=(1, 2)) > 1.0)),
            "frame_psnr_min": float(10 * np.log10(255**2 / frame_mse.max())), "frame_ssim_min": float(min(frame_ssim)),
            # what a viewer who pauses (or a thumbnail) sees: the frames the carrier marks, each on its own
            "marked_psnr": [float(10 * np.log10(255**2 / mse)) for mse, f in zip(frame_mse, diff, strict=True)
                            if np.any(f)],
            "marked_ssim": [s for s, f in zip(frame_ssim, diff, strict=True) if np.any(f)]}


def _marked(rows: list[dict]) -> str:
    """Mean PSNR, mean SSIM and the share of SSIM < 0.99 over every marked frame of every clip."""
    psnr = [p for r in rows for p in r["marked_psnr"]]
    ssim = np.array([s for r in rows for s in r["marked_ssim"]])
    return f"{np.mean(psnr):.2f} / {ssim.mean():.4f} / {np.mean(ssim < 0.99):.2f}" if len(ssim) else "-"


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
          f"(99.9th pct) | transitions with a block step > 1 level | worst single frame: PSNR dB / SSIM | "
          f"marked frames alone: mean PSNR dB / mean SSIM / share with SSIM < 0.99 |"
          f"   ({args.clips} clips)")
    print("|---|---|---|---|---|---|---|---|")
    visibility: dict[str, list[dict[str, float]]] = {}
    for name, embed in methods.items():
        marked = [embed(c) for c in clips]
        rows = [quality(c, m) for c, m in zip(clips, marked, strict=True)]
        visibility[name] = [flicker_jnd(c, m) for c, m in zip(clips, marked, strict=True)]
        psnr, ssim = [r["psnr"] for r in rows], [r["ssim"] for r in rows]
        flicker_mean, flicker_max = [r["flicker_mean"] for r in rows], [r["flicker_max"] for r in rows]
        print(f"| {name} | {np.mean(psnr):.2f} ({min(psnr):.2f}) | {np.mean(ssim):.4f} ({min(ssim):.4f}) | "
              f"{np.mean(flicker_mean):.2f} / {max(flicker_max):.2f} | {max(r['pixel_step_max'] for r in rows):.0f} "
              f"({max(r['pixel_step_p999'] for r in rows):.1f}) | {np.mean([r['stepping'] for r in rows]):.2f} | "
              f"{min(r['frame_psnr_min'] for r in rows):.2f} / {min(r['frame_ssim_min'] for r in rows):.4f} | "
              f"{_marked(rows)} |")
    flat = [r["flat_share"] for r in next(iter(visibility.values()))]
    print(f"\nTemporal visibility, Kelly (1979) surface, in JND (>= 1: visible by the model; masking only in the "
          f"last column). Flat areas (local luma deviation < {_FLAT_DEV:g} levels) are {np.mean(flat):.0%} of the "
          f"samples (per clip {min(flat):.0%}-{max(flat):.0%}). Cells: mean over clips (worst clip).")
    print("| method | viewing | largest in flat areas | largest anywhere | flat samples >= 1 JND | "
          "the unmarked clip's own change, largest | visible by the model | with masking: largest / 99th pct / "
          "samples >= 1 JND |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rows in visibility.items():
        for view in VIEWING_PX_PER_DEG:
            def cell(key: str, rows: list[dict[str, float]] = rows, view: str = view, digits: int = 1) -> str:
                values = [r[f"{view}: {key}"] for r in rows]
                return f"{np.mean(values):.{digits}f} ({max(values):.{digits}f})"
            visible = sum(r[f"{view}: flat max"] >= 1.0 for r in rows)
            print(f"| {name} | {view} | {cell('flat max')} | {cell('max')} | {cell('flat >=1', digits=2)} | "
                  f"{cell('content max', digits=0)} | {visible} of {len(rows)} clips | {cell('masked max')} / "
                  f"{cell('masked p99')} / {cell('masked >=1', digits=2)} |")


if __name__ == "__main__":
    main()
