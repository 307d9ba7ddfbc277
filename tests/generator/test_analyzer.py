"""The OpenCV analyser reads colour, shape and motion of procedural renders correctly (it is the ruler
of the generator benchmark, so it must agree with ground truth)."""

from __future__ import annotations

import numpy as np
import pytest

from generator.analyzer import analyse
from generator.scenes import COLOURS, MOTIONS, SHAPES, make_scene, render


@pytest.mark.parametrize("motion", MOTIONS)
def test_when_reading_a_render_then_motion_matches_ground_truth(motion: str) -> None:
    shape = "square" if motion == "rotating" else "triangle"
    for seed in range(3):
        reading = analyse(render(make_scene(seed, triple=("orange", shape, motion), two_objects=False)))
        assert reading.motion == motion


@pytest.mark.parametrize("colour", list(COLOURS))
def test_when_reading_a_render_then_colour_matches_ground_truth(colour: str) -> None:
    reading = analyse(render(make_scene(11, triple=(colour, "circle", "static"), two_objects=False)))
    assert reading.colour == colour


@pytest.mark.parametrize("shape", SHAPES)
def test_when_reading_a_render_then_shape_matches_ground_truth(shape: str) -> None:
    for seed in range(3):
        reading = analyse(render(make_scene(seed, triple=("blue", shape, "right"), two_objects=False)))
        assert reading.shape == shape


def test_when_no_object_then_nothing_is_read() -> None:
    grey = np.full((17, 128, 128, 3), 128, np.uint8)
    reading = analyse(grey)
    assert (reading.colour, reading.shape, reading.motion) == (None, None, None)


@pytest.mark.parametrize("bad", [np.zeros((17, 128, 128), np.uint8), np.zeros((17, 128, 128, 3), np.float32)])
def test_when_frames_are_malformed_then_value_error(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="frames must be"):
        analyse(bad)
