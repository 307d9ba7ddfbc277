"""Reading with the keyed carrier (``detect(..., fps=...)``) and the release's closed loop (``watermark.reinforce``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

import watermark
from guard.sample import photo_pan
from guard.stages import Clip
from guard.video_io import read_video, write_mp4
from tests.watermark.test_watermark import PAYLOAD, generated_like
from watermark.informed import GAIN_CAP, GAIN_FLOOR

FPS = 8.0  # the bundled generator's frame rate


def release_encode(frames: np.ndarray, fps: float = FPS) -> Clip:
    """The release's own encode (``write_mp4`` at the default policy's CRF 18, preset medium) and decode."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        write_mp4(Clip(frames, fps), path, crf=18, preset="medium")
        return read_video(path)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.mark.parametrize("image", ["astronaut", "coffee", "chelsea", "rocket"])
def test_when_an_unmarked_clip_is_read_with_its_frame_rate_then_p_stays_far_above_threshold(image: str) -> None:
    found = watermark.detect(photo_pan(frames=24, size=160, image=image), fps=24.0)
    assert found.p_value > 1e-3 and not found.marked and found.payload is None


def test_when_fps_is_not_positive_then_detect_raises() -> None:
    with pytest.raises(ValueError, match="fps"):
        watermark.detect(generated_like(0), fps=0.0)


def test_when_a_speckled_clip_is_released_then_reading_with_the_frame_rate_beats_the_blind_read() -> None:
    """The Manchester carrier (what formats v2 and v3 draw at 8 fps): its principal components lose to the speckle. (The
    doublet's blind read is as strong as its keyed one on this clip: measured p 1.9e-5 blind, 3.1e-5 keyed.)"""
    frames = generated_like(5, texture=12.0)  # 17 frames, new speckle every frame: the generator's hard case
    received = release_encode(watermark.embed(frames, PAYLOAD, fps=FPS, carrier_shape="manchester"))
    keyed = watermark.detect(received.frames, fps=received.fps)
    blind = watermark.detect(received.frames)
    assert keyed.p_value < 0.1 * blind.p_value  # measured 8e-5 against 2e-3


def test_when_a_failed_read_is_reinforced_then_the_psnr_budget_holds_and_the_pilots_read_stronger() -> None:
    frames = generated_like(5, texture=12.0)  # speckle strong enough that some cells lose to the picture
    marked = watermark.embed(frames, PAYLOAD, fps=FPS)
    received = release_encode(marked)
    gain = watermark.reinforce(frames, marked, received.frames, PAYLOAD, fps=received.fps)
    assert gain.shape == (256,) and gain.min() >= GAIN_FLOOR and gain.max() <= GAIN_CAP
    assert gain.std() > 0.1  # amplitude really moved between cells
    again = watermark.embed(frames, PAYLOAD, fps=FPS, cell_gain=gain)
    assert psnr(again, frames) >= 42.0 and abs(psnr(again, frames) - psnr(marked, frames)) < 0.5
    before = watermark.detect(received.frames, fps=FPS)
    after = watermark.detect(release_encode(again).frames, fps=FPS)
    assert abs(after.details["pilot_z"]) > abs(before.details["pilot_z"])


def test_when_the_received_clip_has_other_frames_then_reinforce_raises() -> None:
    frames = generated_like(0)
    marked = watermark.embed(frames, PAYLOAD, fps=FPS)
    with pytest.raises(ValueError, match="same frames"):
        watermark.reinforce(frames, marked, marked[:-1], PAYLOAD, fps=FPS)


@pytest.mark.parametrize("gain", [np.ones(255), np.full(256, -1.0), np.zeros(256), np.full(256, np.nan)])
def test_when_cell_gain_is_malformed_then_embed_raises(gain: np.ndarray) -> None:
    with pytest.raises(ValueError, match="cell_gain"):
        watermark.embed(generated_like(0), PAYLOAD, fps=FPS, cell_gain=gain)
