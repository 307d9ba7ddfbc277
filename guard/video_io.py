"""Video in and out with PyAV: the one reader and the one writer of the layer.

Reading enforces the policy's limits (bytes before opening, resolution and duration from the
stream header, frame count while decoding) and turns every decoder failure into a one-line
``InputError``. Writing encodes H.264 yuv420p MP4 to a temporary file in the destination directory
and renames it into place, so a failed write never leaves a half-written file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from guard.errors import InputError, InputTooLarge, UnsupportedMedia
from guard.policy import Limits
from guard.stages import Clip

DEFAULT_FPS = 24.0


def _check_file(path: Path, limits: Limits) -> None:
    if not path.exists():
        raise InputError(f"video not found: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"video is empty (0 bytes): {path}")
    if size > limits.video_max_bytes:
        raise InputTooLarge(f"video is {size} bytes, over the limit of {limits.video_max_bytes}: {path}")


@contextmanager
def _open_video_stream(path: Path, limits: Limits) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    _check_file(path, limits)
    try:
        container = av.open(str(path), mode="r", options={"probesize": "5000000"})
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise UnsupportedMedia(f"not a readable video: {path} ({_short(exc)})") from exc
    try:
        if not container.streams.video:
            raise UnsupportedMedia(f"no video stream in {path}")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            raise UnsupportedMedia(f"video stream has no frame size: {path}")
        if width > limits.video_max_width or height > limits.video_max_height:
            raise InputTooLarge(
                f"video is {width}x{height}, over the limit of {limits.video_max_width}x{limits.video_max_height}"
            )
        duration = _duration_s(container, stream)
        if duration is not None and duration > limits.video_max_seconds + 0.5:
            raise InputTooLarge(f"video lasts {duration:.1f} s, over the limit of {limits.video_max_seconds:g} s")
        stream.thread_type = "AUTO"
        yield container, stream
    finally:
        container.close()


def _duration_s(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _fps(stream: av.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    return fps if 0.0 < fps < 1000.0 else DEFAULT_FPS


# 8-bit planar YUV layouts whose planes the sampler reads directly: name -> chroma subsampling (x, y)
PLANAR_YUV = {"yuv420p": (2, 2), "yuvj420p": (2, 2), "yuv422p": (2, 1), "yuvj422p": (2, 1),
              "yuv444p": (1, 1), "yuvj444p": (1, 1)}
AVCOL_SPC_BT709 = 1  # libavutil's colour-space tag for BT.709 (anything else converts as BT.601)
AVCOL_RANGE_JPEG = 2  # full-range (0-255) luma and chroma


@dataclass(frozen=True)
class YuvPlanes:
    """A decoded frame's planes as read-only numpy views (no copy): ``y`` is (H, W); ``u`` and ``v`` are
    (ceil(H / sy), ceil(W / sx)) for chroma subsampling (sx, sy). ``bt709`` and ``full_range`` say how
    to convert to RGB the way ``to_ndarray(format="rgb24")`` does."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    bt709: bool
    full_range: bool


def _plane(frame: av.VideoFrame, index: int, width: int, height: int) -> np.ndarray:
    plane = frame.planes[index]
    rows = np.frombuffer(plane, np.uint8, count=plane.line_size * height).reshape(height, plane.line_size)
    return rows[:, :width]  # drop the row padding (line_size >= width)


