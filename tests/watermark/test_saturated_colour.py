"""Saturated colour: the mark's luma change is spread over the channels that can move where the equal RGB offset
has no headroom (a channel at 0 or 255), so such pictures are marked too."""

from __future__ import annotations

import numpy as np
import pytest

import watermark
from tests.watermark.test_watermark import FPS, PAYLOAD, camera_move, h264
from watermark.embedder import _SPREAD_MAX, LUMA_WEIGHTS, _spread

PIXELS = np.array([[94, 0, 83], [255, 0, 0], [0, 0, 255], [128, 128, 128], [250, 250, 5], [30, 200, 0]], np.uint8)


def luma(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float64) @ LUMA_WEIGHTS


@pytest.mark.parametrize("want", [-14, -6, -1, 1, 6, 14])
def test_when_a_luma_change_is_spread_then_channels_stay_in_range_and_move_at_most_the_spread_limit(want: int) -> None:
    moved = _spread(PIXELS, np.full(len(PIXELS), want, np.int16))
    after = PIXELS.astype(np.int16) + moved
    assert after.min() >= 0 and after.max() <= 255
    assert np.all(np.abs(moved) <= _SPREAD_MAX * abs(want) + 0.5)
    assert np.all(moved * np.sign(want) >= 0)  # every channel moves the wanted way, or not at all


@pytest.mark.parametrize("want", [-6, 6])
def test_when_a_pixel_has_room_in_both_directions_then_its_luma_moves_by_the_wanted_amount(want: int) -> None:
    roomy = PIXELS[[0, 1, 3, 4, 5]]  # pure blue (0, 0, 255) can darken by only ~2 levels of luma: left out here
    moved = _spread(roomy, np.full(len(roomy), want, np.int16))
    achieved = luma(roomy.astype(np.int16) + moved) - luma(roomy)
    assert np.abs(achieved - want).max() < 0.75  # rounding of the channel offsets only
    assert np.array_equal(moved[2], [want] * 3)  # mid grey: the plain equal offset


def test_when_a_pixel_can_move_less_one_way_then_both_ways_are_capped_there() -> None:
    blue = PIXELS[[2, 2]]  # (0, 0, 255): darkening moves only blue, at most _SPREAD_MAX x the change
    down, up = _spread(blue, np.array([-6, 6], np.int16))
    change_down = luma(blue[:1].astype(np.int16) + down) - luma(blue[:1])
    change_up = luma(blue[:1].astype(np.int16) + up) - luma(blue[:1])
    assert -6 < float(change_down[0]) < 0 and abs(float(change_up[0]) + float(change_down[0])) < 0.75


def test_when_a_pixel_cannot_move_one_way_then_it_is_not_moved_the_other_way_either() -> None:
    """Black and white have no room downwards / upwards: a one-sided mark would be a static brightness shift."""
    edges = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    for want in (-6, 6):
        assert not _spread(edges, np.full(2, want, np.int16)).any()


def saturated_pan() -> np.ndarray:
    """A pan over skimage's colour wheel: fully saturated hues, so no pixel has headroom for an equal RGB offset."""
    return camera_move(image="colorwheel")


def test_when_the_picture_is_saturated_colour_then_the_clip_is_marked_at_the_psnr_budget_and_read_back() -> None:
    clip = saturated_pan()
    headroom = np.minimum(clip.min(axis=-1), 255 - clip.max(axis=-1))
    assert np.mean(headroom == 0) > 0.5  # the case this is about
    marked = watermark.embed(clip, PAYLOAD, fps=FPS)
    psnr = 10 * np.log10(255**2 / np.mean((marked.astype(np.float64) - clip) ** 2))
    assert 42.0 <= psnr < 46.0
    assert watermark.detect(h264(marked, 30), fps=FPS).payload == PAYLOAD
