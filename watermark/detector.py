"""Detection: isolate what flickers with the carrier, find the cell grid, read the cells, decode, test.

Steps, each free of any absolute frame index (so frame-rate changes, dropped frames and cuts do not matter):
1. Luma of every frame at a fixed ANALYSIS x ANALYSIS size (normalized coordinates: resizes change nothing).
2. Split at picture cuts, then subtract a short moving average over time: the picture mostly cancels, the mark
   (whose sign flips every ~1/6 s) stays.
3. Per window of frames, a leading principal component over time of those residuals is the carrier, whatever
   its sign sequence was (the first three are tried); demodulating with it gives the mark. When the frame rate is
   given, the keyed carriers themselves (v2 doublet, then v1 Manchester) are tried first (they fit whenever the
   timeline is intact); each is one more candidate in the Bonferroni factor.
4. Search the crop geometry (visible part of the original frame) that maximises the energy captured by the
   cell grid, a sign-agnostic criterion; the pilots choose between it (and its whole-cell shifts) and the whole
   frame, and pay for the choice in the Bonferroni factor.
5. Cell means (cells cut by the frame edge read over their visible part) -> pilot statistic (the p-value) and
   soft coded bits -> Viterbi -> keyed CRC-24. If the CRC fails, the carrier is re-estimated by matched filtering
   with the re-encoded best decode (data cells only), and decoded again, at most REFINEMENTS times; if it still
   fails, a list Viterbi offers the LIST_SIZE best messages to the CRC (crops erase many coded bits, and then
   several messages fit the visible ones almost equally well).
The first FIRST_STAGE_FRAMES frames are analysed first; the whole clip only when they give no checked payload.

The p-value: under "not marked with this key" the keyed pilot signs are independent fair coins given the
cell values, so the signed-rank sum of the pilots has exactly the Wilcoxon null distribution (``signed_rank_p``;
Bonferroni over the carrier candidates and the geometries the pilots chose among). A CRC pass has probability
at most n * 2^-24 for n checks, whatever the processing, since the CRC mask is an independent keyed string; the
checks come in two stages (plain decodes, then the list), and a pass multiplies the pilot bound by 2 n_stage
2^-24 for its stage, so each stage contributes at most a quarter of the level; the pilot-only route the other
half (the union of the routes costs a factor of 2). Two looks (first second, whole clip) double it again.
The bound holds for any unmarked video, whatever its content.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import cv2
import numpy as np

from watermark.code import (
    CRC_BITS,
    MESSAGE_BITS,
    PAYLOAD_BITS,
    bit_llrs,
    bits_to_bytes,
    conv_encode,
    keyed_crc,
    list_viterbi_decode,
    viterbi_decode,
)
from watermark.embedder import LUMA_WEIGHTS, validate_frames
from watermark.layout import CARRIER_SHAPES, CELLS, DEFAULT_KEY, GRID, REPEAT, Layout, layout_for
from watermark.layout import carrier as keyed_carrier

ANALYSIS = 8 * GRID  # analysis resolution: 8 pixels per cell
HIGHPASS_FRAMES = 9  # moving-average length of the temporal high-pass
WINDOW_FRAMES = 48  # frames per principal-component window
COMPONENTS = 3  # principal components tried as the carrier
CUT_FACTOR = 6.0  # a frame difference this many times the median starts a new shot
CUT_FLOOR = 12.0  # ...and at least this many levels: the mark itself changes frames by up to ~4
MIN_VISIBLE = 0.62  # smallest visible fraction of the original width or height searched
CELL_INSET = 0.2  # fraction of a cell ignored on each side when averaging (blurred borders)
MIN_PARTIAL = 0.3  # a cell cut by the frame edge is read when at least this fraction of its read area is visible
DEFAULT_P_THRESHOLD = 1e-6
MAX_FRAMES = 720  # 30 s at 24 fps
MIN_TRACKED = 40  # corners carried over from the previous step; below this many, corners are found again
MOTION_GAIN = 0.95  # a fitted motion is kept only if it leaves under this fraction of the identity's frame difference
#   (measured at 128 x 128: camera pans 0.00-0.11; a tracked moving object on changing texture ~0.9; spurious
#   fits on the bundled generator's speckle 0.97-1.36)


@dataclass(frozen=True)
class Detection:
    """What ``detect`` found. ``payload`` is set only when the keyed CRC passed and the clip is ``marked``."""

    marked: bool
    p_value: float
    payload: bytes | None
    bits: np.ndarray  # (64,) {0,1} best-guess payload bits, even when the CRC failed
    bit_confidence: np.ndarray  # (64,) probability each bit is right, in [0.5, 1]
    details: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------
# 1-3. Temporal residual and the mark estimate
# ---------------------------------------------------------------------------------------------------------


def analysis_luma(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, ANALYSIS, ANALYSIS) float32 luma (BT.601)."""
    out = np.empty((len(frames), ANALYSIS, ANALYSIS), np.float32)
    for t, frame in enumerate(frames):
        small = cv2.resize(frame, (ANALYSIS, ANALYSIS), interpolation=cv2.INTER_AREA).astype(np.float32)
        out[t] = small @ LUMA_WEIGHTS
    return out


