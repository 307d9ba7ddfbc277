"""Probe for issue 6: would a static (non-flickering) mark component, or another temporal shape of the flicker,
survive H.264/H.265 CRF 40 better than the `io.videoguard.wm.v1` flicker at the same mark energy?

    .venv/bin/python benchmarks/watermark_static_probe.py --probe static --clips 8
    .venv/bin/python benchmarks/watermark_static_probe.py --probe amplitude --clips 4
    .venv/bin/python benchmarks/watermark_static_probe.py --probe shape --clips 8

Every figure is a per-cell SNR of an oracle read (known payload, whole-frame geometry, no decoding): the mean of
(cell value of the marked clip's read minus the unmarked clip's read) along the true cell signs, over the standard
deviation of the unmarked clip's cell values, both clips through the same attack. It isolates what survives the
codec from the rest of the detector (geometry search, carrier estimation, Viterbi), so it is an upper bound on
what a detector built on that read could do, and a fair comparison between reads at equal mark energy.

- ``static``: the same cell field embedded with a constant carrier (a static mark) at the same PSNR budget, read
  against a motion-compensated panorama of the shot (each frame minus the panorama with its own contribution
  taken out), optionally with every frame's placement refined by ECC against the panorama (``--ecc``: better,
  5-10 s per clip). The flicker is read as the detector does with the keyed carrier (9-frame motion-aligned
  high-pass). The "split" column is the SNR a 50/50 energy split between the two would give if both reads were
  combined optimally (independent noise): sqrt(f^2 / 2 + s^2 / 2).
- ``amplitude``: the fraction of the flicker's clean read that survives the codec at 0.5x, 1x, 2x and 4x the
  default strength (dead-zone quantisation: does the kept fraction grow with the amplitude?).
- ``shape``: the same energy with sparser temporal shapes (ternary pulses +s, 0, ..., -s, 0, ...).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import watermark_attacks as wa  # noqa: E402

import watermark  # noqa: E402
import watermark.detector as det  # noqa: E402
import watermark.embedder as emb  # noqa: E402
from watermark.layout import CARRIER_HZ, DEFAULT_KEY, GRID, _rng  # noqa: E402

FPS = 24.0
PAYLOAD = bytes(range(8))
Carrier = Callable[..., np.ndarray]
# the combined attack without its crop (a crop moves the cells, which the oracle read at whole-frame geometry
# cannot follow); the brightness and the codec are what limit it
wa.ATTACKS.setdefault("h264_crf30+brightness_0.5",
                      wa._chain(wa._pixel(lambda x: x * 0.5), wa._codec("libx264", 30)))


def _cells(values: np.ndarray) -> np.ndarray:
    """(A, A) -> (CELLS,) mean of each cell's inner part (the read area the detector uses)."""
    side = values.shape[-1] // GRID
    inset = max(1, round(det.CELL_INSET * side))
    return values.reshape(GRID, side, GRID, side)[:, inset:-inset, :, inset:-inset].mean(axis=(1, 3)).reshape(-1)


