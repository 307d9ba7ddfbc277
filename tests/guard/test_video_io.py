from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from guard.errors import InputError, InputTooLarge, UnsupportedMedia
from guard.policy import Limits
from guard.sample import photo_pan
from guard.stages import Clip
from guard.video_io import iter_frames, iter_video, read_video, write_mp4


def test_when_mp4_written_then_it_reads_back_as_h264_yuv420p(tmp_path: Path) -> None:
    frames = photo_pan(frames=24, size=128)
    path = tmp_path / "out.mp4"
    write_mp4(Clip(frames, 12.0), path, crf=16)
    clip = read_video(path)
    assert clip.frames.shape == frames.shape
    assert clip.fps == pytest.approx(12.0)
    assert np.abs(clip.frames.astype(int) - frames).mean() < 4.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"


def test_when_size_is_odd_then_writer_pads_instead_of_failing(tmp_path: Path) -> None:
    frames = photo_pan(frames=5, size=65)
    write_mp4(Clip(frames, 8.0), tmp_path / "odd.mp4")
    assert read_video(tmp_path / "odd.mp4").frames.shape == (5, 66, 66, 3)


@pytest.mark.parametrize("codec,container_format,suffix", [("libvpx-vp9", "webm", ".webm"),
                                                          ("mpeg4", "avi", ".avi"), ("libx264", "mov", ".mov")])
def test_when_common_container_then_frames_are_read(tmp_path: Path, codec: str, container_format: str,
                                                    suffix: str) -> None:
    path = tmp_path / f"clip{suffix}"
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for frame in photo_pan(frames=10, size=64):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert read_video(path).frames.shape == (10, 64, 64, 3)


def _bad_inputs(tmp_path: Path, sample_video: Path) -> dict[str, Path]:
    data = sample_video.read_bytes()
    cases = {
        "empty": b"",
        "not_video": b"hello, this is text, not a video\n" * 50,
        "truncated": data[: len(data) // 3],
        "garbage_after_header": data[:64] + bytes(range(256)) * 40,
    }
    paths = {}
    for name, content in cases.items():
        paths[name] = tmp_path / f"{name}.mp4"
        paths[name].write_bytes(content)
    paths["missing"] = tmp_path / "missing.mp4"
    paths["directory"] = tmp_path
    return paths


@pytest.mark.parametrize("case", ["empty", "not_video", "truncated", "garbage_after_header", "missing", "directory"])
def test_when_input_is_bad_then_a_clear_input_error(tmp_path: Path, sample_video: Path, case: str) -> None:
    path = _bad_inputs(tmp_path, sample_video)[case]
    with pytest.raises(InputError) as info:
        read_video(path)
    assert str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("limits,expected", [
    (Limits(video_max_bytes=1000), InputTooLarge),
    (Limits(video_max_width=100), InputTooLarge),
    (Limits(video_max_seconds=1.0), InputTooLarge),
    (Limits(video_max_frames=10), InputTooLarge),
])
def test_when_video_exceeds_policy_limits_then_refused(sample_video: Path, limits: Limits,
                                                       expected: type[Exception]) -> None:
    with pytest.raises(expected):
        read_video(sample_video, limits)


def test_when_streaming_then_frames_come_with_timestamps(sample_video: Path) -> None:
    stamps = [(i, t) for i, t, _ in iter_video(sample_video)]
    assert len(stamps) == 48
    assert stamps[24][1] == pytest.approx(1.0, abs=0.05)


def test_when_frames_are_decoded_lazily_then_rgb_and_yuv_planes_describe_the_same_picture(sample_video: Path) -> None:
    eager = [frame for _, _, frame in iter_video(sample_video)]
    lazy = list(iter_frames(sample_video))  # the decoded frames stay valid while held
    assert len(lazy) == len(eager) == 48
    for (_, _, decoded), rgb in zip(lazy, eager, strict=True):
        planes = decoded.yuv()
        assert planes is not None and planes.y.shape == (256, 256) and planes.u.shape == planes.v.shape == (128, 128)
        assert not planes.bt709 and not planes.full_range  # libx264's default tags: BT.601, limited range
        assert np.array_equal(decoded.rgb(), rgb)
        luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * 219 / 255 + 16  # limited-range luma
        assert np.abs(planes.y.astype(np.float32) - luma).mean() < 3.0


def test_when_write_fails_then_no_partial_file_is_left(tmp_path: Path) -> None:
    frames = photo_pan(frames=4, size=64)
    clip = Clip(frames, 8.0)
    object.__setattr__(clip, "fps", -1.0)  # an invalid rate makes the encoder fail mid-write
    with pytest.raises(Exception):  # noqa: B017 - any encoder error; what matters is the directory
        write_mp4(clip, tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []


def test_when_unsupported_media_then_error_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    path.write_bytes(b"\x00" * 4096)
    with pytest.raises(UnsupportedMedia) as info:
        read_video(path)
    assert "\n" not in str(info.value)