def shots(luma: np.ndarray) -> list[slice]:
    """Split at picture cuts (a frame difference far above the median), so the high-pass never spans one."""
    if len(luma) < 3:
        return [slice(0, len(luma))]
    diff = np.abs(np.diff(luma, axis=0)).mean(axis=(1, 2))  # (T-1,)
    limit = max(CUT_FACTOR * float(np.median(diff)), CUT_FLOOR)
    cuts = [int(t) for t in np.flatnonzero(diff > limit) if not _pulse_step(luma, int(t), limit)]
    starts = [0] + [t + 1 for t in cuts] + [len(luma)]
    return [slice(a, b) for a, b in zip(starts[:-1], starts[1:], strict=True) if b > a]


def _pulse_step(luma: np.ndarray, t: int, limit: float) -> bool:
    """Whether the step from frame ``t`` to ``t + 1`` belongs to a pair of frames whose mean is the picture around
    them (the v3 pulse: +s then -s on two frames), so it is not a cut.

    Why: the pulse's own steps (up to twice its amplitude, which grows with sqrt(fps) and the strength) pass
    CUT_FLOOR on a still picture; split off as 1-2 frame shots, the pulse frames got a zero residual and the mark
    vanished (static clips, 60 fps at strength 3.3, 120 fps from 2.625: p 1.0). A real cut leaves the pair's mean
    half a cut away from one side; a flash leaves it half a flash away from both.
    """
    for k in (t - 1, t, t + 1):
        if k < 0 or k + 1 >= len(luma):
            continue
        pair = 0.5 * (luma[k] + luma[k + 1])
        around = [luma[j] for j in (k - 1, k + 2) if 0 <= j < len(luma)]
        if around and all(float(np.abs(pair - frame).mean()) <= 0.5 * limit for frame in around):
            return True
    return False