def _snr(marked: np.ndarray, clean: np.ndarray, sequence: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Oracle per-cell SNR of residuals (T, A, A) demodulated by ``sequence`` (T,)."""
    signs = emb.cell_signs(PAYLOAD)
    w = np.ones(marked.shape[1:], np.float32) if weights is None else weights / weights.mean()
    mark = np.tensordot(sequence, marked, axes=1) * w
    noise = np.tensordot(sequence, clean, axes=1) * w
    return float(_cells(mark - noise) @ signs / len(signs) / max(float(_cells(noise).std()), 1e-12))


def _embed(clip: np.ndarray, carrier: Carrier, strength: float = emb.DEFAULT_STRENGTH) -> np.ndarray:
    """``watermark.embed`` with another temporal carrier (the embedder's own budget scaling is kept)."""
    original = emb.carrier
    emb.carrier = carrier
    try:
        return watermark.embed(clip, PAYLOAD, fps=FPS, strength=strength)
    finally:
        emb.carrier = original


def _constant(num_frames: int, fps: float, key: bytes = DEFAULT_KEY) -> np.ndarray:
    return np.ones(num_frames, np.float32)


def _pulses(pattern: list[float]) -> Carrier:
    """A keyed ternary carrier: ``pattern`` over consecutive 1/CARRIER_HZ slots, its sign keyed per repetition."""
    shape = np.array(pattern, np.float32)

    def carrier(num_frames: int, fps: float, key: bytes = DEFAULT_KEY) -> np.ndarray:
        slot = np.floor(np.arange(num_frames) * CARRIER_HZ / fps).astype(np.int64)
        group = slot // len(shape)
        signs = _rng(key, "carrier").choice(np.array([-1.0, 1.0], np.float32), int(group[-1]) + 1)
        return (signs[group] * shape[slot % len(shape)]).astype(np.float32)

    return carrier


def panorama_residual(luma: np.ndarray, ecc_iterations: int = 0) -> np.ndarray:
    """(T, A, A) -> (T, A, A): each frame minus the motion-compensated panorama of its shot without itself.

    What moves with the picture cancels; a mark fixed to the frame is smeared over the panorama by the camera
    motion and so stays in the residual (a static camera leaves it nothing to work with).
    """
    out = np.zeros_like(luma)
    side = luma.shape[1]
    square = np.array([[0, 0, 1], [side, 0, 1], [0, side, 1], [side, side, 1]], float)
    for shot in det.shots(luma):
        part = luma[shot]
        if len(part) < 3:
            continue
        to_frame = [np.eye(3)]
        for t in range(len(part) - 1):
            to_frame.append(det._step_motion(part[t], part[t + 1]) @ to_frame[-1])
        placements = [np.linalg.inv(m) for m in to_frame]  # frame t -> frame 0 coordinates
        corners = np.concatenate([(square @ m.T)[:, :2] for m in placements])
        lo, hi = np.maximum(corners.min(0), -side), np.minimum(corners.max(0), 2 * side)
        size = (int(np.ceil(hi[0] - lo[0])), int(np.ceil(hi[1] - lo[1])))
        shift = np.array([[1, 0, -lo[0]], [0, 1, -lo[1]], [0, 0, 1]])
        placements = [shift @ m for m in placements]  # frame t -> canvas
        for iteration in range(ecc_iterations + 1):
            total = np.zeros((size[1], size[0]), np.float32)
            count = np.zeros_like(total)
            for frame, placement in zip(part, placements, strict=True):
                warped = cv2.warpAffine(frame, placement[:2], size, flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
                seen = warped == warped
                total += np.where(seen, warped, 0.0)
                count += seen
            if iteration == ecc_iterations:
                break
            canvas = total / np.maximum(count, 1)
            for t, frame in enumerate(part):
                try:
                    _, refined = cv2.findTransformECC(
                        frame, canvas, placements[t][:2].astype(np.float32), cv2.MOTION_AFFINE,
                        (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-5), None, 1)
                    placements[t] = np.vstack([refined, [0.0, 0.0, 1.0]])
                except cv2.error:
                    pass  # keep the tracked placement
        for t, frame in enumerate(part):
            back = np.linalg.inv(placements[t])[:2]  # canvas -> frame t
            others = cv2.warpAffine(total, back, (side, side), flags=cv2.INTER_LINEAR) - frame
            seen = cv2.warpAffine(count, back, (side, side), flags=cv2.INTER_LINEAR) - 1.0
            content = np.where(seen > 0.5, others / np.maximum(seen, 1e-3), frame)
            out[shot.start + t] = frame - content
    out -= out.mean(axis=(1, 2), keepdims=True)
    return out


def _attacker(name: str, clip_index: int) -> Callable[[np.ndarray], np.ndarray]:
    """The benchmark's attack ``name`` with the benchmark's per-clip seed (the same for marked and unmarked)."""
    return lambda frames: wa.ATTACKS[name](frames, FPS, np.random.default_rng(2000 + clip_index))[0]


def _luma(frames: np.ndarray) -> np.ndarray:
    return det.analysis_luma(frames)


def probe_static(clips: list[np.ndarray], attacks: list[str], ecc: bool) -> None:
    keyed = emb.carrier
    for i, clip in enumerate(clips):
        flicker, static = watermark.embed(clip, PAYLOAD, fps=FPS), _embed(clip, _constant)
        sequence = keyed(len(clip), FPS)
        for attack in attacks:
            attacked = _attacker(attack, i)
            unmarked = _luma(attacked(clip))
            flicker_res = det.temporal_residual(_luma(attacked(flicker)))
            f = _snr(flicker_res, det.temporal_residual(unmarked), sequence, det.pixel_weights(flicker_res))
            marked_res = panorama_residual(_luma(attacked(static)), 2 if ecc else 0)
            s = _snr(marked_res, panorama_residual(unmarked, 2 if ecc else 0), np.ones(len(clip)),
                     det.pixel_weights(marked_res))
            print(f"clip {i} {attack:26s} flicker {f:6.2f}  static{' (ecc)' if ecc else ''} {s:6.2f}  "
                  f"50/50 split {np.sqrt(0.5 * f * f + 0.5 * max(s, 0.0) ** 2):6.2f}", flush=True)


def probe_amplitude(clips: list[np.ndarray], attacks: list[str]) -> None:
    sequence = emb.carrier
    for i, clip in enumerate(clips):
        car = sequence(len(clip), FPS)
        base = det.temporal_residual(_luma(clip))
        for attack in attacks:
            attacked = _attacker(attack, i)
            unmarked = det.temporal_residual(_luma(attacked(clip)))
            row = []
            for factor in (0.5, 1.0, 2.0, 4.0):
                marked = watermark.embed(clip, PAYLOAD, fps=FPS, strength=emb.DEFAULT_STRENGTH * factor)
                signs = emb.cell_signs(PAYLOAD)
                clean = _cells(np.tensordot(car, det.temporal_residual(_luma(marked)) - base, axes=1)) @ signs
                kept = _cells(np.tensordot(car, det.temporal_residual(_luma(attacked(marked))) - unmarked,
                                           axes=1)) @ signs
                row.append(f"x{factor:g}: kept {kept / clean:.2f}")
            print(f"clip {i} {attack:12s} " + "  ".join(row), flush=True)


def probe_shape(clips: list[np.ndarray], attacks: list[str], names: list[str] | None = None) -> None:
    shapes: dict[str, tuple[Carrier, float]] = {
        "manchester (v1)": (emb.carrier, 1.0),
        "pulses duty 1/2": (_pulses([1, 0, -1, 0]), np.sqrt(2.0)),
        "pulses duty 1/4": (_pulses([1, 0, 0, 0, -1, 0, 0, 0]), 2.0),
        "pulses duty 1/8": (_pulses([1] + [0] * 7 + [-1] + [0] * 7), np.sqrt(8.0)),
        # one-second periods (every 1-second piece holds a whole period): a split pulse pair and a doublet
        "1 s: +0 0-0 0": (_pulses([1, 0, 0, -1, 0, 0]), np.sqrt(3.0)),
        "1 s: +- 0 0 0 0": (_pulses([1, -1, 0, 0, 0, 0]), np.sqrt(3.0)),
    }
    if names:
        shapes = {name: shapes[name] for name in names}
    for i, clip in enumerate(clips):
        for name, (carrier, factor) in shapes.items():
            marked = _embed(clip, carrier, emb.DEFAULT_STRENGTH * factor)
            psnr = 10 * np.log10(255.0**2 / np.mean((marked.astype(np.float64) - clip) ** 2))
            sequence = carrier(len(clip), FPS)
            row = [f"PSNR {psnr:.2f}"]
            for attack in attacks:
                attacked = _attacker(attack, i)
                snr = _snr(det.temporal_residual(_luma(attacked(marked))),
                           det.temporal_residual(_luma(attacked(clip))), sequence)
                row.append(f"{attack} {snr:5.2f}")
            print(f"clip {i} {name:16s} " + " | ".join(row), flush=True)


def cell_groups(groups: int, key: bytes = DEFAULT_KEY) -> np.ndarray:
    """(CELLS,) keyed group of each cell, balanced: the multiplexed carrier flips one group at a time."""
    return (_rng(key, "carrier:groups").permutation(GRID * GRID) % groups).astype(np.int64)


def multiplex_carriers(num_frames: int, fps: float, groups: int, slots_per_second: int,
                       key: bytes = DEFAULT_KEY) -> np.ndarray:
    """(groups, T): each group's own keyed doublet once a second, in its own pair of slots.

    Why: the encoders' dead zone keeps a large step better than a small one, so each cell's energy is
    concentrated in one short +s, -s doublet (duty 2 / ``slots_per_second``, amplitude 1 / sqrt(duty)), while
    the groups take turns so every frame carries the same share of the mark (no blink of the whole frame).
    """
    if slots_per_second < 2 * groups:
        raise ValueError("each group needs its own two slots per second")
    slot = np.floor(np.arange(num_frames) * slots_per_second / fps).astype(np.int64)
    second, within = slot // slots_per_second, slot % slots_per_second
    signs = _rng(key, "carrier:multiplex").choice(np.array([-1.0, 1.0], np.float32), (int(second[-1]) + 1, groups))
    out = np.zeros((groups, num_frames), np.float32)
    for g in range(groups):
        pulse = np.where(within == 2 * g, 1.0, np.where(within == 2 * g + 1, -1.0, 0.0))
        out[g] = pulse * signs[second, g]
    return out


def embed_multiplex(clip: np.ndarray, groups: int, slots_per_second: int,
                    strength: float = emb.DEFAULT_STRENGTH) -> np.ndarray:
    """The embedder's masking and PSNR budget with the multiplexed carrier (probe only, not a format)."""
    num_frames, height, width = clip.shape[:3]
    group = cell_groups(groups)
    fields = np.stack([emb.mark_field(PAYLOAD, height, width, cell_gain=(group == g).astype(np.float32))
                       for g in range(groups)]) * np.float32(strength)  # (G, H, W)
    carriers = multiplex_carriers(num_frames, FPS, groups, slots_per_second)  # (G, T)
    offsets = np.tensordot(carriers.T, fields, axes=1)  # (T, H, W)
    gains = emb.gain_maps(clip)  # (T, h, w)
    small = np.stack([cv2.resize(o, gains.shape[:0:-1], interpolation=cv2.INTER_AREA) for o in offsets])
    budget = 255.0**2 / 10 ** (emb.TARGET_PSNR_DB / 10) * (strength / emb.DEFAULT_STRENGTH) ** 2
    gains *= np.float32(np.sqrt(budget / max(float(np.mean((gains * small) ** 2)), 1e-12)))
    duty = 2.0 / slots_per_second
    np.clip(gains, emb.GAIN_MIN / np.sqrt(duty), emb.GAIN_MAX / np.sqrt(duty), out=gains)
    out = clip.astype(np.int16)
    for t in range(num_frames):
        gain = cv2.resize(gains[t], (width, height), interpolation=cv2.INTER_LINEAR)
        offset = np.rint(offsets[t] * gain).astype(np.int16)
        lo, hi = clip[t].min(axis=-1).astype(np.int16), clip[t].max(axis=-1).astype(np.int16)
        limit = np.minimum(lo, 255 - hi)
        out[t] += np.clip(offset, -limit, limit)[..., None]
    return out.astype(np.uint8)


def _snr_multiplex(marked: np.ndarray, clean: np.ndarray, carriers: np.ndarray, group: np.ndarray) -> float:
    """Oracle per-cell SNR when each cell is demodulated by its own group's carrier."""
    signs = emb.cell_signs(PAYLOAD)
    mark, noise = np.zeros(len(signs)), np.zeros(len(signs))
    for g, sequence in enumerate(carriers):
        mine = group == g
        mark[mine] = _cells(np.tensordot(sequence, marked, axes=1))[mine]
        noise[mine] = _cells(np.tensordot(sequence, clean, axes=1))[mine]
    return float((mark - noise) @ signs / len(signs) / max(float(noise.std()), 1e-12))


def probe_multiplex(clips: list[np.ndarray], attacks: list[str], settings: list[tuple[int, int]]) -> None:
    """Oracle SNR, PSNR, largest frame-to-frame step and flicker JND of the v2 doublet and multiplexed carriers."""
    from watermark_quality import flicker_jnd

    for i, clip in enumerate(clips):
        candidates = {"doublet (v2)": (watermark.embed(clip, PAYLOAD, fps=FPS), None)}
        for groups, slots in settings:
            candidates[f"mux {groups}x{slots}"] = (embed_multiplex(clip, groups, slots), (groups, slots))
        for name, (marked, setting) in candidates.items():
            diff = marked.astype(np.float64) - clip
            psnr = 10 * np.log10(255.0**2 / np.mean(diff**2))
            step = float(np.abs(np.diff(diff.mean(axis=-1), axis=0)).max())
            jnd = flicker_jnd(clip, marked, FPS)
            row = [f"PSNR {psnr:.2f} step {step:4.0f} flatJND {jnd['native 57 px/deg: flat max']:5.1f} "
                   f"masked>=1 {jnd['native 57 px/deg: masked >=1']:.3f}"]
            for attack in attacks:
                attacked = _attacker(attack, i)
                res_m = det.temporal_residual(_luma(attacked(marked)))
                res_0 = det.temporal_residual(_luma(attacked(clip)))
                if setting is None:
                    snr = _snr(res_m, res_0, emb.carrier(len(clip), FPS))
                else:
                    snr = _snr_multiplex(res_m, res_0, multiplex_carriers(len(clip), FPS, *setting),
                                         cell_groups(setting[0]))
                row.append(f"{attack} {snr:5.2f}")
            print(f"clip {i} {name:14s} " + " | ".join(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probe", choices=("static", "amplitude", "shape", "multiplex"), default="static")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--attacks", default=None, help="comma-separated; default depends on the probe")
    parser.add_argument("--ecc", action="store_true", help="static probe: refine placements by ECC (slow)")
    parser.add_argument("--shapes", default=None, help="shape probe: comma-separated names (default: all)")
    parser.add_argument("--multiplex", default="6x12,3x6,4x8",
                        help="multiplex probe: comma-separated GROUPSxSLOTS_PER_SECOND settings")
    args = parser.parse_args()
    clips = wa.natural_clips(args.clips)
    default = {"static": "none,h264_crf40,h265_crf40,h264_crf30+brightness_0.5",
               "amplitude": "h264_crf40,h265_crf40", "shape": "none,h264_crf40,h265_crf40",
               "multiplex": "none,h264_crf40,h265_crf40"}[args.probe]
    attacks = (args.attacks or default).split(",")
    if args.probe == "static":
        probe_static(clips, attacks, args.ecc)
    elif args.probe == "amplitude":
        probe_amplitude(clips, attacks)
    elif args.probe == "shape":
        probe_shape(clips, attacks, args.shapes.split(",") if args.shapes else None)
    else:
        settings = [tuple(int(v) for v in s.split("x")) for s in args.multiplex.split(",")]
        probe_multiplex(clips, attacks, settings)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
