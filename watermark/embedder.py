"""Embedding: add the keyed cell pattern to luma, its sign flipped over time by the carrier, its amplitude
shaped by the picture (perceptual masking).

The offset is added equally to R, G and B, so it is a pure luma change: it survives grayscale conversion and
saturation changes, and costs no colour shift. One float field per clip size is rendered once.

Why masking: a uniform +-2 level offset is what costs SSIM on dark, flat areas (measured: 73% of the SSIM loss of
the worst clip sat where the local mean luma was under 30, two thirds where the local deviation was under 2
levels), while textured areas hide far more. The gain map (``gain_maps``) is smooth (a few pixels' scale of
a cell, so the mark stays low-frequency for the codecs), computed per frame on a quarter-size luma, and scaled
per clip so the clip's MSE stays at the PSNR budget (``TARGET_PSNR_DB``): flat dark areas give their share to
texture, up to ``GAIN_MAX`` times the base strength.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from watermark.code import MESSAGE_BITS, PAYLOAD_BITS, bytes_to_bits, conv_encode, keyed_crc
from watermark.layout import CELLS, DEFAULT_KEY, GRID, carrier, layout_for

PAYLOAD_BYTES = PAYLOAD_BITS // 8
MIN_SIDE = 4 * GRID  # below 4 pixels per cell the pattern cannot be rendered smoothly (64)
_RENDER = 16  # samples per cell side when drawing the field
_EDGE_SIGMA = 0.25  # softness of cell edges, in cells (0.12 drew steps SSIM penalises on flat areas)
DEFAULT_STRENGTH = 2.1  # base peak luma offset in 8-bit levels at gain 1; the clip's budget scales with it
TARGET_PSNR_DB = 42.6  # per-clip budget of the masked mark before integer rounding (>= 42 dB after it)
GAIN_MIN, GAIN_MAX = 0.25, 2.0  # masking gain bounds: peak offset is at most GAIN_MAX * strength
_MASK_SCALE = 4  # the gain map is computed on luma downscaled by this factor per side
_LUMA_KNEE = 48.0  # below this local mean luma the gain falls linearly (SSIM and the eye are most sensitive)
_TEXTURE_REF = 6.0  # local luma deviation (levels) at which the texture gain is 1
_TEXTURE_FLOOR = 1.5  # deviation added before the ratio, so a perfectly flat area keeps a little mark
_LUMA_POWER, _TEXTURE_POWER = 1.0, 0.5  # how strongly each term shapes the gain (texture at full power
#   took too much from flat areas, which x264's adaptive quantisation keeps best: CRF 40 suffered)


def validate_frames(frames: np.ndarray) -> None:
    """Frames must be (T, H, W, 3) uint8 with T >= 1 and both sides at least MIN_SIDE."""
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        shape = getattr(frames, "shape", None)
        dtype = getattr(frames, "dtype", type(frames).__name__)
        raise ValueError(f"frames must be a (T, H, W, 3) uint8 array, got shape {shape} dtype {dtype}")
    if frames.shape[0] < 1:
        raise ValueError("frames must hold at least one frame, got 0")
    if min(frames.shape[1:3]) < MIN_SIDE:
        raise ValueError(f"frame size {frames.shape[2]}x{frames.shape[1]} is too small to watermark: "
                         f"both sides must be at least {MIN_SIDE} pixels")


def message_bits(payload: bytes, key: bytes = DEFAULT_KEY) -> np.ndarray:
    """payload (8 bytes) -> (MESSAGE_BITS,) {0,1}: payload bits then the keyed CRC-24."""
    if not isinstance(payload, bytes | bytearray) or len(payload) != PAYLOAD_BYTES:
        raise ValueError(f"payload must be {PAYLOAD_BYTES} bytes, got {payload!r}")
    bits = bytes_to_bits(bytes(payload))
    message = np.concatenate([bits, keyed_crc(bits, key)])
    if message.shape != (MESSAGE_BITS,):
        raise ValueError(f"internal: message has {message.shape} bits")
    return message


def cell_signs(payload: bytes, key: bytes = DEFAULT_KEY) -> np.ndarray:
    """(CELLS,) float32 +-1: the sign each cell carries (pilots and scrambled coded bits), row-major."""
    return layout_for(key).sign_grid(conv_encode(message_bits(payload, key))).reshape(-1)


def check_cell_gain(cell_gain: np.ndarray | None) -> np.ndarray:
    """None -> ones; otherwise a (CELLS,) finite, non-negative, not all-zero float32 copy."""
    if cell_gain is None:
        return np.ones(CELLS, np.float32)
    gain = np.asarray(cell_gain, np.float32)
    if gain.shape != (CELLS,) or not np.all(np.isfinite(gain)) or np.any(gain < 0) or not np.any(gain > 0):
        raise ValueError(f"cell_gain must be {CELLS} finite, non-negative values, not all zero")
    return gain


def mark_field(payload: bytes, height: int, width: int, key: bytes = DEFAULT_KEY,
               cell_gain: np.ndarray | None = None) -> np.ndarray:
    """The spatial mark at frame size: (H, W) float32, each cell at +-``cell_gain`` (default 1).

    Flat cells (what codecs keep best and what the detector's grid search locks onto) joined by soft edges
    about a quarter of a cell wide, so no sharp block boundary is ever drawn.
    """
    grid = (cell_signs(payload, key) * check_cell_gain(cell_gain)).reshape(GRID, GRID)
    fine = np.kron(grid, np.ones((_RENDER, _RENDER), np.float32))  # (GRID*R, GRID*R) hard cells
    fine = cv2.GaussianBlur(fine, (0, 0), sigmaX=_EDGE_SIGMA * _RENDER, borderType=cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if width < fine.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(fine, (width, height), interpolation=interp)  # (H, W)


def _small_luma(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)


def gain_maps(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, H/_MASK_SCALE, W/_MASK_SCALE) float32 unnormalised masking gain per frame.

    gain = luminance term (linear up to ``_LUMA_KNEE``) x texture term (local deviation over about a quarter of
    a cell), both from a Gaussian neighbourhood, then smoothed again so the gain never draws an edge itself.
    """
    height, width = frames.shape[1:3]
    size = (max(8, width // _MASK_SCALE), max(8, height // _MASK_SCALE))
    sigma = max(1.0, min(size) / GRID / 3)  # about a third of a cell
    out = np.empty((len(frames), size[1], size[0]), np.float32)

    def one(t: int) -> None:
        y = _small_luma(frames[t], size)
        mean = cv2.GaussianBlur(y, (0, 0), sigma)
        dev = np.sqrt(np.maximum(cv2.GaussianBlur(y * y, (0, 0), sigma) - mean * mean, 0.0))
        gain = (np.minimum(mean / _LUMA_KNEE, 1.0) ** _LUMA_POWER
                * ((dev + _TEXTURE_FLOOR) / _TEXTURE_REF) ** _TEXTURE_POWER)
        out[t] = cv2.GaussianBlur(gain, (0, 0), sigma)

    _per_frame(one, len(frames), height * width)
    return out


THREADS = min(2, os.cpu_count() or 1)  # frames are marked independently; OpenCV releases the GIL (see _per_frame)
_MIN_THREADED_PIXELS = 2_000_000  # frames x height x width below which one thread is faster (pool start-up, GIL)


def _per_frame(work: Callable[[int], None], count: int, frame_pixels: int) -> None:
    """Run ``work(t)`` for t in range(count) on ``THREADS`` threads, in contiguous chunks, when the clip is large
    enough (``count * frame_pixels`` at least ``_MIN_THREADED_PIXELS``).

    Why threads: every frame is independent and the per-frame work is OpenCV calls that release the GIL, so two
    threads nearly double embedding on 2 cores (720p Manchester, the carrier every format draws below 12 fps: 162 -> 294
    frames/s for the drawing step), which is what keeps embedding under half of libx264's time for the same clip
    (libx264 uses both cores too). ``work`` writes into preallocated per-frame slots, so the result does not
    depend on the number of threads. Small clips stay on one thread: the bundled generator's 17 frames at 256x256
    took 21 ms on one thread and 24 on two (review, eleventh session); 720p and 512x512 gain 25-35 %.
    """
    if THREADS < 2 or count < 2 or count * frame_pixels < _MIN_THREADED_PIXELS:
        for t in range(count):
            work(t)
        return
    bounds = np.linspace(0, count, THREADS + 1).astype(int)
    with ThreadPoolExecutor(THREADS) as pool:
        for done in [pool.submit(lambda a, b: [work(t) for t in range(a, b)], int(a), int(b))
                     for a, b in zip(bounds[:-1], bounds[1:], strict=True)]:
            done.result()  # re-raises a worker's exception here


def embed(frames: np.ndarray, payload: bytes, *, fps: float = 24.0, strength: float = DEFAULT_STRENGTH,
          key: bytes = DEFAULT_KEY, cell_gain: np.ndarray | None = None,
          carrier_shape: str | None = None) -> np.ndarray:
    """Return a marked copy of ``frames`` (T, H, W, 3) uint8 carrying the 8-byte ``payload``.

    ``cell_gain`` (CELLS,) redistributes the amplitude between cells (``watermark.reinforce`` computes it from a
    failed read-back); the clip's PSNR budget is unchanged, since the budget scaling below includes it.
    ``carrier_shape`` (``layout.carrier``; None: the default format's, v2: the doublet from 12 fps up, Manchester
    below): the budget is spent only on the frames the carrier marks, so a carrier with duty 1/3 (the doublet) draws
    the mark sqrt(3) x stronger at the same PSNR, the pulse (2 frames a second) sqrt(fps / 2) x.
    """
    # 1. Check inputs
    validate_frames(frames)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not 0 < strength <= 16:
        raise ValueError(f"strength must be in (0, 16] luma levels, got {strength}")
    # 2. Render the spatial field once; the masking gain per frame, scaled so the clip meets the PSNR budget
    num_frames, height, width = frames.shape[:3]
    field = mark_field(payload, height, width, key, cell_gain) * np.float32(strength)  # (H, W)
    signs = carrier(num_frames, fps, key, carrier_shape)  # (T,) in {-1, 0, +1}
    marked = np.flatnonzero(signs)  # frames the carrier marks (all of them for v1); the others stay untouched
    duty = len(marked) / num_frames  # 1 for v1, about 1/3 for the v2 doublet
    gains = gain_maps(frames[marked])  # (T', h, w)
    small_field = cv2.resize(field, gains.shape[:0:-1], interpolation=cv2.INTER_AREA)  # (h, w)
    # allowed mean squared offset: the PSNR budget at the default strength, scaled with the square of ``strength``;
    # only the marked frames spend it
    budget = 255.0**2 / 10 ** (TARGET_PSNR_DB / 10) * (strength / DEFAULT_STRENGTH) ** 2
    gains *= np.float32(np.sqrt(budget / max(duty * float(np.mean((gains * small_field) ** 2)), 1e-12)))
    # the gain bounds are relative to the amplitude the duty allows (v1: exactly [GAIN_MIN, GAIN_MAX])
    np.clip(gains, GAIN_MIN / np.sqrt(duty), GAIN_MAX / np.sqrt(duty), out=gains)
    # 3. Add the signed field to every channel of every frame, clamped to each pixel's headroom (near black or
    #    white a clipped offset would be one-sided, i.e. a visible brightness shift). OpenCV keeps this at a few
    #    milliseconds per 720p frame. Where a channel sits at 0 or 255 (saturated colour) the equal offset has no
    #    room, so those pixels get the same luma change spread over the channels that can move (``_spread``);
    #    that costs more RGB energy than the equal offset would have, so a clip that then spends noticeably more
    #    than the budget (or than the equal offset, if that was already over it by rounding) is drawn once more
    #    with the gains scaled back.
    out, energy, equal_energy = _draw(frames, marked, signs, field, gains)
    allowed = max(budget * frames.size, equal_energy)
    if energy > allowed * _OVERSPEND:
        gains *= np.float32(np.sqrt(allowed / energy))
        out, _, _ = _draw(frames, marked, signs, field, gains)
    return out


_SATURATED = 1  # headroom (levels) at or below which a pixel's luma change is spread over its free channels
_OVERSPEND = 10 ** (0.3 / 10)  # redraw when the clip's offset is more than 0.3 dB over the PSNR budget


def _draw(frames: np.ndarray, marked: np.ndarray, signs: np.ndarray, field: np.ndarray,
          gains: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The marked clip, the sum of its squared RGB offsets (what the PSNR is computed from) and that sum had every
    pixel taken the equal, clamped offset."""
    out = frames.copy()  # the marked frames are overwritten below
    energies = np.zeros((len(marked), 2))  # per marked frame: (energy, equal energy), summed in a fixed order

    def one(i: int) -> None:
        t = marked[i]
        out[t], energies[i, 0], energies[i, 1] = _draw_frame(frames[t], float(signs[t]), field, gains[i])

    _per_frame(one, len(marked), frames.shape[1] * frames.shape[2])
    energy, equal_energy = energies.sum(axis=0)
    return out, float(energy), float(equal_energy)


def _draw_frame(frame: np.ndarray, sign: float, field: np.ndarray,
                gain_small: np.ndarray) -> tuple[np.ndarray, float, float]:
    """One marked frame (H, W, 3) uint8, its squared RGB offset sum and that sum with only the equal offset."""
    height, width = frame.shape[:2]
    gain = cv2.resize(gain_small, (width, height), interpolation=cv2.INTER_LINEAR)  # (H, W)
    offset = cv2.multiply(field, gain, scale=sign, dtype=cv2.CV_16S)  # rounded to nearest
    c0, c1, c2 = cv2.split(frame)
    lowest, highest = cv2.min(cv2.min(c0, c1), c2), cv2.max(cv2.max(c0, c1), c2)
    headroom = cv2.min(lowest, cv2.subtract(255, highest))  # (H, W) uint8
    limit = headroom.astype(np.int16)
    delta = cv2.min(cv2.max(offset, -limit), limit)  # (H, W) int16
    # pixels with a channel at (or one level from) 0 or 255, where the equal offset can mark (nearly) nothing;
    # elsewhere the clamp stays as it was (spreading there too weakened reads of the bundled generator's clips)
    over = cv2.compare(cv2.absdiff(offset, 0), limit, cv2.CMP_GT)  # (H, W) uint8, OpenCV: cheap at 720p
    # ... and whose channels differ (grey near black or white has no free channel either: skipped early)
    edge = cv2.bitwise_and(cv2.compare(headroom, _SATURATED, cv2.CMP_LE),
                           cv2.compare(cv2.subtract(highest, lowest), 2 * _SATURATED, cv2.CMP_GT))
    equal = 3.0 * cv2.norm(delta, cv2.NORM_L2SQR)
    out = cv2.add(frame, cv2.merge([delta, delta, delta]), dtype=cv2.CV_8U)
    short_mask = cv2.bitwise_and(over, edge)
    if not cv2.countNonZero(short_mask):
        return out, equal, equal
    short = np.flatnonzero(short_mask.view(bool))  # flat indices of saturated pixels short of their mark
    pixels = frame.reshape(-1, 3)[short]  # (N, 3) uint8
    spread = _spread(pixels, offset.reshape(-1)[short])  # (N, 3) int16
    out.reshape(-1, 3)[short] = (pixels + spread).astype(np.uint8)  # within [0, 255] by construction
    clamped = delta.reshape(-1)[short].astype(np.float64)
    return out, equal + float(np.sum(spread.astype(np.float64) ** 2) - 3.0 * np.sum(clamped**2)), equal


LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)  # R, G, B: luma (BT.601), as the detector reads it
_SPREAD_MAX = 3.0  # a saturated pixel's free channels move at most this many times the luma change


def _spread(pixels: np.ndarray, want: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 RGB pixels, (N,) int16 wanted luma offsets -> (N, 3) int16 channel offsets.

    The luma change ``want`` (capped at what the pixel allows both up and down, so the mark stays symmetric over
    the carrier's signs) made with channel offsets as equal as possible: water-filling, each channel moves by
    ``min(room, level)`` with one level chosen so the weighted sum is the luma change. Where every channel has room
    this is the equal offset; a saturated pixel moves its free channels more (a hue shift, only there, no channel
    moving more than ``_SPREAD_MAX`` times the wanted luma change).
    Why: a clip of saturated colours (graphics, animation; skimage's colour wheel) had no headroom anywhere and
    took no mark at all (73 dB PSNR, nothing to read).
    """
    c = pixels.astype(np.float32)  # (N, 3)
    most = _SPREAD_MAX * np.abs(want.astype(np.float32))[:, None]  # (N, 1) no channel moves further than this
    up, down = np.minimum(255.0 - c, most), np.minimum(c, most)
    cap = np.minimum(up @ LUMA_WEIGHTS, down @ LUMA_WEIGHTS)  # (N,) luma the pixel can move either way
    wanted = np.clip(want.astype(np.float32), -cap, cap)
    size = np.abs(wanted)
    room = np.where(wanted[:, None] >= 0, up, down)  # (N, 3)
    order = np.argsort(room, axis=1)
    r = np.take_along_axis(room, order, axis=1)  # (N, 3) ascending
    w = LUMA_WEIGHTS[order]  # (N, 3) the weights in the same order
    level2 = (size - w[:, 0] * r[:, 0]) / (w[:, 1] + w[:, 2])  # level once the tightest channel is full
    level3 = (size - w[:, 0] * r[:, 0] - w[:, 1] * r[:, 1]) / w[:, 2]  # once two are full
    level = np.where(size <= r[:, 0], size, np.where(level2 <= r[:, 1], level2, level3))
    moved = np.minimum(room, level[:, None]) * np.sign(wanted)[:, None]  # (N, 3)
    return np.rint(moved).astype(np.int16)