class DecodedFrame:
    """One decoded frame that is converted to RGB only when asked.

    Converting every 720p frame to RGB costs about half of decoding it, and a scan classifies about one
    frame in ten: the sampler looks at every frame through ``yuv()`` (views of the decoder's own
    planes) and calls ``rgb()`` only on the frames it selects. Holding a ``DecodedFrame`` keeps the
    decoder's buffer alive (reference-counted by FFmpeg), so it stays valid after decoding moves on.
    """

    __slots__ = ("_frame", "_rgb", "height", "width")

    def __init__(self, frame: av.VideoFrame) -> None:
        self._frame = frame
        self._rgb: np.ndarray | None = None
        self.height, self.width = frame.height, frame.width

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, 3)

    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB, converted once and cached."""
        if self._rgb is None:
            self._rgb = self._frame.to_ndarray(format="rgb24")
        return self._rgb

    def yuv(self) -> YuvPlanes | None:
        """The 8-bit planar YUV planes as views, or ``None`` for other pixel formats (10-bit, RGB, gray...)."""
        sub = PLANAR_YUV.get(self._frame.format.name)
        if sub is None:
            return None
        sx, sy = sub
        cw, ch = -(-self.width // sx), -(-self.height // sy)
        full = self._frame.format.name.startswith("yuvj") or self._frame.color_range == AVCOL_RANGE_JPEG
        return YuvPlanes(_plane(self._frame, 0, self.width, self.height), _plane(self._frame, 1, cw, ch),
                         _plane(self._frame, 2, cw, ch), self._frame.colorspace == AVCOL_SPC_BT709, full)


def iter_frames(path: str | os.PathLike[str],
                limits: Limits | None = None) -> Iterator[tuple[int, float, DecodedFrame]]:
    """Yield ``(index, timestamp_s, DecodedFrame)``, decoding lazily and converting nothing.

    Memory stays at the frames the caller holds: this is what scanning large files uses.
    """
    limits = limits or Limits()
    path = Path(path)
    with _open_video_stream(path, limits) as (container, stream):
        fps = _fps(stream)
        index = -1
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index >= limits.video_max_frames:
                    raise InputTooLarge(f"video has more than {limits.video_max_frames} frames: {path}")
                timestamp = float(frame.time) if frame.time is not None else index / fps
                if timestamp > limits.video_max_seconds + 0.5:
                    raise InputTooLarge(f"video lasts over the limit of {limits.video_max_seconds:g} s: {path}")
                yield index, timestamp, DecodedFrame(frame)
        except av.FFmpegError as exc:
            raise UnsupportedMedia(f"corrupt video: {path} ({_short(exc)})") from exc
        if index < 0:
            raise UnsupportedMedia(f"video has no decodable frames: {path}")


def iter_video(path: str | os.PathLike[str], limits: Limits | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, timestamp_s, frame)`` with ``frame`` (H, W, 3) uint8 RGB, decoding lazily."""
    with closing(iter_frames(path, limits)) as frames:  # closes the file as soon as the caller stops
        for index, timestamp, frame in frames:
            yield index, timestamp, frame.rgb()


def probe_fps(path: str | os.PathLike[str], limits: Limits | None = None) -> float:
    with _open_video_stream(Path(path), limits or Limits()) as (_, stream):
        return _fps(stream)


def read_video(path: str | os.PathLike[str], limits: Limits | None = None, *, max_frames: int | None = None,
               prefix_ok: bool = False) -> Clip:
    """Decode a whole video (any container PyAV reads) into a ``Clip``.

    Over ``limits.video_max_decoded_bytes`` of frames: ``InputTooLarge``, or, with ``prefix_ok`` (a reader that
    needs only some of the clip, such as watermark detection: the mark is in every second), the frames decoded
    before the budget ran out.
    """
    limits = limits or Limits()
    fps = probe_fps(path, limits)
    frames: list[np.ndarray] = []
    decoded = 0
    for index, _, frame in iter_video(path, limits):
        if max_frames is not None and index >= max_frames:
            break
        if frames and frame.shape != frames[0].shape:
            raise UnsupportedMedia(f"frame size changes mid-stream at frame {index}: {path}")
        decoded += frame.nbytes
        if decoded > limits.video_max_decoded_bytes:  # the whole clip is held: refuse before memory runs out
            if prefix_ok and frames:
                break
            raise InputTooLarge(f"video decodes to over {limits.video_max_decoded_bytes} bytes of frames "
                                f"(limits.video_max_decoded_bytes) by frame {index} at {frame.shape[1]}x"
                                f"{frame.shape[0]}: {path}")
        frames.append(frame)
    return Clip(np.stack(frames), fps)  # (T, H, W, 3) uint8


def write_mp4(clip: Clip, path: str | os.PathLike[str], *, crf: int = 18, preset: str = "medium") -> None:
    """Encode ``clip`` as H.264 yuv420p MP4, atomically (temp file in the same directory, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = clip.frames  # (T, H, W, 3) uint8
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:  # yuv420p needs even sizes: pad by edge replication, never crop content
        frames = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part.mp4", dir=path.parent)
    os.close(fd)
    try:
        with av.open(tmp_name, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(clip.fps).limit_denominator(1001))
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": preset}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
