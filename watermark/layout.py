"""Where each bit of the mark lives: a keyed grid of cells in normalized frame coordinates, and the temporal carrier.

Why a coarse grid in normalized coordinates: each of the GRID x GRID cells holds a copy of one coded bit (or a
pilot) as a smooth luma offset 1/16 of the frame wide. Codecs keep such low-frequency offsets (static, they
survive H.264 at CRF 40 at 80-95% strength), a resize does not move them, and a crop only removes whole cells,
which the channel code sees as erasures (keyed interleaving spreads them over the code).

Why a temporal carrier: the whole pattern flips sign every ~1/6 s in a keyed Manchester sequence, so the detector
can subtract a (motion-aligned) moving average over time and remove nearly all of the slowly changing picture while
keeping the mark; the carrier's sign sequence never has to be known by the detector.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from watermark.code import CODED_BITS

GRID = 16  # cells per side (16 px cells at 256x256: 22 cells per side lost half the H.265 CRF 30 clips)
CELLS = GRID * GRID  # 256
REPEAT = 1  # copies per coded bit (2 needs GRID 22: survives crops to 55% but not codecs)
DATA_CELLS = REPEAT * CODED_BITS  # 188
PILOTS = CELLS - DATA_CELLS  # 68 cells with keyed known signs: detection statistic and sign reference
CARRIER_HZ = 6.0  # the carrier holds its sign for 1/6 s (4 frames at 24 fps)
DEFAULT_KEY = b"io.videoguard.wm.v1"


def _rng(key: bytes, label: str) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256(label.encode() + b":" + key).digest()[:8], "little")
    return np.random.default_rng(seed)


@dataclass(frozen=True)
class Layout:
    """The keyed arrangement: which cell carries which coded bit, the pilot signs and the scrambling signs."""

    pilot_cells: np.ndarray  # (PILOTS,) int cell indices (row-major over the GRID x GRID grid)
    pilot_signs: np.ndarray  # (PILOTS,) +-1
    data_cells: np.ndarray  # (DATA_CELLS,) int: cell of copy r of coded bit i at index r * CODED_BITS + i
    scramble: np.ndarray  # (DATA_CELLS,) +-1 multiplied into the coded bits so no payload gives a plain pattern

    def sign_grid(self, coded: np.ndarray) -> np.ndarray:
        """Coded bits {0,1} (CODED_BITS,) -> (GRID, GRID) float32 of +-1."""
        cells = np.empty(CELLS, np.float32)
        cells[self.pilot_cells] = self.pilot_signs
        cells[self.data_cells] = np.tile(1.0 - 2.0 * coded, REPEAT) * self.scramble
        return cells.reshape(GRID, GRID)


@lru_cache(maxsize=8)
def layout_for(key: bytes = DEFAULT_KEY) -> Layout:
    order = _rng(key, "cells").permutation(CELLS)
    return Layout(
        pilot_cells=order[:PILOTS],
        pilot_signs=_rng(key, "pilots").choice(np.array([-1.0, 1.0], np.float32), PILOTS),
        data_cells=order[PILOTS:],
        scramble=_rng(key, "scramble").choice(np.array([-1.0, 1.0], np.float32), DATA_CELLS),
    )


def carrier(num_frames: int, fps: float, key: bytes = DEFAULT_KEY) -> np.ndarray:
    """(T,) float32 temporal carrier in {-1, +1}: keyed Manchester pairs of 1/CARRIER_HZ-second slots.

    Manchester (+- or -+ per pair of slots) keeps the carrier free of slow components, which the detector's
    moving-average high-pass would otherwise throw away along with the picture.
    """
    slot = np.floor(np.arange(num_frames) * CARRIER_HZ / fps).astype(np.int64)  # (T,)
    pairs = _rng(key, "carrier").choice(np.array([-1.0, 1.0], np.float32), slot[-1] // 2 + 1 if num_frames else 1)
    return np.where(slot % 2 == 0, pairs[slot // 2], -pairs[slot // 2]).astype(np.float32)
