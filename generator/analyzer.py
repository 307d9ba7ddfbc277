"""An OpenCV analyser of generated clips: which colour, which shape, which motion.

Why: prompt adherence must be scored without a human. The scenes put saturated objects on
desaturated backgrounds, so the object is found by saturation; its colour is the circular median hue,
its shape comes from contour geometry (solidity, fill of the minimum-area rectangle, circularity) voted
over frames, and its motion from the centroid and area tracks. It reads one dominant object; run on
the training renders it agrees with the ground truth (see tests/generator/test_analyzer.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from generator.scenes import DIRECTIONS, nearest_colour

SAT_MIN = 0.42  # backgrounds stay below 0.25 saturation, objects above 0.8
VAL_MIN = 0.35
MIN_AREA = 30  # pixels at 128 px
TRAVEL_MIN = 0.12  # fraction of the frame width a translation must cover
GROW_RATIO = 1.8  # area last / first for "growing"


@dataclass(frozen=True)
class ClipReading:
    colour: str | None
    shape: str | None
    motion: str | None
    found_frames: int  # frames in which an object was found
    track: tuple[tuple[float, float, float], ...]  # per found frame (x, y, area) in pixels


def _object_mask(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 mask of the largest saturated component."""
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV_FULL)
    mask = ((hsv[..., 1] >= SAT_MIN * 255) & (hsv[..., 2] >= VAL_MIN * 255)).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros_like(mask)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[best, cv2.CC_STAT_AREA] < MIN_AREA * (frame.shape[0] / 128) ** 2:
        return np.zeros_like(mask)
    return (labels == best).astype(np.uint8)


def _shape_of(mask: np.ndarray) -> str | None:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    c = max(contours, key=cv2.contourArea)
    area = float(cv2.contourArea(c))
    if area < MIN_AREA:
        return None
    hull = float(cv2.contourArea(cv2.convexHull(c)))
    (_, (w, h), _) = cv2.minAreaRect(c)
    perimeter = float(cv2.arcLength(c, True))
    solidity = area / max(hull, 1e-6)
    rect_fill = area / max(w * h, 1e-6)
    circularity = 4 * np.pi * area / max(perimeter**2, 1e-6)
    if solidity < 0.8:
        return "star"
    if rect_fill < 0.66:
        return "triangle"
    if rect_fill > 0.86 and circularity < 0.86:
        return "square"
    return "circle" if circularity > 0.8 else ("square" if rect_fill > 0.8 else "triangle")


def _colour_of(frames: np.ndarray, masks: np.ndarray) -> str | None:
    hsv = cv2.cvtColor(frames.reshape(-1, frames.shape[2], 3), cv2.COLOR_RGB2HSV_FULL)  # (T*H, W, 3)
    hue = hsv[..., 0][masks.reshape(-1, frames.shape[2]) > 0].astype(np.float64) * (360.0 / 256.0)
    if hue.size == 0:
        return None
    angle = np.deg2rad(hue)
    mean = np.rad2deg(np.arctan2(np.sin(angle).mean(), np.cos(angle).mean())) % 360.0
    return nearest_colour(float(mean))


def _motion_of(masks: np.ndarray, track: list[tuple[float, float, float]], width: int) -> str:
    xs, ys, areas = (np.array(v) for v in zip(*track, strict=True))
    k = max(1, len(xs) // 6)
    dx, dy = xs[-k:].mean() - xs[:k].mean(), ys[-k:].mean() - ys[:k].mean()
    if areas[-k:].mean() / max(areas[:k].mean(), 1.0) > GROW_RATIO:
        return "growing"
    if np.hypot(dx, dy) > TRAVEL_MIN * width:
        angle = np.arctan2(dy, dx)
        names = list(DIRECTIONS)
        scores = [np.cos(angle - np.arctan2(vy, vx)) for vx, vy in DIRECTIONS.values()]
        return names[int(np.argmax(scores))]
    if np.ptp(ys) > 0.12 * width and np.ptp(xs) < 0.1 * width:
        return "bouncing"
    # rotating: the centred silhouette changes while the area does not (min over frames, because a
    # symmetric shape turned by its symmetry angle looks unchanged)
    def centred(m: np.ndarray) -> np.ndarray:
        mom = cv2.moments(m, binaryImage=True)
        cx, cy = mom["m10"] / mom["m00"], mom["m01"] / mom["m00"]
        shift = np.float32([[1, 0, m.shape[1] / 2 - cx], [0, 1, m.shape[0] / 2 - cy]])
        return cv2.warpAffine(m, shift, (m.shape[1], m.shape[0]), flags=cv2.INTER_NEAREST) > 0

    ref = centred(masks[0])
    ious = []
    for m in masks[1:]:
        other = centred(m)
        ious.append((ref & other).sum() / max((ref | other).sum(), 1))
    if ious and min(ious) < 0.75:
        return "rotating"
    return "static"


def analyse(frames: np.ndarray) -> ClipReading:
    """Read a clip: ``frames`` (T, H, W, 3) uint8 RGB."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    masks = np.stack([_object_mask(f) for f in frames])  # (T, H, W) uint8
    found = [t for t in range(len(frames)) if masks[t].any()]
    if len(found) < max(3, len(frames) // 2):
        return ClipReading(None, None, None, len(found), ())
    track = []
    for t in found:
        mom = cv2.moments(masks[t], binaryImage=True)
        track.append((mom["m10"] / mom["m00"], mom["m01"] / mom["m00"], float(mom["m00"])))
    shapes = [s for s in (_shape_of(masks[t]) for t in found) if s is not None]
    shape = max(set(shapes), key=shapes.count) if shapes else None
    motion = _motion_of(masks[found], track, frames.shape[2])
    return ClipReading(_colour_of(frames, masks), shape, motion, len(found), tuple(track))
