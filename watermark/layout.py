"""Where each bit of the mark lives: a keyed grid of cells in normalized frame coordinates, and the temporal carrier.

Why a coarse grid in normalized coordinates: each of the GRID x GRID cells holds a copy of one coded bit (or a
pilot) as a smooth luma offset 1/16 of the frame wide. Codecs keep such low-frequency offsets (static, they
survive H.264 at CRF 40 at 80-95% strength), a resize does not move them, and a crop only removes whole cells,
which the channel code sees as erasures (keyed interleaving spreads them over the code).

Why a temporal carrier: the whole pattern flips sign in keyed 1/6 s slots, so the detector can subtract a
(motion-aligned) moving average over time and remove nearly all of the slowly changing picture while keeping the
mark; the carrier's sign sequence never has to be known by the detector.

Three carrier shapes: ``manchester`` (format v1: every slot at +-1, Manchester pairs), ``doublet`` (one keyed
+1, -1 pair of slots per second, then four slots at 0; drawn sqrt(3) x stronger at the same PSNR) and ``pulse``
(one keyed +1, -1 pair of single frames per second, every other frame at 0; at 24 fps drawn sqrt(12) x stronger).
Formats (``FORMATS``): v1 is Manchester at every frame rate; v2 draws the doublet and v3 the pulse from 12 fps up,
both Manchester below (``default_shape``). v2 is what ``embed`` writes unless told otherwise (v3 was the default
for one session; its marked frames are visible on their own: see ``DEFAULT_FORMAT``).
Why v2 and v3: H.264/H.265 at CRF 40 quantise a small flicker to nothing (a dead zone: the kept fraction grows
with the amplitude), so the same energy concentrated in one large sign flip per second survives better (oracle
per-cell SNR after CRF 40, 8 clips: median 0.53 -> 1.56 x264, 0.61 -> 1.71 x265 for the doublet); the pulse
concentrates it in two frames (bit accuracy after CRF 40, 16 development clips: x264 0.77 -> 0.88, x265 0.69 ->
0.97; benchmarks/RESULTS.md, tenth session). The price is visibility on the marked frames: the pulse frames
carry the whole second's budget (worst single frame about 31.4 dB PSNR against 37.3 for the doublet). The period
stays one second, so every 1-second piece of a clip holds a whole doublet or pulse pair.
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
DEFAULT_KEY = b"io.videoguard.wm.v1"  # the key, not the format: v2 and v3 marks use the same default key
CARRIER_SHAPES = ("pulse", "doublet", "manchester")  # the order in which the detector tries the keyed carriers
DOUBLET_MIN_FPS = 12.0  # formats v2 and v3 draw their carrier from here up; below, v1's Manchester carrier
# format version -> (algorithm id, the shape drawn from DOUBLET_MIN_FPS up); below it every version is Manchester
FORMATS = {"v3": ("io.videoguard.wm.v3", "pulse"), "v2": ("io.videoguard.wm.v2", "doublet"),
           "v1": ("io.videoguard.wm.v1", "manchester")}
DEFAULT_FORMAT = "v2"  # v3 reads better after CRF 40 but its two marked frames a second are visibly blotchy on
#   their own (mean SSIM 0.963, PSNR 32.3 dB per marked frame against v2's 0.989 / 38.1; frame 0, the usual thumbnail,
#   is one of them): an invisible mark comes first, so v3 is a policy choice (benchmarks/RESULTS.md, eleventh session)
_DOUBLET = np.array([1.0, -1.0, 0.0, 0.0, 0.0, 0.0], np.float32)  # slot values over one second (6 slots)


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


def default_shape(fps: float, version: str = DEFAULT_FORMAT) -> str:
    """The carrier format ``version`` (``FORMATS``) draws at ``fps``: its own shape (v3 the pulse, v2 the doublet)
    from DOUBLET_MIN_FPS up, v1's Manchester carrier below.

    Why: below 12 fps a 1/6 s slot is under two frames and the doublet's halves come out unequal (at the bundled
    generator's 8 fps: two frames at +1, one at -1), and on those clips the doublet read back after the release's
    CRF 18 encode less often than Manchester (2-step bundled clips, 128 clip-payload pairs: 86 vs 94 at the first
    embed, 120 vs 126 after one reinforcement; benchmarks/watermark_release_loop.py).
    """
    if version not in FORMATS:
        raise ValueError(f"watermark format must be one of {tuple(FORMATS)}, got {version!r}")
    return FORMATS[version][1] if fps >= DOUBLET_MIN_FPS else "manchester"


def carrier(num_frames: int, fps: float, key: bytes = DEFAULT_KEY, shape: str | None = None) -> np.ndarray:
    """(T,) float32 temporal carrier over 1/CARRIER_HZ-second slots.

    ``manchester`` (v1): values in {-1, +1}, keyed Manchester pairs of slots (+- or -+), which keeps the carrier
    free of slow components the detector's moving-average high-pass would throw away with the picture.
    ``doublet`` (v2): values in {-1, 0, +1}, per second one keyed +-(+1, -1) pair in the first two slots, 0 in the
    other four (duty 1/3; also free of slow components). The embedder scales its amplitude by the duty.
    ``pulse`` (v3): per second one keyed +-(+1, -1) pair on the second's first two frames, 0 elsewhere (duty
    2/fps; the frame rate is the one the clip is played at, so the pair is two frames whatever it is).
    ``None``: the default format's shape at this frame rate (``default_shape``).
    """
    shape = default_shape(fps) if shape is None else shape
    if shape not in CARRIER_SHAPES:
        raise ValueError(f"carrier shape must be one of {CARRIER_SHAPES}, got {shape!r}")
    if shape == "pulse":
        frame = np.arange(num_frames)
        # (the tolerances keep a rate like 29.97, whose whole seconds fall on frames, from rounding a second's
        #  first frame into the previous second)
        second = np.floor(frame / fps + 1e-9).astype(np.int64)
        position = frame - np.ceil(second * fps - 1e-6).astype(np.int64)  # frames since the second began
        seconds = int(second[-1]) + 1 if num_frames else 1
        signs = _rng(key, "carrier:pulse").choice(np.array([-1.0, 1.0], np.float32), seconds)
        return (signs[second] * np.where(position == 0, 1.0, np.where(position == 1, -1.0, 0.0))).astype(np.float32)
    slot = np.floor(np.arange(num_frames) * CARRIER_HZ / fps).astype(np.int64)  # (T,)
    last = int(slot[-1]) if num_frames else 0
    if shape == "doublet":
        signs = _rng(key, "carrier:doublet").choice(np.array([-1.0, 1.0], np.float32), last // len(_DOUBLET) + 1)
        return (signs[slot // len(_DOUBLET)] * _DOUBLET[slot % len(_DOUBLET)]).astype(np.float32)
    pairs = _rng(key, "carrier").choice(np.array([-1.0, 1.0], np.float32), last // 2 + 1)
    return np.where(slot % 2 == 0, pairs[slot // 2], -pairs[slot // 2]).astype(np.float32)