def _step_motion(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """3x3 similarity transform taking frame ``a``'s pixel coordinates to frame ``b``'s (identity if untrackable).

    Global camera motion (pans, zooms) is the picture change the plain moving average leaves behind; tracking
    corners with pyramidal Lucas-Kanade and fitting a similarity removes most of it. The mark does not move, so
    it stays in the residual (it is smooth: a shift of a pixel or two barely changes it).
    """
    eight = np.clip(np.stack([a, b]), 0, 255).astype(np.uint8)
    return _track(a, b, eight[0], eight[1], None)[0]


def _track(a: np.ndarray, b: np.ndarray, a8: np.ndarray, b8: np.ndarray,
           points: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """``_step_motion`` given 8-bit copies, and the corners tracked into ``b`` to start the next step from.

    ``points`` (corners of ``a`` a previous step tracked) are reused while at least MIN_TRACKED remain, so corners
    are found once per few frames, not every frame (Kanade-Lucas-Tomasi tracking; corner detection was 8 % of a
    256 x 256 read). Returns (None) for the next points whenever this step fell back to no motion.
    """
    eye = np.eye(3)
    if points is None or len(points) < MIN_TRACKED:
        points = cv2.goodFeaturesToTrack(a8, maxCorners=80, qualityLevel=0.01, minDistance=6)
    if points is None or len(points) < 8:
        return eye, None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(a8, b8, points, None, winSize=(11, 11), maxLevel=2)
    good = status.reshape(-1) == 1
    if good.sum() < 8:
        return eye, None
    matrix, _ = cv2.estimateAffinePartial2D(points[good], moved[good], method=cv2.RANSAC,
                                            ransacReprojThreshold=1.0)
    if matrix is None:
        return eye, None
    # Keep the fit only if it explains frame b better than no motion does: on texture that changes from frame to
    # frame (the bundled generator's speckle) Lucas-Kanade "tracks" noise into warps of up to 40 pixels or 30%
    # zoom, which leave more picture in the residual than they remove (the mark then drowns: p 0.83 -> 5e-3 on
    # the worst generated clip, 0.37 -> 5e-6 and 4e-3 -> 1e-20 on two others, marked at 24 fps).
    warped = cv2.warpAffine(a, matrix, (a.shape[1], a.shape[0]), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
    seen = cv2.compare(warped, warped, cv2.CMP_EQ)  # (A, A) uint8, 0 where NaN; OpenCV's masked means: cheaper
    if not cv2.countNonZero(seen) or (cv2.mean(cv2.absdiff(b, warped), mask=seen)[0]
                                      >= MOTION_GAIN * cv2.mean(cv2.absdiff(b, a), mask=seen)[0]):
        return eye, None
    tracked = moved[good]  # (N, 1, 2) corners in frame b; those that left the frame are not carried on
    inside = np.all((tracked >= 0) & (tracked <= np.array([b.shape[1] - 1, b.shape[0] - 1])), axis=(1, 2))
    return np.vstack([matrix, [0.0, 0.0, 1.0]]), tracked[inside]


def _aligned_mean(part: np.ndarray, width: int, motion: bool = True) -> np.ndarray:
    """(n, A, A) -> (n, A, A): for each frame, the mean of its ``width`` neighbours warped onto it.

    Pixels a neighbour never saw (content entering at the frame edge during a pan) are left out of the mean: the
    warp fills them with NaN (bilinear interpolation spreads it to every pixel that touched the border), which
    costs one warp per neighbour instead of a second one for a validity mask.
    """
    n, half = len(part), width // 2
    to_frame = [np.eye(3)]  # cumulative: frame 0 coordinates -> frame t coordinates
    eight = np.clip(part, 0, 255).astype(np.uint8) if motion else part
    points = None  # corners tracked so far (in the current frame's coordinates)
    for t in range(n - 1):
        step, points = _track(part[t], part[t + 1], eight[t], eight[t + 1], points) if motion else (np.eye(3), None)
        to_frame.append(step @ to_frame[-1])
    from_frame = [np.linalg.inv(m) for m in to_frame]
    out = np.empty_like(part)
    size = (part.shape[2], part.shape[1])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for t in range(n):
        lo, hi = max(0, t - half), min(n, t + half + 1)
        lo, hi = (0, min(n, width)) if lo == 0 else (max(0, hi - width), hi) if hi == n else (lo, hi)
        acc = part[t].astype(np.float32)  # (A, A)
        count = np.ones(part.shape[1:], np.float32)
        for j in range(lo, hi):
            if j == t:
                continue
            t_to_j = (to_frame[j] @ from_frame[t])[:2]  # frame t coordinates -> frame j coordinates
            warped = cv2.warpAffine(part[j], t_to_j, size, flags=flags, borderMode=cv2.BORDER_CONSTANT,
                                    borderValue=float("nan"))
            seen = cv2.compare(warped, warped, cv2.CMP_EQ)  # (A, A) uint8, 0 where NaN (OpenCV: cheaper here)
            cv2.add(acc, cv2.patchNaNs(warped, 0.0), dst=acc)
            cv2.add(count, 1.0, dst=count, mask=seen)
        out[t] = acc / count
    return out


def temporal_residual(luma: np.ndarray, motion: bool = True) -> np.ndarray:
    """(T, A, A) -> (T, A, A): each frame minus the motion-aligned mean of its neighbours in the shot.

    ``motion=False`` skips the tracking: for a signal that does not move (the mark alone, in ``reinforce``).
    """
    luma = luma.astype(np.float32, copy=False)  # the OpenCV NaN bookkeeping below takes float32 only
    out = np.zeros_like(luma)
    for shot in shots(luma):
        part = luma[shot]
        if len(part) < 3:
            continue  # a 1-2 frame shot carries no usable flicker
        width = min(HIGHPASS_FRAMES, len(part) - (1 - len(part) % 2))
        out[shot] = part - _aligned_mean(part, width, motion)
    out -= out.mean(axis=(1, 2), keepdims=True)
    return out


POOL = 4  # analysis pixels per side pooled before the principal component (half a cell)


def pixel_weights(residual: np.ndarray) -> np.ndarray:
    """(T, A, A) -> (A, A) inverse-variance weights: pixels where the picture itself keeps changing count less."""
    pooled = _pool(residual)
    var = pooled.var(axis=0)  # (A/POOL, A/POOL)
    weights = 1.0 / (var + max(float(np.median(var)), 1e-6))
    return np.repeat(np.repeat(weights, POOL, axis=0), POOL, axis=1).astype(np.float32)  # (A, A)


def _pool(x: np.ndarray) -> np.ndarray:
    """(T, A, A) -> (T, A/POOL, A/POOL): mean over POOL x POOL blocks (OpenCV's area resize: the same means,
    about 9x faster than numpy's mean over two strided axes, which took a tenth of detect's time)."""
    side = ANALYSIS // POOL
    out = np.empty((x.shape[0], side, side), x.dtype)
    for t, frame in enumerate(x):
        out[t] = cv2.resize(frame, (side, side), interpolation=cv2.INTER_AREA)
    return out


def carrier_estimate(residual: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(T, A, A) -> (COMPONENTS, T): per window, the leading principal components over time of the pooled,
    weighted residual.

    Usually the first component is the carrier; when a moving object or a codec's drift dominates, the carrier is
    the second or third, so the detector tries each (and pays for it in the p-value). Windows are sign-aligned
    per component through the mark estimate they imply, so each row is one consistent sequence.
    """
    carriers = np.zeros((COMPONENTS, len(residual)))
    totals = np.zeros((COMPONENTS, *residual.shape[1:]), np.float64)
    root_w = np.sqrt(weights)
    for start in range(0, len(residual), WINDOW_FRAMES):
        part = residual[start:start + WINDOW_FRAMES]
        block = _pool(part * root_w).reshape(len(part), -1).astype(np.float64)  # (t, P)
        if len(block) < 2 or not np.any(block):
            continue
        _, vectors = np.linalg.eigh(block @ block.T)  # ascending eigenvalues
        for k in range(min(COMPONENTS, len(part))):
            seq = vectors[:, -1 - k]  # (t,)
            component = np.tensordot(seq.astype(np.float32), part, axes=1) * weights  # (A, A)
            if np.sum(component * totals[k]) < 0:
                seq, component = -seq, -component
            carriers[k, start:start + len(part)] = seq
            totals[k] += component
    return carriers


def _likeliest_first(residual: np.ndarray, weights: np.ndarray, keyed: np.ndarray) -> np.ndarray:
    """(S, T) keyed carriers, reordered: most cell-scale energy demodulated per unit of carrier energy first.

    Why: the first candidate is read alone when its decode passes the CRC; with three format versions a v1 or v2
    file read v3's pulse first, failed, and paid for reading every candidate (about twice the detect time). The
    order is chosen without the pilot signs and every candidate stays in the Bonferroni factor, so the p-value is
    unchanged in meaning.
    """
    if len(keyed) < 2:
        return keyed
    scores = [float(np.var(_pool(mark_estimate(residual, weights, seq)[None]))) / max(float(seq @ seq), 1e-12)
              for seq in keyed]
    return keyed[np.argsort(scores)[::-1]]


def mark_estimate(residual: np.ndarray, weights: np.ndarray, carrier: np.ndarray) -> np.ndarray:
    """(T, A, A), (A, A), (T,) -> (A, A): the residual demodulated by the carrier, weighted per pixel."""
    return np.tensordot(carrier.astype(np.float32), residual, axes=1) * weights


# ---------------------------------------------------------------------------------------------------------
# 4. Geometry: which part of the original frame is visible
# ---------------------------------------------------------------------------------------------------------


def _bounds(visible: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Cell boundaries in analysis pixels for (N,) hypotheses -> (N, GRID, 2) integer [start, stop)."""
    edges = np.arange(GRID)[None, :] / GRID  # (1, G) cell starts in original coordinates
    lo = (edges + CELL_INSET / GRID - offset[:, None]) / visible[:, None] * ANALYSIS
    hi = (edges + (1 - CELL_INSET) / GRID - offset[:, None]) / visible[:, None] * ANALYSIS
    return np.stack([np.rint(lo), np.rint(hi)], axis=-1).astype(np.int64)  # (N, G, 2)


def _axis_hypotheses(step_visible: float, step_offset: float,
                     around: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(visible, offset) pairs for one axis: a full sweep, or a small neighbourhood of ``around``."""
    if around is None:
        visibles = np.arange(1.0, MIN_VISIBLE - 1e-9, -step_visible)
    else:
        visibles = np.clip(around[0] + step_visible * np.arange(-2, 3), MIN_VISIBLE, 1.0)
    pairs = []
    for v in np.unique(visibles):
        if around is None:
            offsets = np.arange(0.0, 1.0 - v + 1e-9, step_offset)
        else:
            offsets = np.clip(around[1] + step_offset * np.arange(-2, 3), 0.0, 1.0 - v)
        pairs += [(v, o) for o in np.unique(offsets)]
    arr = np.array(pairs)
    return arr[:, 0], arr[:, 1]


def _axis_scores(mark: np.ndarray, visible: np.ndarray, offset: np.ndarray, noise: float) -> np.ndarray:
    """Sign-agnostic score of column hypotheses: energy of per-row cell-column means, above the noise level.

    Squaring before summing over rows keeps the random cell signs from cancelling, so the search over the
    two axes separates: (N,) hypotheses cost N * A * GRID lookups instead of a joint four-way sweep.
    """
    rows = mark.reshape(ANALYSIS // POOL, POOL, ANALYSIS).mean(axis=1)  # (A/POOL, A): within-cell row pooling
    cum = np.zeros((rows.shape[0], ANALYSIS + 1))
    cum[:, 1:] = rows.cumsum(axis=1)
    bounds = _bounds(visible, offset)  # (N, G, 2)
    b = np.clip(bounds, 0, ANALYSIS)
    sums = cum[:, b[..., 1]] - cum[:, b[..., 0]]  # (A/POOL, N, G)
    counts = _visible_length(bounds, b)  # (N, G)
    energy = np.where(counts > 0, sums**2 / np.maximum(counts, 1), 0.0).sum(axis=(0, 2))  # (N,)
    return energy - noise / POOL * rows.shape[0] * (counts > 0).sum(axis=1)


def _visible_length(bounds: np.ndarray, clipped: np.ndarray) -> np.ndarray:
    """Visible length of each cell's read interval, 0 when under MIN_PARTIAL of it is visible."""
    full = np.maximum(bounds[..., 1] - bounds[..., 0], 1)
    seen = np.maximum(clipped[..., 1] - clipped[..., 0], 0)
    return np.where(seen >= MIN_PARTIAL * full, seen, 0)


def cell_sums(integral: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums, pixel counts and visible fractions of every cell for every (row, column hypothesis) pair.

    rows (Ny, G, 2), cols (Nx, G, 2) -> sums, counts, fractions (Ny, Nx, G, G). A cell cut by the frame edge
    is read over its visible part (a 55% crop leaves ~140 of 256 cells at least partly visible but only ~115
    whole ones: the partial ones are what keeps the rate-1/2 code above its erasure limit); its fraction
    weighs it down in decoding. Cells with under MIN_PARTIAL visible per axis count 0.
    """
    r = np.clip(rows, 0, ANALYSIS)
    c = np.clip(cols, 0, ANALYSIS)
    r0, r1 = r[:, None, :, None, 0], r[:, None, :, None, 1]
    c0, c1 = c[None, :, None, :, 0], c[None, :, None, :, 1]
    sums = integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0]
    seen_r, seen_c = _visible_length(rows, r), _visible_length(cols, c)  # (Ny, G), (Nx, G)
    full_r = np.maximum(rows[..., 1] - rows[..., 0], 1)
    full_c = np.maximum(cols[..., 1] - cols[..., 0], 1)
    counts = seen_r[:, None, :, None] * seen_c[None, :, None, :]
    fractions = counts / (full_r[:, None, :, None] * full_c[None, :, None, :])
    return sums * (counts > 0), counts, fractions


def _captured(integral: np.ndarray, rows: np.ndarray, cols: np.ndarray, noise: float) -> np.ndarray:
    sums, counts, _ = cell_sums(integral, rows, cols)
    energy = np.where(counts > 0, sums**2 / np.maximum(counts, 1), 0.0).sum(axis=(2, 3))
    return energy - noise * (counts > 0).sum(axis=(2, 3))  # (Ny, Nx) energy above the noise expectation


def find_geometry(mark: np.ndarray) -> tuple[float, float, float, float]:
    """(A, A) mark estimate -> (visible_x, offset_x, visible_y, offset_y) of the original frame.

    Each axis is swept on its own (``_axis_scores``), then the four parameters are refined jointly.
    """
    noise = float(np.mean(mark**2))
    vis, off = _axis_hypotheses(0.02, 1 / 64)
    best_x = int(np.argmax(_axis_scores(mark, vis, off, noise)))
    best_y = int(np.argmax(_axis_scores(mark.T, vis, off, noise)))
    best = (float(vis[best_x]), float(off[best_x]), float(vis[best_y]), float(off[best_y]))
    integral = np.zeros((ANALYSIS + 1, ANALYSIS + 1))
    integral[1:, 1:] = mark.cumsum(0).cumsum(1)
    vx, ox = _axis_hypotheses(0.005, 1 / 256, (best[0], best[1]))
    vy, oy = _axis_hypotheses(0.005, 1 / 256, (best[2], best[3]))
    score = _captured(integral, _bounds(vy, oy), _bounds(vx, ox), noise)  # (Ny, Nx)
    iy, ix = np.unravel_index(int(np.argmax(score)), score.shape)
    return float(vx[ix]), float(ox[ix]), float(vy[iy]), float(oy[iy])


# ---------------------------------------------------------------------------------------------------------
# 5. Read, decode, test
# ---------------------------------------------------------------------------------------------------------


def _whole_cell_shifts(visible: float, offset: float) -> np.ndarray:
    """Offsets congruent to ``offset`` modulo one cell that keep the visible window inside the frame."""
    phase = offset % (1.0 / GRID)
    shifts = phase + np.arange(GRID) / GRID
    return shifts[shifts <= 1.0 - visible + 0.5 / GRID / 4]


def _hoeffding_z(values: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """(..., n) cell values and (n,) keyed signs -> (...) normalised correlation, a diagnostic only."""
    norms = np.sqrt(np.sum(values**2, axis=-1))
    return np.where(norms > 0, values @ signs / np.maximum(norms, 1e-12), 0.0)


@lru_cache(maxsize=512)
def _rank_sum_tail(n: int) -> np.ndarray:
    """(n(n+1)/2 + 1,) P(W+ >= w) for the Wilcoxon signed-rank sum of n ranks with fair-coin signs."""
    total = n * (n + 1) // 2
    dist = np.zeros(total + 1)
    dist[0] = 1.0
    for rank in range(1, n + 1):
        shifted = np.zeros_like(dist)
        shifted[rank:] = dist[:-rank]
        dist = 0.5 * (dist + shifted)
    return np.cumsum(dist[::-1])[::-1]


def signed_rank_p(values: np.ndarray, signs: np.ndarray) -> float:
    """Exact two-sided p-value that the keyed ``signs`` (+-1) agree with ``values`` more than chance.

    Under "not marked with this key" the pilot signs are independent fair coins whatever the cell values, so
    given the magnitudes the signed-rank sum has exactly the Wilcoxon null distribution; zero (unseen) cells are
    left out. Unlike the Hoeffding bound (which cannot go below 2 exp(-n/2) even when every sign agrees), the
    exact tail reaches 2^-n: with the 37 pilots a 55% crop leaves, 1e-11 instead of 2e-8.
    """
    seen = values != 0
    n = int(seen.sum())
    if n == 0:
        return 1.0
    agree = values[seen] * signs[seen]
    ranks = np.empty(n, np.int64)
    ranks[np.argsort(np.abs(agree), kind="stable")] = np.arange(1, n + 1)
    w_plus = int(ranks[agree > 0].sum())
    tail = _rank_sum_tail(n)
    return float(min(1.0, 2.0 * min(tail[w_plus], tail[n * (n + 1) // 2 - w_plus])))


@dataclass(frozen=True)
class CellReading:
    """The mark estimate read through one geometry: a value per cell and the pilot statistic."""

    cells: np.ndarray  # (CELLS,) mean of the mark estimate per cell, 0 where the cell is not visible
    weight: np.ndarray  # (CELLS,) visible fraction of each cell's read area in [0, 1] (0: not read)
    z: float  # normalised pilot correlation (signed; a diagnostic, and the sign hint for decoding)
    p_rank: float  # exact signed-rank p-value of the pilots at this geometry (before any multiplicity factor)
    hypotheses: int  # geometries the pilots chose among (Bonferroni factor)
    geometry: tuple[float, float, float, float]  # visible_x, offset_x, visible_y, offset_y

    @property
    def visible(self) -> np.ndarray:
        return self.weight > 0


WHOLE_FRAME = (1.0, 0.0, 1.0, 0.0)  # visible_x, offset_x, visible_y, offset_y of an uncropped (or resized) frame


def read_cells(mark: np.ndarray, pilot_cells: np.ndarray, pilot_signs: np.ndarray,
               geometry: tuple[float, float, float, float] | None = None) -> CellReading:
    """Cell means of ``mark`` (A, A); without ``geometry``, search it and let the pilots pick the whole-cell shift.

    The searched geometry competes with the whole frame (no crop; a resize changes nothing in normalised
    coordinates), one more hypothesis in the Bonferroni count. Why: the search maximises the energy the grid
    captures, which a reinforced mark (``watermark.reinforce``: small, even margins in most cells, the picture's
    part cancelled) no longer makes largest at the true geometry on speckled content, while its pilots all agree
    there (measured: searched 0.89-wide window p 3e-2, whole frame p 7e-21).
    """
    if geometry is None:
        vis_x, off_x, vis_y, off_y = find_geometry(mark)
        searched = _read_at(mark, pilot_cells, pilot_signs, vis_x, _whole_cell_shifts(vis_x, off_x),
                            vis_y, _whole_cell_shifts(vis_y, off_y))
        whole = _read_at(mark, pilot_cells, pilot_signs, WHOLE_FRAME[0], np.array([WHOLE_FRAME[1]]),
                         WHOLE_FRAME[2], np.array([WHOLE_FRAME[3]]))
        best = min((searched, whole), key=lambda r: (r.p_rank, -abs(r.z)))
        return replace(best, hypotheses=searched.hypotheses + whole.hypotheses)
    vis_x, off_x, vis_y, off_y = geometry
    return _read_at(mark, pilot_cells, pilot_signs, vis_x, np.array([off_x]), vis_y, np.array([off_y]))


def _read_at(mark: np.ndarray, pilot_cells: np.ndarray, pilot_signs: np.ndarray, vis_x: float,
             shifts_x: np.ndarray, vis_y: float, shifts_y: np.ndarray) -> CellReading:
    """The reading at the (shifts_y x shifts_x) geometries whose pilots give the smallest p."""
    integral = np.zeros((ANALYSIS + 1, ANALYSIS + 1))
    integral[1:, 1:] = mark.cumsum(0).cumsum(1)
    sums, counts, fractions = cell_sums(integral, _bounds(np.full(len(shifts_y), vis_y), shifts_y),
                                        _bounds(np.full(len(shifts_x), vis_x), shifts_x))  # (Ny, Nx, G, G)
    means = (sums / np.maximum(counts, 1)).reshape(len(shifts_y), len(shifts_x), CELLS)
    weights = fractions.reshape(means.shape) * (counts.reshape(means.shape) > 0)
    pilots = (means * weights)[..., pilot_cells]  # (Ny, Nx, PILOTS) partial cells count less
    p_all = np.array([[signed_rank_p(pilots[iy, ix], pilot_signs) for ix in range(len(shifts_x))]
                      for iy in range(len(shifts_y))])  # (Ny, Nx)
    z_all = _hoeffding_z(pilots, pilot_signs)  # (Ny, Nx)
    iy, ix = min(np.ndindex(p_all.shape), key=lambda k: (p_all[k], -abs(z_all[k])))
    return CellReading(cells=means[iy, ix], weight=weights[iy, ix], z=float(z_all[iy, ix]),
                       p_rank=float(p_all[iy, ix]), hypotheses=int(p_all.size),
                       geometry=(vis_x, float(shifts_x[ix]), vis_y, float(shifts_y[iy])))


def render_cells(values: np.ndarray, geometry: tuple[float, float, float, float]) -> np.ndarray:
    """(CELLS,) values -> (A, A): each analysis pixel takes the value of the original cell it shows."""
    vis_x, off_x, vis_y, off_y = geometry
    centres = (np.arange(ANALYSIS) + 0.5) / ANALYSIS
    col = np.floor((off_x + vis_x * centres) * GRID).astype(np.int64)  # (A,)
    row = np.floor((off_y + vis_y * centres) * GRID).astype(np.int64)
    ok = (row[:, None] >= 0) & (row[:, None] < GRID) & (col[None, :] >= 0) & (col[None, :] < GRID)
    grid = values.reshape(GRID, GRID)[np.clip(row, 0, GRID - 1)][:, np.clip(col, 0, GRID - 1)]
    return np.where(ok, grid, 0.0)


def _soft_bits(reading: CellReading, layout: Layout) -> np.ndarray:
    """(CODED_BITS,) soft coded bits, pilot amplitude scaled to 1, positive meaning bit 0 for the +z sign."""
    weighted = reading.cells * reading.weight  # (CELLS,) a partly visible cell is a noisier reading: weigh it down
    pilots = weighted[layout.pilot_cells]
    seen_pilots = max(float(reading.weight[layout.pilot_cells].sum()), 1.0)
    scale = max(abs(float(np.dot(layout.pilot_signs, pilots))) / seen_pilots, 1e-9)
    copies = (weighted[layout.data_cells] * layout.scramble / scale).reshape(REPEAT, -1)  # (REPEAT, CODED)
    return copies.sum(axis=0)  # maximum-ratio combining of equal-energy copies


def _crc_passes(message: np.ndarray, key: bytes) -> bool:
    return bool(np.array_equal(keyed_crc(message[:PAYLOAD_BITS], key), message[PAYLOAD_BITS:MESSAGE_BITS]))


def _decode(reading: CellReading, layout: Layout, key: bytes) -> tuple[np.ndarray, bool, np.ndarray, float]:
    """Soft coded bits (pilot amplitude scaled to 1) -> Viterbi, trying the pilot sign first, then its opposite.

    Returns (message bits, crc passed, signed soft coded bits, sign used).
    """
    soft = _soft_bits(reading, layout)  # (CODED_BITS,)
    first = 1.0 if reading.z >= 0 else -1.0
    fallback = None
    for sign in (first, -first):
        message = viterbi_decode(sign * soft)
        if _crc_passes(message, key):
            return message, True, sign * soft, sign
        fallback = fallback or (message, False, sign * soft, sign)
    return fallback


REFINEMENTS = 2  # carrier re-estimations when the CRC fails
DECODE_ATTEMPTS = 2 * (2 + REFINEMENTS)  # CRC checks of the plain stage: two signs per decode (first component,
#                                         best other, refinements)
LIST_SIZE = 32  # messages the list Viterbi offers the CRC when the plain stage fails (the best one was checked)
LIST_CHECKS = LIST_SIZE - 1
FIRST_STAGE_FRAMES = 24  # frames read first; the rest only if they do not yield a CRC-checked payload


@dataclass(frozen=True)
class _Attempt:
    message: np.ndarray
    crc_ok: bool
    stage_checks: int  # CRC checks of the stage that passed (DECODE_ATTEMPTS or LIST_CHECKS); 0 if none did
    soft: np.ndarray
    sign: float
    reading: CellReading
    p_pilot: float
    refined: int


def _attempt(frames: np.ndarray, layout: Layout, key: bytes, keyed: np.ndarray | None = None) -> _Attempt:
    """Steps 1-5 on ``frames``: mark estimate, geometry, cells, decode; p_pilot before the staging factor.

    ``keyed`` (S, T): the keyed carriers (one per format version) at the clip's frame rate, tried first (see
    ``detect``).
    """
    # 1-3. mark estimate from what flickers
    residual = temporal_residual(analysis_luma(frames))  # (T, A, A)
    weights = pixel_weights(residual)  # (A, A)
    candidates = carrier_estimate(residual, weights)  # (COMPONENTS, T)
    if keyed is not None:
        candidates = np.vstack([_likeliest_first(residual, weights, keyed[:, :len(frames)]), candidates])
    # 4. geometry, cells and the pilot statistic (min p over components and whole-cell shifts: Bonferroni)
    # (the first component usually is the carrier: if its decode passes the CRC the others are not read; the
    #  Bonferroni factor stays COMPONENTS, which keeps the bound valid, if conservative, for the early stop)
    reading = read_cells(mark_estimate(residual, weights, candidates[0]), layout.pilot_cells, layout.pilot_signs)
    message, crc_ok, soft, sign = _decode(reading, layout, key)
    if not crc_ok:
        others = [read_cells(mark_estimate(residual, weights, seq), layout.pilot_cells, layout.pilot_signs)
                  for seq in candidates[1:]]
        best = min([reading, *others], key=lambda r: (r.p_rank, -abs(r.z)))
        if best is not reading:
            reading = best
            message, crc_ok, soft, sign = _decode(reading, layout, key)
    p_pilot = min(1.0, len(candidates) * reading.hypotheses * reading.p_rank)
    # 5. decode; while the CRC fails, re-estimate the carrier by matched filtering with the re-encoded best decode
    #    in the data cells only (blind to the pilot signs, so the pilot statistic above stays valid)
    refined = 0
    while not crc_ok and refined < REFINEMENTS:
        refined += 1
        values = np.zeros(CELLS)
        values[layout.data_cells] = np.tile(1.0 - 2.0 * conv_encode(message), REPEAT) * layout.scramble
        template = render_cells(values, reading.geometry) * weights  # (A, A) data cells of the best decode
        seq = np.tensordot(residual, template, axes=([1, 2], [0, 1]))  # (T,) matched filter per frame
        again = read_cells(mark_estimate(residual, weights, seq), layout.pilot_cells, layout.pilot_signs,
                           reading.geometry)
        message, crc_ok, soft, sign = _decode(again, layout, key)
    stage_checks = DECODE_ATTEMPTS if crc_ok else 0
    if not crc_ok:  # list stage on the pilots' reading, with the pilots' sign
        sign = 1.0 if reading.z >= 0 else -1.0
        soft = sign * _soft_bits(reading, layout)
        candidates_list = list_viterbi_decode(soft, LIST_SIZE)
        message = candidates_list[0]
        for candidate in candidates_list[1:LIST_SIZE]:
            if _crc_passes(candidate, key):
                message, crc_ok, stage_checks = candidate, True, LIST_CHECKS
                break
    return _Attempt(message, crc_ok, stage_checks, soft, sign, reading, p_pilot, refined)


def detect(frames: np.ndarray, *, fps: float | None = None, key: bytes = DEFAULT_KEY,
           p_threshold: float = DEFAULT_P_THRESHOLD, max_frames: int = MAX_FRAMES,
           carrier_shapes: tuple[str, ...] = CARRIER_SHAPES) -> Detection:
    """Look for the mark in ``frames`` (T, H, W, 3) uint8; see the module docstring for the steps.

    Only the first ``max_frames`` frames are read: every frame carries the whole payload, so a contiguous piece is
    enough, and the analysis buffers stay bounded (~130 MB at the default) whatever the video's length. The first
    FIRST_STAGE_FRAMES are read first; when they give a CRC-checked payload below ``p_threshold`` (any clean or
    lightly processed release: one second is plenty) the rest is never analysed, otherwise all frames are. Two
    looks at the data double the p-value (Bonferroni), whenever a second look was possible.

    ``fps`` (the container's frame rate, when known) adds one carrier candidate: the keyed carrier itself,
    ``layout.carrier(T, fps)``. The carrier is a function of time, so it still fits after a re-encode, a resize,
    a crop or a frame-rate change that keeps the timeline; after a cut at the start or dropped frames it does not,
    and the blind candidates (principal components) do the work. Why: on short clips whose picture changes a lot
    from frame to frame (the bundled generator's 17 frames of speckle) the picture, not the mark, dominates the
    leading components (measured correlation with the true carrier 0.01-0.91), while the keyed carrier reads
    the same clips at pilot z 5.5-6.7. It is one more candidate in the Bonferroni factor; the pilot signs are
    independent of it (separate keyed streams), so the signed-rank null stays exact.

    ``carrier_shapes``: the format versions whose keyed carriers are tried (default both, v2 doublet first); each
    is one more candidate in the Bonferroni factor (reading v1 too costs a factor 5/4 on the p-value). The blind
    candidates find either shape.
    """
    validate_frames(frames)
    if max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    frames = frames[:max_frames]
    layout = layout_for(key)
    if not carrier_shapes or any(shape not in CARRIER_SHAPES for shape in carrier_shapes):
        raise ValueError(f"carrier_shapes must be a non-empty subset of {CARRIER_SHAPES}, got {carrier_shapes!r}")
    keyed = (np.stack([keyed_carrier(len(frames), fps, key, shape) for shape in carrier_shapes])
             if fps is not None else None)  # (S, T)
    stages = [len(frames)] if len(frames) <= 3 * FIRST_STAGE_FRAMES // 2 else [FIRST_STAGE_FRAMES, len(frames)]
    looks = float(len(stages))
    for count in stages:
        found = _attempt(frames[:count], layout, key, keyed)
        crc_p = 2.0 * found.stage_checks * 2.0**-CRC_BITS if found.crc_ok else 1.0  # two stages: see docstring
        p_value = min(1.0, looks * 2.0 * found.p_pilot * crc_p)  # union of the pilot and CRC routes, per look
        if found.crc_ok and p_value < p_threshold:
            break
    # per-bit confidence from the decoded path's margins
    message, soft, reading = found.message, found.soft, found.reading
    coded = 1.0 - 2.0 * conv_encode(message)
    seen = soft != 0
    noise_var = float(np.mean((soft - coded)[seen] ** 2)) if np.any(seen) else 1.0
    llr = bit_llrs(message, soft, noise_var)[:PAYLOAD_BITS]
    confidence = 1.0 / (1.0 + np.exp(-np.clip(llr, -50, 50)))
    vis_x, off_x, vis_y, off_y = reading.geometry
    details = {"pilot_z": reading.z, "p_pilot": found.p_pilot, "crc_ok": float(found.crc_ok),
               "crc_stage_checks": float(found.stage_checks),
               "refinements": float(found.refined), "visible_x": vis_x, "offset_x": off_x, "visible_y": vis_y,
               "offset_y": off_y, "visible_cells": float(reading.visible.sum()), "noise_var": noise_var,
               "frames": float(count), "looks": looks, "sign": found.sign}
    return Detection(marked=p_value < p_threshold, p_value=p_value,
                     payload=bits_to_bytes(message[:PAYLOAD_BITS]) if found.crc_ok and p_value < p_threshold else None,
                     bits=message[:PAYLOAD_BITS].copy(), bit_confidence=confidence, details=details)
