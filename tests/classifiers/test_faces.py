"""Haar face detector and the face blur: faces found on real photographs, gone after blurring."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from classifiers.base import FACE
from classifiers.faces import HaarFaceDetector, blur_regions
from classifiers.nudenet_detector import NudeNetClassifier
from tests.classifiers.media import photo


@pytest.mark.parametrize(("name", "has_face"), [("astronaut", True), ("coffee", False), ("rocket", False),
                                                ("chelsea", False)])
def test_when_photo_then_haar_finds_face_iff_present(name: str, has_face: bool) -> None:
    result = HaarFaceDetector().classify(photo(name))[0]
    assert (result.scores[FACE] == 1.0) is has_face
    assert bool(result.regions) is has_face


def test_when_face_blurred_then_detector_no_longer_finds_it_and_rest_unchanged() -> None:
    image = photo("astronaut")  # (512, 512, 3)
    nudenet = NudeNetClassifier()
    faces = [r.box for r in nudenet.classify(image)[0].regions if r.category == FACE]
    assert faces
    blurred = blur_regions(image, faces)
    after = nudenet.classify(blurred)[0].scores[FACE]
    assert after < 0.3
    x, y, w, h = faces[0]
    sharp = cv2.Laplacian(cv2.cvtColor(image[y : y + h, x : x + w], cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()
    soft = cv2.Laplacian(cv2.cvtColor(blurred[y : y + h, x : x + w], cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()
    assert soft < sharp / 5
    outside = np.ones(image.shape[:2], bool)
    outside[max(0, y - h // 2) : y + h + h // 2, max(0, x - w // 2) : x + w + w // 2] = False
    assert np.array_equal(blurred[outside], image[outside])


def test_when_box_outside_frame_then_blur_is_a_no_op() -> None:
    image = photo("coffee")
    assert np.array_equal(blur_regions(image, [(10_000, 10_000, 50, 50)]), image)
