"""Closed-loop reinforcement: after a marked clip failed to read back (e.g. from the release's own encode), measure
per cell what the detector saw and redistribute the mark's amplitude between cells for the next embed.

Why: on short clips whose picture changes a lot from frame to frame (the bundled generator's 17 frames of speckle)
the picture's own flicker, read through the carrier, is as large as the mark in a cell (measured: 91-97% of what
disturbs a cell after the release's CRF 18 encode is the picture, not the codec), so a fixed +-1 pattern leaves
some cells with the wrong sign and the code cannot correct them all. That disturbance is known at release time:
it is the reading of the received file minus the mark's own contribution. This is informed embedding (Malvar and
Florencio's improved spread spectrum, per cell): cells the picture pushes the wrong way get more amplitude,
cells it already pushes the right way give theirs up, at the same total energy (the embedder's PSNR budget
scaling includes the cell gains), so every cell reaches the same margin ``tau`` in units of its own response.

The measurement uses the keyed carrier at the clip's frame rate and the whole-frame geometry (a release is
neither cropped nor retimed), i.e. exactly what ``detect(frames, fps=...)`` reads first. It changes only how the
embedder draws the mark, never the detector, so the detector's p-value stays valid for unmarked video.
"""

from __future__ import annotations

import numpy as np

from watermark.detector import (
    MAX_FRAMES,
    WHOLE_FRAME,
    analysis_luma,
    mark_estimate,
    pixel_weights,
    read_cells,
    temporal_residual,
)
from watermark.embedder import cell_signs, check_cell_gain, validate_frames
from watermark.layout import DEFAULT_KEY, GRID, carrier, layout_for

GAIN_FLOOR = 0.25  # a cell never drops below this gain: the blind (principal-component) read-out needs its energy
GAIN_CAP = 2.5  # nor rises above it: one cell flickering at many times the mark's level would be seen
LAMBDAS = np.linspace(0.1, 1.0, 10)  # shares of the measured disturbance the next embed cancels
NOISE_FLOOR = 0.05  # smallest channel noise assumed, in units of gain
RESPONSE_FLOOR = 0.2  # a cell's response is taken as at least this fraction of the median (clamped or dark cells)


def _cell_means(values: np.ndarray) -> np.ndarray:
    """(A, A) -> (CELLS,) plain mean per cell of the analysis grid (for the energy weights)."""
    side = values.shape[0] // GRID
    return values.reshape(GRID, side, GRID, side).mean(axis=(1, 3)).reshape(-1)


def reinforce(original: np.ndarray, marked: np.ndarray, received: np.ndarray, payload: bytes, *, fps: float,
              key: bytes = DEFAULT_KEY, cell_gain: np.ndarray | None = None,
              carrier_shape: str | None = None) -> np.ndarray:
    """New (CELLS,) cell gains for re-embedding ``original`` after ``marked`` (embedded with ``cell_gain`` and
    ``carrier_shape``; None: the default format's at ``fps``) was received as ``received`` (same frames, e.g.
    decoded from the encoded file) and did not read back.

    All three are (T, H, W, 3) uint8 with the same frame count; ``received`` may differ in size (padding).
    """
    for frames in (original, marked, received):
        validate_frames(frames)
    if not (len(original) == len(marked) == len(received)) or original.shape != marked.shape:
        raise ValueError(f"original {original.shape}, marked {marked.shape} and received {received.shape} must "
                         f"hold the same frames")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    gain = check_cell_gain(cell_gain).astype(np.float64)
    count = min(len(original), MAX_FRAMES)  # what the detector reads
    layout = layout_for(key)
    signs = cell_signs(payload, key).astype(np.float64)  # (CELLS,)
    sequence = carrier(count, fps, key, carrier_shape)  # (T,)
    # 1. What the detector reads in each cell of the received clip, and the mark's own part of it (the mark does
    #    not move: its residual needs no motion tracking); the rest is the picture plus the channel.
    residual = temporal_residual(analysis_luma(received[:count]))  # (T, A, A)
    weights = pixel_weights(residual)  # (A, A) the received clip's, as the detector computes them

    def read(res: np.ndarray) -> np.ndarray:
        mark = mark_estimate(res, weights, sequence)
        return read_cells(mark, layout.pilot_cells, layout.pilot_signs, WHOLE_FRAME).cells.astype(np.float64)

    mark_only = analysis_luma(marked[:count]) - analysis_luma(original[:count])  # (T, A, A) float
    response = read(temporal_residual(mark_only, motion=False))  # (CELLS,)
    disturbance = signs * (read(residual) - response)  # > 0 where the picture (and channel) help the cell's sign
    picture = signs * read(temporal_residual(analysis_luma(original[:count])))  # the picture's part alone
    # 2. Per unit of gain: the response and the energy each cell costs (mean squared offset at analysis size).
    unit = np.maximum(signs * response / np.maximum(gain, 1e-6), 0.0)
    unit = np.maximum(unit, RESPONSE_FLOOR * max(float(np.median(unit)), 1e-9))
    energy = np.maximum(_cell_means(np.mean(mark_only**2, axis=0)) / np.maximum(gain, 1e-6) ** 2, 1e-9)
    push = disturbance / unit  # (CELLS,) the disturbance in units of gain
    # the channel's share (what the encode added), in the same units: the spread the margins must survive
    noise = max(float(np.median(np.abs(disturbance - picture) / unit)) * 1.4826, NOISE_FLOOR)
    return _allocate(push, energy, float(np.sum(energy * gain**2)), noise, gain)


def _margin_snr(cell_gain: np.ndarray, push: np.ndarray, energy: np.ndarray, budget: float, noise: float) -> float:
    """Mean over spread of the cells' margins once the embedder scales ``cell_gain`` to the budget.

    Why this figure: Viterbi decoding goes wrong when, over the ~10 cells in which the right codeword differs from
    a competitor (the code's free distance), the margins sum below zero, and the pilots' signed-rank test also
    gains from a high mean and a small spread; a few cells left strongly wrong cost less than many weak ones.
    """
    margin = np.sqrt(budget / float(np.sum(energy * cell_gain**2))) * cell_gain + push
    return float(np.mean(margin) / np.sqrt(np.var(margin) + noise**2))


def _allocate(push: np.ndarray, energy: np.ndarray, budget: float, noise: float,
              previous: np.ndarray) -> np.ndarray:
    """Cell gains ``a - lam * push`` within [GAIN_FLOOR, GAIN_CAP] at the same total energy, ``lam`` chosen by
    ``_margin_snr`` (lam = 0: the plain mark; lam = 1: every cell at the same margin, the picture cancelled).

    This is improved spread spectrum's lambda, per cell and fitted per clip to the measured disturbance; the
    previous gains are a candidate too, so a round never scores below the last.
    """
    best, best_score = previous, _margin_snr(previous, push, energy, budget, noise)
    for lam in LAMBDAS:
        lo, hi = GAIN_FLOOR + lam * float(push.min()), GAIN_CAP + lam * float(push.max())
        for _ in range(50):  # bisection on the offset a: the energy grows monotonically with it
            mid = 0.5 * (lo + hi)
            if np.sum(energy * np.clip(mid - lam * push, GAIN_FLOOR, GAIN_CAP) ** 2) > budget:
                hi = mid
            else:
                lo = mid
        candidate = np.clip(lo - lam * push, GAIN_FLOOR, GAIN_CAP)
        score = _margin_snr(candidate, push, energy, budget, noise)
        if score > best_score:
            best, best_score = candidate, score
    return best.astype(np.float32)
