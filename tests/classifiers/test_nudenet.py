"""NudeNet batched classifier: parity with upstream, categories on real photographs, input checks."""

from __future__ import annotations

import numpy as np
import pytest
from nudenet import NudeDetector

from classifiers.base import FACE
from classifiers.nudenet_detector import NudeNetClassifier, _category_of
from tests.classifiers.media import BENIGN_PHOTOS, FACE_PHOTOS, FACELESS_PHOTOS, fitted, photo


@pytest.fixture(scope="module")
def nudenet() -> NudeNetClassifier:
    return NudeNetClassifier()


@pytest.mark.parametrize("name", ["astronaut", "camera", "coffee"])
def test_when_square_letterbox_then_regions_match_upstream_detector(name: str) -> None:
    image = photo(name)
    upstream = NudeDetector().detect(image)  # handed RGB, upstream's double swap feeds the model RGB
    expected = sorted((d["class"], d["score"]) for d in upstream if _category_of(d["class"]))
    got = sorted((r.label, r.score) for r in NudeNetClassifier(rect=False).classify(image)[0].regions)
    assert [label for label, _ in got] == [label for label, _ in expected]
    assert np.allclose([s for _, s in got], [s for _, s in expected], atol=0.02)


@pytest.mark.parametrize("name", ["astronaut", "camera", "coffee", "colorwheel", "retina"])
@pytest.mark.parametrize(("width", "height"), [(1280, 720), (640, 360)])
def test_when_rect_inference_then_scores_match_square_letterbox(nudenet: NudeNetClassifier, name: str, width: int,
                                                                height: int) -> None:
    frame = fitted(name, width, height)
    rect, square = nudenet.classify(frame)[0].scores, NudeNetClassifier(rect=False).classify(frame)[0].scores
    assert all(abs(rect[k] - square[k]) < 0.06 for k in rect), (dict(rect), dict(square))


def test_when_batch_then_same_as_one_by_one(nudenet: NudeNetClassifier) -> None:
    frames = np.stack([photo("astronaut")[:400, :400], photo("camera")[:400, :400]])
    batched = nudenet.classify(frames)
    single = [nudenet.classify(f)[0] for f in frames]
    for a, b in zip(batched, single, strict=True):
        assert a.scores.keys() == b.scores.keys()
        assert all(abs(a.scores[k] - b.scores[k]) < 1e-4 for k in a.scores)


@pytest.mark.parametrize("name", BENIGN_PHOTOS)
def test_when_benign_photo_then_no_sexual_category_reaches_flag_level(nudenet: NudeNetClassifier, name: str) -> None:
    scores = nudenet.classify(photo(name))[0].scores
    assert scores["sexual"] < 0.3 and scores["nudity"] < 0.4 and scores["suggestive"] < 0.6, dict(scores)


@pytest.mark.parametrize(("name", "has_face"), [(n, True) for n in FACE_PHOTOS] + [(n, False) for n in FACELESS_PHOTOS])
def test_when_photo_then_face_region_iff_face(nudenet: NudeNetClassifier, name: str, has_face: bool) -> None:
    result = nudenet.classify(photo(name))[0]
    faces = [r for r in result.regions if r.category == FACE and r.score >= 0.3]
    assert bool(faces) is has_face


@pytest.mark.parametrize(
    "frames",
    [np.zeros((2, 16, 16), np.uint8), np.zeros((1, 16, 16, 3), np.float32), np.zeros((1, 16, 16, 4), np.uint8),
     [[0, 0, 0]], np.zeros((1, 0, 16, 3), np.uint8)],
)
def test_when_bad_frames_then_value_error_names_them(nudenet: NudeNetClassifier, frames: object) -> None:
    with pytest.raises(ValueError, match="frames must"):
        nudenet.classify(frames)  # type: ignore[arg-type]
