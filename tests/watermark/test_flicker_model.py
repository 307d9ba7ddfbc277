"""The temporal-visibility model of benchmarks/watermark_quality.py (Kelly's 1979 surface): it must read a
sinusoid at its own threshold as 1 JND, a static mark as nothing, and follow the surface's fall-off in time."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def quality() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module("watermark_quality")
    finally:
        sys.path.remove(str(BENCHMARKS))


def _grating(frames: int, side: int, cycles: int, hz: float, fps: float) -> np.ndarray:
    t = np.arange(frames)[:, None, None] / fps
    x = np.arange(side)[None, None, :]
    return np.sin(2 * np.pi * hz * t) * np.sin(2 * np.pi * cycles * x / side) * np.ones((1, side, 1))


@pytest.mark.parametrize(("cycles", "hz"), [(8, 3.0), (16, 6.0), (2, 1.0)])
def test_when_a_flickering_grating_is_at_kelly_threshold_then_the_filter_reads_one_jnd(
        quality: ModuleType, cycles: int, hz: float) -> None:
    ppd = 57.0
    sensitivity = float(quality.kelly_sensitivity(np.array(cycles * ppd / 128), np.array(hz)))
    grating = _grating(48, 128, cycles, hz, 24.0) / sensitivity
    broadband = quality.csf_filter(grating, 24.0, ppd, pooled=False)
    assert np.abs(broadband[8:40]).max() == pytest.approx(1.0, abs=0.03)
    channels = quality.csf_filter(grating, 24.0, ppd)  # split between octave channels: 0.84-1 by construction
    assert 0.8 < channels[8:40].max() < 1.03


def test_when_a_square_wave_flickers_at_its_fundamentals_threshold_then_the_channels_read_about_one_jnd(
        quality: ModuleType) -> None:
    """Campbell & Robson (1968): a square wave is detected when its fundamental is; the broadband filter adds the
    harmonics coherently and reads more, the channel pooling does not."""
    ppd, cycles, hz = 57.0, 8, 3.0
    sensitivity = float(quality.kelly_sensitivity(np.array(cycles * ppd / 128), np.array(hz)))
    square = np.sign(_grating(48, 128, cycles, hz, 24.0)) * (np.pi / 4) / sensitivity  # fundamental at threshold
    channels = quality.csf_filter(square, 24.0, ppd)[8:40].max()
    broadband = np.abs(quality.csf_filter(square, 24.0, ppd, pooled=False)[8:40]).max()
    assert 0.8 < channels < 1.25
    assert broadband > channels


def test_when_the_added_signal_is_static_then_the_flicker_model_reads_zero(quality: ModuleType) -> None:
    rng = np.random.default_rng(0)
    original = np.repeat(rng.integers(60, 200, (1, 64, 64, 3)).astype(np.uint8), 24, axis=0)
    marked = original.copy()
    marked[:, 16:48, 16:48] += 3  # a still offset: visible or not, it does not flicker
    figures = quality.flicker_jnd(original, marked)
    assert max(v for k, v in figures.items() if k.endswith("max") and "content" not in k) < 1e-3


def test_when_the_same_flicker_is_faster_than_the_surface_peak_then_it_reads_fewer_jnd(quality: ModuleType) -> None:
    original = np.full((48, 64, 64, 3), 128, np.uint8)
    frames = np.arange(48)

    def flicker(period: int) -> float:
        marked = original.copy()
        marked[(frames // (period // 2)) % 2 == 1, 16:48, 16:48] += 2
        return quality.flicker_jnd(original, marked)["native 57 px/deg: flat max"]

    slow, fast = flicker(8), flicker(2)  # 3 Hz vs 12 Hz at 24 fps, same 2-level square wave on flat grey
    assert slow > 1.0  # a 2-level 3 Hz flicker on mid grey is well above threshold by the model
    assert fast < 0.8 * slow  # the surface falls off above ~6 Hz


def test_when_the_picture_is_textured_then_masking_lowers_the_same_flickers_jnd(quality: ModuleType) -> None:
    rng = np.random.default_rng(1)
    flat = np.full((24, 64, 64), 0.0)
    blob = cv2.GaussianBlur(rng.normal(0, 1, (64, 64)).astype(np.float32), (0, 0), 3)  # 1-4 cpd at 57 px/deg
    texture = np.repeat((0.3 * blob / blob.std())[None], 24, axis=0)  # a static, strongly textured picture
    flicker = np.zeros((24, 64, 64))
    flicker[(np.arange(24) // 4) % 2 == 1, 16:48, 16:48] = 0.02  # a 3 Hz, 2 % square flicker
    on_flat = quality.csf_filter(flicker, 24.0, 57.0, picture=flat).max()
    on_texture = quality.csf_filter(flicker, 24.0, 57.0, picture=texture).max()
    assert on_flat == pytest.approx(quality.csf_filter(flicker, 24.0, 57.0).max(), rel=1e-6)  # no masker, no change
    assert on_texture < 0.7 * on_flat  # measured 0.48x
