"""The sampler: at least N frames per second, first and last, every cut, every flash frame, short clips whole."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from guard.frame_sampling import FrameSampler, SamplingConfig, change_score, sample, thumbnail
from guard.stages import Clip
from guard.video_io import DecodedFrame, iter_frames, write_mp4
from tests.classifiers.media import fitted, pan

FPS = 24.0


def _selected(frames: np.ndarray, config: SamplingConfig | None = None) -> dict[int, str]:
    stream = ((i, i / FPS, f) for i, f in enumerate(frames))
    return {s.index: s.reason for s in sample(stream, config)}


def _gaps(indices: list[int]) -> int:
    return max(np.diff(sorted(indices)))


@pytest.mark.parametrize("flash_at", [157, 163, 299])
def test_when_one_odd_frame_among_hundreds_then_it_is_selected(flash_at: int) -> None:
    frames = pan("coffee", 320)  # (320, 144, 256, 3): a smooth pan, no cut
    frames[flash_at] = fitted("astronaut", 256, 144)
    selected = _selected(frames)
    assert flash_at in selected
    assert selected[flash_at] in ("change", "last")
    assert len(selected) < 320 * 0.15  # still sparse: about 2 per second plus the flash


def test_when_flash_covers_a_tenth_of_the_frame_then_it_is_selected() -> None:
    frames = pan("rocket", 240)
    frames[101, 40:90, 100:175] = fitted("astronaut", 75, 50)  # about 10% of the frame, one frame only
    assert _selected(frames).get(101) == "change"


def test_when_busy_noisy_footage_hides_a_half_blended_flash_then_the_odd_rule_selects_it() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 30, (150, 144, 256, 3)).astype(np.float32)
    frames = np.clip(pan("coffee", 150) + noise, 0, 255).astype(np.uint8)
    frames[101] = (0.5 * frames[101] + 0.5 * fitted("astronaut", 256, 144)).astype(np.uint8)
    selected = _selected(frames)
    assert selected.get(101) == "odd"  # the adaptive change bar is too high in this noise; the odd rule is not
    assert sum(1 for r in selected.values() if r == "odd") == 1


def test_when_change_detection_disabled_then_the_flash_frame_is_missed() -> None:
    frames = pan("coffee", 320)
    frames[157] = fitted("astronaut", 256, 144)
    config = SamplingConfig(min_change=1.0, odd_min_change=1.0)
    assert 157 not in _selected(frames, config)  # the control: 2 fps alone misses it


@pytest.mark.parametrize("sample_fps", [2.0, 4.0])
def test_when_long_smooth_video_then_first_last_and_at_least_n_per_second(sample_fps: float) -> None:
    frames = pan("chelsea", 200)
    selected = _selected(frames, SamplingConfig(sample_fps=sample_fps))
    assert selected[0] == "first" and selected[199] == "last"
    assert _gaps(list(selected)) <= FPS / sample_fps
    assert len(selected) <= 200 / FPS * sample_fps + 3


def test_when_shot_changes_then_the_first_frame_of_each_shot_is_selected() -> None:
    frames = np.concatenate([pan("coffee", 60), pan("rocket", 50), pan("chelsea", 70)])
    selected = _selected(frames)
    assert selected.get(60) == "change" and selected.get(110) == "change"


@pytest.mark.parametrize(("count", "whole"), [(17, True), (72, True), (96, False)])
def test_when_streamed_video_is_short_then_every_frame_is_selected(count: int, whole: bool) -> None:
    frames = pan("coffee", count)
    selected = _selected(frames)
    assert (len(selected) == count) is whole
    assert len(selected) == len(set(selected))


def test_when_short_video_is_buffered_then_large_frames_are_downscaled_with_their_scale() -> None:
    frames = np.zeros((10, 720, 1280, 3), np.uint8)
    selections = list(sample((i, i / FPS, f) for i, f in enumerate(frames)))
    whole = [s for s in selections if s.reason == "whole"]
    assert whole and all(max(s.frame.shape[:2]) == 640 and s.scale == 0.5 for s in whole)


@pytest.mark.parametrize(
    ("field", "value"),
    [("sample_fps", 0.0), ("scan_whole_below_s", -1.0), ("min_change", 0.0), ("change_ratio", 0.5),
     ("odd_min_change", 1.5), ("odd_ratio", 0.9)],
)
def test_when_sampling_config_invalid_then_value_error_names_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        FrameSampler(SamplingConfig(**{field: value}))


# --- Decoded frames: the thumbnail comes from the YUV planes, RGB only for selected frames ---------------------


def _decoded(rgb: np.ndarray, pix_fmt: str, colorspace: int, full_range: bool) -> DecodedFrame:
    """An RGB frame converted by swscale to ``pix_fmt`` and tagged the way a decoder tags it."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format=pix_fmt, dst_colorspace=colorspace, dst_color_range=2 if full_range else 1)
    frame.colorspace, frame.color_range = colorspace, 2 if full_range else 1
    return DecodedFrame(frame)


