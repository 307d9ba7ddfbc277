"""Skin tone (ITA -> Monk) on patches of known CIELAB colour and on a real photograph with a face."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from skimage.color import lab2rgb

from guard.bias.faces import FaceBoxes
from guard.bias.skin_tone import (
    MONK_HEX,
    face_skin_tone,
    ita_degrees,
    monk_level,
    monk_swatch_itas,
    skin_tone_of_pixels,
)


def _patch(lightness: float, a: float, b: float, size: int = 40) -> np.ndarray:
    lab = np.broadcast_to(np.array([lightness, a, b]), (size, size, 3))
    return (np.clip(lab2rgb(lab), 0, 1) * 255).round().astype(np.uint8)  # (size, size, 3) uint8


@pytest.mark.parametrize(("lightness", "a", "b"), [
    (75.0, 8.0, 18.0), (65.0, 10.0, 20.0), (55.0, 12.0, 22.0), (40.0, 13.0, 20.0), (28.0, 10.0, 14.0),
    (20.0, 5.0, 8.0),
])
def test_when_patch_has_known_lab_colour_then_ita_matches_formula(lightness: float, a: float, b: float) -> None:
    tone = skin_tone_of_pixels(_patch(lightness, a, b).reshape(-1, 3))
    assert tone is not None
    assert tone.ita == pytest.approx(ita_degrees(lightness, b), abs=1.5)  # uint8 quantization only
    assert tone.monk == monk_level(ita_degrees(lightness, b))


@pytest.mark.parametrize("level", range(1, 11))
def test_when_patch_is_a_monk_swatch_then_its_own_level_is_returned(level: int) -> None:
    rgb = np.array([int(MONK_HEX[level - 1][i:i + 2], 16) for i in (0, 2, 4)], dtype=np.uint8)
    tone = skin_tone_of_pixels(np.tile(rgb, (400, 1)))
    assert tone is not None and tone.monk == level


def test_when_swatch_itas_are_computed_then_they_fall_monotonically_from_light_to_dark() -> None:
    itas = monk_swatch_itas()
    assert all(x > y for x, y in zip(itas, itas[1:], strict=False))


@pytest.mark.parametrize("rgb", [(40, 90, 200), (30, 160, 60), (128, 128, 128)])
def test_when_patch_is_not_skin_coloured_then_tone_is_unknown(rgb: tuple[int, int, int]) -> None:
    assert skin_tone_of_pixels(np.tile(np.array(rgb, dtype=np.uint8), (400, 1))) is None


def test_when_pixels_have_wrong_shape_then_value_error_names_it() -> None:
    with pytest.raises(ValueError, match="shape"):
        skin_tone_of_pixels(np.zeros((4, 4, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def astronaut_face() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    image = skimage.data.astronaut()  # (512, 512, 3) uint8: Eileen Collins' portrait
    boxes = FaceBoxes().detect(image)
    assert len(boxes) == 1, boxes  # the strict audit setting finds the face and not the false one
    return image, boxes[0]


def test_when_real_photo_has_a_light_skinned_face_then_monk_level_is_light_to_medium(astronaut_face) -> None:  # noqa: ANN001
    image, box = astronaut_face
    x, y, w, h = box
    assert 150 < x + w / 2 < 260 and 60 < y + h / 2 < 180  # the face, not the shuttle model
    tone = face_skin_tone(image, box)
    assert tone is not None
    assert 35.0 < tone.ita < 70.0
    assert 3 <= tone.monk <= 5


def test_when_same_face_is_darkened_then_ita_falls_and_monk_level_rises(astronaut_face) -> None:  # noqa: ANN001
    image, box = astronaut_face
    levels, itas = [], []
    for factor in (1.0, 0.7, 0.45, 0.3):
        tone = face_skin_tone((image * factor).astype(np.uint8), box)
        assert tone is not None
        levels.append(tone.monk)
        itas.append(tone.ita)
    assert itas == sorted(itas, reverse=True)
    assert levels == sorted(levels) and levels[-1] >= 8
