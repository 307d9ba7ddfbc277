"""Face boxes for the output audit.

Uses the project's frame classifier ``classifiers.faces.HaarFaceDetector`` (OpenCV's bundled Haar
cascade) when it is installed, else the same cascade directly. The audit asks for more neighbours
(``min_neighbors`` 8) than the blur stage: a missed face only lowers the reported coverage, while a
false face would add a fake skin-tone sample.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # (x, y, w, h) in frame pixels
CASCADE = "haarcascade_frontalface_default.xml"


class FaceBoxes:
    name = "faces"

    def __init__(self, min_neighbors: int = 8, min_face_px: int = 24) -> None:
        if min_neighbors < 1 or min_face_px < 1:
            raise ValueError(f"min_neighbors and min_face_px must be >= 1, got {min_neighbors}, {min_face_px}")
        self.min_face_px = min_face_px
        self._detector = _project_detector(min_neighbors)
        self.min_neighbors = min_neighbors
        self.version = getattr(self._detector, "version", f"opencv-{cv2.__version__}-{CASCADE}")

    def detect(self, frame: np.ndarray) -> list[Box]:
        """Face boxes in ``frame`` (H, W, 3) uint8 RGB, at least ``min_face_px`` on a side."""
        if self._detector is not None:
            regions = self._detector.classify(frame[None])[0].regions
            boxes = [tuple(int(v) for v in r.box) for r in regions]
        else:
            gray = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))  # (H, W) uint8
            found = _cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=self.min_neighbors,
                                                minSize=(self.min_face_px, self.min_face_px))
            boxes = [tuple(int(v) for v in b) for b in np.asarray(found).reshape(-1, 4)]
        return [b for b in boxes if min(b[2], b[3]) >= self.min_face_px]  # type: ignore[misc]


def _project_detector(min_neighbors: int):  # noqa: ANN202 - HaarFaceDetector or None
    try:
        from classifiers.faces import HaarFaceDetector
    except ImportError:
        return None
    return HaarFaceDetector(min_neighbors=min_neighbors)


@lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)
    if cascade.empty():
        raise ValueError(f"OpenCV cascade {CASCADE} did not load from {cv2.data.haarcascades}")
    return cascade
