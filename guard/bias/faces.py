"""Face boxes for the output audit, from the project's frame classifier ``classifiers.faces``.

The audit asks for more neighbours (``min_neighbors`` 8) than the blur stage: a missed face only
lowers the reported coverage, while a false face would add a fake skin-tone sample.
"""

from __future__ import annotations

import numpy as np

from classifiers.faces import HaarFaceDetector

Box = tuple[int, int, int, int]  # (x, y, w, h) in frame pixels


class FaceBoxes:
    name = "faces"

    def __init__(self, min_neighbors: int = 8, min_face_px: int = 24) -> None:
        if min_neighbors < 1 or min_face_px < 1:
            raise ValueError(f"min_neighbors and min_face_px must be >= 1, got {min_neighbors}, {min_face_px}")
        self.min_face_px = min_face_px
        self.min_neighbors = min_neighbors
        self._detector = HaarFaceDetector(min_neighbors=min_neighbors)
        self.version = self._detector.version

    def detect(self, frame: np.ndarray) -> list[Box]:
        """Face boxes in ``frame`` (H, W, 3) uint8 RGB, at least ``min_face_px`` on a side."""
        regions = self._detector.classify(frame[None])[0].regions
        boxes: list[Box] = [(int(r.box[0]), int(r.box[1]), int(r.box[2]), int(r.box[3])) for r in regions]
        return [b for b in boxes if min(b[2], b[3]) >= self.min_face_px]
