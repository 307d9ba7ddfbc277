"""Which frames of a video get classified: at least N per second, every shot boundary, every odd
frame, the first and the last; short videos whole.

Classifying every frame of a long video costs more than the 2 cores have, and classifying only a
fixed 2 per second misses a single inserted frame (a "flash frame"). The sampler watches *every*
decoded frame on a 64x36 RGB thumbnail and selects a frame when

- it is the first frame;
- ``1 / sample_fps`` seconds have passed since the last selected frame (``interval``);
- it differs from the previous frame by more than ``min_change`` and by more than ``change_ratio``
  times the recent median difference (``change``: a cut, or a flash frame, and the frame after it);
- it differs from both neighbours ``odd_ratio`` times more than they differ from each other (``odd``:
  a flash frame in footage so busy that the adaptive ``change`` bar is high; judged one frame late);
- it is the last frame;
- the whole video lasts at most ``scan_whole_below_s`` (``whole``: every frame).

The change score is the mean of the largest 10% of per-cell differences, so an inserted region
covering a tenth of the frame counts as much as a full cut, while camera motion and grain stay low
and the adaptive median absorbs busy footage.
It works online (one frame at a time) so files stream through it; only the frames of the first
``scan_whole_below_s`` seconds are buffered (downscaled) until the sampler knows whether the video is
short.

Frames come either as RGB arrays or as decoded frames (``guard.video_io.DecodedFrame``) that convert to
RGB on demand. For the latter the thumbnail is built from the decoder's YUV planes (strided views,
no copy) and converted to RGB at 64x36 with the frame's own matrix (BT.601/709, limited/full range), so
the 90% of frames that are never selected are never converted (converting a 720p frame costs about
half of decoding it). Colour conversion is affine and commutes with the area average, so the YUV
thumbnail equals the RGB one up to rounding and chroma subsampling (tested): the thresholds below hold
for both, and a frame that differs from its neighbours only in colour at equal luma still scores.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from guard.video_io import YuvPlanes

THUMB_SIZE = (64, 36)  # (width, height) of the change-detection thumbnail
TOP_FRACTION = 0.10  # the change score averages the most-changed 10% of thumbnail cells
HISTORY = 48  # frames of change history for the adaptive median (2 s at 24 fps)
WHOLE_BUFFER_MAX_SIDE = 640  # frames held for a possible whole scan are downscaled to this


@runtime_checkable
class FrameSource(Protocol):
    """A decoded frame that converts to RGB only when asked (``guard.video_io.DecodedFrame``)."""

    @property
    def shape(self) -> tuple[int, int, int]: ...

    def rgb(self) -> np.ndarray: ...  # (H, W, 3) uint8

    def yuv(self) -> YuvPlanes | None: ...  # None: not 8-bit planar YUV; the thumbnail then uses rgb()


Frame = np.ndarray | FrameSource


def _rgb(frame: Frame) -> np.ndarray:
    return frame if isinstance(frame, np.ndarray) else frame.rgb()


# YUV -> RGB: (Kr, Kb) per matrix; R = Y' + 2(1-Kr) V', B = Y' + 2(1-Kb) U', G = (Y' - Kr R - Kb B) / Kg
_KR_KB = {False: (0.299, 0.114), True: (0.2126, 0.0722)}  # bt709 -> coefficients


def _yuv_to_rgb_matrix(bt709: bool, full_range: bool) -> tuple[np.ndarray, np.ndarray]:
    """(3, 3) matrix and (3,) offset with rgb = matrix @ yuv + offset, as swscale converts."""
    kr, kb = _KR_KB[bt709]
    kg = 1.0 - kr - kb
    ys, cs = (1.0, 1.0) if full_range else (255.0 / 219.0, 255.0 / 224.0)
    matrix = np.array([[ys, 0.0, cs * 2 * (1 - kr)],
                       [ys, -cs * 2 * (1 - kb) * kb / kg, -cs * 2 * (1 - kr) * kr / kg],
                       [ys, cs * 2 * (1 - kb), 0.0]], np.float32)
    yuv_zero = np.array([0.0 if full_range else 16.0, 128.0, 128.0], np.float32)
    return matrix, -matrix @ yuv_zero


_MATRICES = {(bt709, full): _yuv_to_rgb_matrix(bt709, full) for bt709 in (False, True) for full in (False, True)}


@dataclass(frozen=True)
class SamplingConfig:
    sample_fps: float = 2.0
    scan_whole_below_s: float = 3.0
    min_change: float = 0.10
    change_ratio: float = 4.0
    odd_min_change: float = 0.05  # an odd frame differs from both neighbours by at least this much ...
    odd_ratio: float = 1.5  # ... and this many times more than the neighbours differ from each other

    def __post_init__(self) -> None:
        if self.sample_fps <= 0:
            raise ValueError(f"sample_fps must be positive, got {self.sample_fps}")
        if self.scan_whole_below_s < 0:
            raise ValueError(f"scan_whole_below_s must be >= 0, got {self.scan_whole_below_s}")
        if not 0 < self.min_change <= 1:
            raise ValueError(f"min_change must be in (0, 1], got {self.min_change}")
        if self.change_ratio < 1:
            raise ValueError(f"change_ratio must be >= 1, got {self.change_ratio}")
        if not 0 < self.odd_min_change <= 1:
            raise ValueError(f"odd_min_change must be in (0, 1], got {self.odd_min_change}")
        if self.odd_ratio < 1:
            raise ValueError(f"odd_ratio must be >= 1, got {self.odd_ratio}")


@dataclass(frozen=True)
class Selection:
    """A frame chosen for classification. ``scale`` < 1 when the frame was downscaled for buffering
    (divide region coordinates by it to get source pixels)."""

    index: int
    timestamp_s: float
    frame: np.ndarray  # (H, W, 3) uint8
    reason: str  # first | interval | change | last | whole
    change: float
    scale: float = 1.0


def _shrink(image: np.ndarray) -> np.ndarray:
    """(H, W[, C]) uint8 -> (36, 64[, C]) uint8: a strided grid keeping at least 4x4 samples per
    thumbnail cell (a 720p area resize costs 1.5 ms; this costs 0.1 ms), then area-averaged."""
    height, width = image.shape[:2]
    step = max(1, min(height // (THUMB_SIZE[1] * 4), width // (THUMB_SIZE[0] * 4)))
    grid = np.ascontiguousarray(image[::step, ::step])  # also makes a padded plane view contiguous
    return cv2.resize(grid, THUMB_SIZE, interpolation=cv2.INTER_AREA)


def yuv_thumbnail(planes: YuvPlanes) -> np.ndarray:
    """8-bit planar YUV -> (36, 64, 3) int16 RGB thumbnail, without converting the full frame."""
    yuv = np.stack([_shrink(planes.y), _shrink(planes.u), _shrink(planes.v)], axis=-1).astype(np.float32)
    matrix, offset = _MATRICES[(planes.bt709, planes.full_range)]
    rgb = yuv @ matrix.T + offset  # (36, 64, 3)
    return np.clip(np.rint(rgb), 0, 255).astype(np.int16)


def thumbnail(frame: Frame) -> np.ndarray:
    """An RGB frame or a decoded frame -> (36, 64, 3) int16 RGB thumbnail (from the YUV planes when it can)."""
    if not isinstance(frame, np.ndarray):
        planes = frame.yuv()
        if planes is not None:
            return yuv_thumbnail(planes)
        frame = frame.rgb()
    return _shrink(frame).astype(np.int16)


def change_score(a: np.ndarray, b: np.ndarray) -> float:
    """Difference of two thumbnails in [0, 1]: mean of the top 10% per-cell max-channel differences."""
    diff = np.abs(a - b).max(axis=2).ravel()  # (36 * 64,)
    top = max(1, int(diff.size * TOP_FRACTION))
    return float(np.partition(diff, diff.size - top)[-top:].mean()) / 255.0


class FrameSampler:
    """Online sampler: ``offer`` each decoded frame in order, then ``finish``; both return the
    selections that became final."""

    def __init__(self, config: SamplingConfig | None = None) -> None:
        self.config = config or SamplingConfig()
        self._history: deque[float] = deque(maxlen=HISTORY)
        self._prev_thumb: np.ndarray | None = None
        self._prev_prev_thumb: np.ndarray | None = None
        self._prev: tuple[int, float, Frame, float] | None = None
        self._prev_selected = False
        self._next_due = 0.0
        self._pending: list[Selection] | None = []  # unselected frames while the video may still be short
        self.frames_seen = 0
        self.last_timestamp_s = 0.0
        self.counts: dict[str, int] = {}

    def offer(self, index: int, timestamp_s: float, frame: Frame) -> list[Selection]:
        """Look at the next frame; an RGB array or a ``FrameSource`` (converted to RGB only if selected)."""
        thumb = thumbnail(frame)
        change = 0.0 if self._prev_thumb is None else change_score(thumb, self._prev_thumb)
        out: list[Selection] = []
        odd = self._odd_previous(thumb, change)
        if odd is not None:
            out.append(odd)
        reason = self._reason(timestamp_s, change)
        if reason is not None:
            out.append(self._select(index, timestamp_s, frame, reason, change))
        elif self._pending is not None:
            self._pending.append(_downscaled(index, timestamp_s, frame, change))
        if self._pending is not None and timestamp_s > self.config.scan_whole_below_s:
            self._pending = None  # the video is long: the rules above decide alone
        if self._prev_thumb is not None:
            self._history.append(change)
        self._prev_prev_thumb = self._prev_thumb
        self._prev_thumb = thumb
        self._prev = (index, timestamp_s, frame, change)
        self._prev_selected = reason is not None
        self.frames_seen += 1
        self.last_timestamp_s = timestamp_s
        return out

    def take(self, index: int, timestamp_s: float, frame: Frame) -> Selection:
        """Select a frame unconditionally (a clip known to be short is scanned whole)."""
        self.frames_seen += 1
        self.last_timestamp_s = timestamp_s
        self.counts["whole"] = self.counts.get("whole", 0) + 1
        return Selection(index, timestamp_s, _rgb(frame), "whole", 0.0)

    def finish(self) -> list[Selection]:
        out: list[Selection] = []
        if self._prev is not None and not self._prev_selected:
            index, timestamp_s, frame, change = self._prev
            out.append(self._select(index, timestamp_s, frame, "last", change))
            if self._pending:
                self._pending = [s for s in self._pending if s.index != index]
        if self._pending:
            for pending in self._pending:
                self.counts["whole"] = self.counts.get("whole", 0) + 1
                out.append(Selection(pending.index, pending.timestamp_s, pending.frame, "whole",
                                     pending.change, pending.scale))
        self._pending = None
        return out

    def _odd_previous(self, thumb: np.ndarray, change: float) -> Selection | None:
        """Select the previous frame if it differs from both its neighbours far more than they differ
        from each other: a flash frame, caught even in footage too busy for the ``change`` rule."""
        if self._prev is None or self._prev_selected or self._prev_prev_thumb is None:
            return None
        index, timestamp_s, frame, before = self._prev
        around = min(before, change)  # d(i-1, i) and d(i, i+1)
        if around < self.config.odd_min_change \
                or around < self.config.odd_ratio * change_score(thumb, self._prev_prev_thumb):
            return None
        if self._pending:
            self._pending = [s for s in self._pending if s.index != index]
        self._prev_selected = True
        self.counts["odd"] = self.counts.get("odd", 0) + 1
        return Selection(index, timestamp_s, _rgb(frame), "odd", around)

    def _reason(self, timestamp_s: float, change: float) -> str | None:
        if self._prev_thumb is None:
            return "first"
        recent = statistics.median(self._history) if self._history else 0.0  # (np.median: 20x slower here)
        if change >= self.config.min_change and change >= self.config.change_ratio * recent:
            return "change"
        if timestamp_s >= self._next_due:
            return "interval"
        return None

    def _select(self, index: int, timestamp_s: float, frame: Frame, reason: str, change: float) -> Selection:
        self._next_due = timestamp_s + 1.0 / self.config.sample_fps - 1e-6
        self.counts[reason] = self.counts.get(reason, 0) + 1
        return Selection(index, timestamp_s, _rgb(frame), reason, change)


def _downscaled(index: int, timestamp_s: float, source: Frame, change: float) -> Selection:
    frame = _rgb(source)
    height, width = frame.shape[:2]
    scale = min(1.0, WHOLE_BUFFER_MAX_SIDE / max(height, width))
    if scale < 1.0:
        frame = cv2.resize(frame, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA)
    else:
        frame = frame.copy()  # the decoder may reuse its buffer
    return Selection(index, timestamp_s, frame, "whole", change, scale)


def sample(frames: Iterable[tuple[int, float, Frame]], config: SamplingConfig | None = None,
           sampler: FrameSampler | None = None) -> Iterator[Selection]:
    """Run a sampler over ``(index, timestamp_s, frame)`` tuples, yielding selections as they become final."""
    sampler = sampler or FrameSampler(config)
    for index, timestamp_s, frame in frames:
        yield from sampler.offer(index, timestamp_s, frame)
    yield from sampler.finish()
