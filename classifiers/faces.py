"""Face detection with OpenCV's bundled Haar cascade, and the face blur the stage applies.

NudeNet already reports faces (``FACE_FEMALE`` / ``FACE_MALE``) as ``face`` regions at no extra
cost and finds them better on the scikit-image photographs than this cascade; the cascade is the
fallback when NudeNet is not enabled, and a second opinion on small frames. No face model that
ships in an installed package beats either here (``cv2.FaceDetectorYN`` needs a YuNet file that
no installed package ships).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from classifiers.base import FACE, FrameScores, Region, check_frames

CASCADE = "haarcascade_frontalface_default.xml"
DETECT_MAX_SIDE = 480  # frames are downscaled to this before the cascade runs (speed)
MIN_FACE_FRACTION = 0.04  # smallest face searched for, as a fraction of the shorter side


@lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)
    if cascade.empty():
        raise ValueError(f"OpenCV cascade {CASCADE} did not load from {cv2.data.haarcascades}")
    return cascade


class HaarFaceDetector:
    """Frontal faces; score 1.0 per detection (the cascade gives no calibrated confidence)."""

    name = "faces_haar"
    version = f"opencv-{cv2.__version__}-{CASCADE}"
    categories = (FACE,)

    def __init__(self, min_neighbors: int = 5) -> None:
        if min_neighbors < 1:
            raise ValueError(f"min_neighbors must be >= 1, got {min_neighbors}")
        self.min_neighbors = min_neighbors
        self._cascade = _cascade()

    def classify(self, frames: np.ndarray) -> list[FrameScores]:
        frames = check_frames(frames)  # (N, H, W, 3) uint8
        results = []
        for frame in frames:
            height, width = frame.shape[:2]
            scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
            small = cv2.resize(frame, (max(1, round(width * scale)), max(1, round(height * scale))),
                               interpolation=cv2.INTER_AREA) if scale < 1.0 else frame
            gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))  # (h, w) uint8
            min_side = max(12, round(MIN_FACE_FRACTION * min(gray.shape)))
            found = self._cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=self.min_neighbors,
                                                   minSize=(min_side, min_side))
            regions = tuple(
                Region(FACE, "frontalface", 1.0, tuple(int(round(v / scale)) for v in box))  # type: ignore[arg-type]
                for box in np.asarray(found).reshape(-1, 4)
            )
            results.append(FrameScores({FACE: 1.0 if regions else 0.0}, regions))
        return results


def blur_regions(frame: np.ndarray, boxes: list[tuple[int, int, int, int]], margin: float = 0.2) -> np.ndarray:
    """A copy of ``frame`` (H, W, 3) uint8 with each (x, y, w, h) box, grown by ``margin``, pixelated
    then blurred, so the face is unrecognizable yet the frame still reads as a picture (as Cosmos does)."""
    out = frame.copy()
    height, width = frame.shape[:2]
    for x, y, w, h in boxes:
        grow_w, grow_h = int(w * margin), int(h * margin)
        x0, y0 = max(0, x - grow_w), max(0, y - grow_h)
        x1, y1 = min(width, x + w + grow_w), min(height, y + h + grow_h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        patch = out[y0:y1, x0:x1]
        cells = max(1, min(patch.shape[:2]) // 8)  # about 8 blocks across the shorter side
        small = cv2.resize(patch, (max(1, patch.shape[1] // cells), max(1, patch.shape[0] // cells)),
                           interpolation=cv2.INTER_AREA)
        blocky = cv2.resize(small, (patch.shape[1], patch.shape[0]), interpolation=cv2.INTER_NEAREST)
        kernel = max(3, (cells // 2) * 2 + 1)
        out[y0:y1, x0:x1] = cv2.GaussianBlur(blocky, (kernel, kernel), 0)
    return out