@pytest.mark.parametrize(
    ("pix_fmt", "colorspace", "full_range", "size"),
    [("yuv420p", 5, False, (144, 256)), ("yuv420p", 1, False, (144, 256)), ("yuvj420p", 5, True, (144, 256)),
     ("yuv444p", 1, True, (144, 256)), ("yuv422p", 5, False, (720, 1280)), ("yuv420p", 5, False, (33, 65))],
)
def test_when_frame_is_decoded_yuv_then_its_thumbnail_matches_the_rgb_thumbnail(
        pix_fmt: str, colorspace: int, full_range: bool, size: tuple[int, int]) -> None:
    height, width = size
    frames = pan("astronaut", 2, width, height, speed=8)
    decoded = [_decoded(f, pix_fmt, colorspace, full_range) for f in frames]
    assert all(d.yuv() is not None for d in decoded)
    from_yuv = [thumbnail(d) for d in decoded]
    from_rgb = [thumbnail(d.rgb()) for d in decoded]  # what the decoder's own RGB conversion gives
    assert all(np.abs(a - b).mean() < 1.5 for a, b in zip(from_yuv, from_rgb, strict=True))
    assert change_score(*from_yuv) == pytest.approx(change_score(*from_rgb), abs=0.01)
    assert change_score(*from_yuv) > 0.05  # the two frames do differ: the comparison is not vacuous


def test_when_frame_is_not_planar_8_bit_yuv_then_the_thumbnail_falls_back_to_rgb() -> None:
    rgb = fitted("coffee", 128, 72)
    decoded = DecodedFrame(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="nv12"))
    assert decoded.yuv() is None
    assert np.array_equal(thumbnail(decoded), thumbnail(decoded.rgb()))


def _equal_luma_recolour(frame: np.ndarray) -> np.ndarray:
    """The same picture in other colours: luma kept, the two chroma channels swapped."""
    ycrcb = cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb)
    return cv2.cvtColor(ycrcb[..., [0, 2, 1]].copy(), cv2.COLOR_YCrCb2RGB)


@pytest.mark.parametrize("flash", ["photo", "colour_only"])
def test_when_a_file_hides_one_odd_frame_then_sampling_the_yuv_planes_selects_it(tmp_path: Path, flash: str) -> None:
    frames = pan("coffee", 320)  # (320, 144, 256, 3)
    odd = fitted("astronaut", 256, 144) if flash == "photo" else _equal_luma_recolour(frames[157])
    frames[157] = odd
    path = tmp_path / "flash.mp4"
    write_mp4(Clip(frames, FPS), path, crf=18, preset="ultrafast")
    selections = list(sample(iter_frames(path)))
    selected = {s.index: s.reason for s in selections}
    assert selected.get(157) in ("change", "odd"), selected
    assert len(selected) < 320 * 0.15
    assert all(isinstance(s.frame, np.ndarray) and s.frame.shape == (144, 256, 3) for s in selections)
    if flash == "colour_only":  # the control: in luma alone the frame would not stand out
        decoded = {i: f for i, _, f in iter_frames(path) if 156 <= i <= 158}
        luma = {i: thumbnail(cv2.cvtColor(cv2.cvtColor(f.rgb(), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB))
                for i, f in decoded.items()}
        assert change_score(luma[157], luma[156]) < SamplingConfig().odd_min_change
        assert change_score(thumbnail(decoded[157]), thumbnail(decoded[156])) > SamplingConfig().min_change
