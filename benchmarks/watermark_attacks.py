"""Test clips and the attack suite shared by the watermark benchmarks.

Clips: 2-second pans and zooms over photographs that ship with scikit-image (no download). Attacks: codecs
through PyAV (libx264, libx265, libvpx-vp9), geometry, colour, blur, grayscale and time edits through OpenCV
and numpy. Every attack is a pure function (frames, fps, rng) -> (frames, fps).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import av
import cv2
import numpy as np
import skimage.data

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
          "camera", "brick", "grass", "gravel", "moon", "clock", "coins", "cat", "colorwheel")

Frames = np.ndarray  # (T, H, W, 3) uint8 RGB
Attack = Callable[[Frames, float, np.random.Generator], tuple[Frames, float]]


def photo(name: str) -> np.ndarray:
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def pan_zoom_clip(name: str, seed: int, *, frames: int = 48, size: int = 256) -> Frames:
    """A smooth random pan plus zoom over one photograph: (frames, size, size, 3) uint8."""
    rng = np.random.default_rng(seed)
    image = photo(name)
    height, width = image.shape[:2]
    side0 = min(height, width) * rng.uniform(0.5, 0.8)
    zoom = rng.uniform(-0.25, 0.25)
    cx0, cy0 = rng.uniform(side0 / 2, width - side0 / 2), rng.uniform(side0 / 2, height - side0 / 2)
    vx, vy = rng.uniform(-1, 1, 2) * side0 * 0.3
    out = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        f = t / max(frames - 1, 1)
        side = side0 * (1 + zoom * f)
        cx = np.clip(cx0 + vx * f, side / 2, width - side / 2)
        cy = np.clip(cy0 + vy * f, side / 2, height - side / 2)
        scale = size / side
        matrix = np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]], np.float32)
        out[t] = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out


def natural_clips(count: int, *, frames: int = 48, size: int = 256, first_seed: int = 0) -> list[Frames]:
    return [pan_zoom_clip(PHOTOS[i % len(PHOTOS)], first_seed + i, frames=frames, size=size) for i in range(count)]


# ---------------------------------------------------------------------------------------------------------
# Attacks
# ---------------------------------------------------------------------------------------------------------


def encode_decode(frames: Frames, fps: float, codec: str, crf: int, *, preset: str | None = None) -> Frames:
    """Round-trip through a real encoder in memory; yuv420p like every distribution platform."""
    buffer = io.BytesIO()
    container_format = "webm" if codec == "libvpx-vp9" else "mp4"
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=round(fps))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if codec == "libx265":
            stream.options = {"crf": str(crf), "x265-params": "log-level=none"}
        elif codec == "libvpx-vp9":
            stream.options = {"crf": str(crf), "b": "0", "deadline": "good", "cpu-used": "4"}
        else:
            stream.options = {"crf": str(crf), **({"preset": preset} if preset else {})}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    buffer.seek(0)
    with av.open(buffer) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _codec(codec: str, crf: int) -> Attack:
    return lambda frames, fps, rng: (encode_decode(frames, fps, codec, crf), fps)


def _resize(factor: float) -> Attack:
    def attack(frames: Frames, fps: float, rng: np.random.Generator) -> tuple[Frames, float]:
        h, w = frames.shape[1:3]
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]), fps
    return attack


def _crop(area: float) -> Attack:
    """Keep ``area`` of the frame (same aspect) at a random position; the output is the smaller frame."""
    def attack(frames: Frames, fps: float, rng: np.random.Generator) -> tuple[Frames, float]:
        h, w = frames.shape[1:3]
        ch, cw = round(h * np.sqrt(area)), round(w * np.sqrt(area))
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        return np.ascontiguousarray(frames[:, y0:y0 + ch, x0:x0 + cw]), fps
    return attack


def _pixel(fn: Callable[[np.ndarray], np.ndarray]) -> Attack:
    def attack(frames: Frames, fps: float, rng: np.random.Generator) -> tuple[Frames, float]:
        out = fn(frames.astype(np.float32))
        return np.clip(np.rint(out), 0, 255).astype(np.uint8), fps
    return attack


def _gray(x: np.ndarray) -> np.ndarray:
    return (x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]


def _saturation(factor: float) -> Attack:
    return _pixel(lambda x: _gray(x) + factor * (x - _gray(x)))


def _contrast(factor: float) -> Attack:
    def stretch(x: np.ndarray) -> np.ndarray:
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        return (x - mean) * factor + mean
    return _pixel(stretch)


def _blur(sigma: float) -> Attack:
    def attack(frames: Frames, fps: float, rng: np.random.Generator) -> tuple[Frames, float]:
        return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames]), fps
    return attack


def _grayscale(frames: Frames, fps: float, rng: np.random.Generator) -> tuple[Frames, float]:
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    return np.repeat(gray[..., None], 3, axis=-1), fps


def _frame_rate(new_fps: float) -> Attack:
    """Resample in time by nearest frame (what ffmpeg's fps filter does)."""
    def attack(frames: Frames, fps: float, rng: np.random.Generator) -> tuple[Frames, float]:
        count = max(1, int(round(len(frames) * new_fps / fps)))
        index = np.minimum(np.rint(np.arange(count) * fps / new_fps).astype(int), len(frames) - 1)
        return frames[index], new_fps
    return attack


def _drop(fraction: float) -> Attack:
    def attack(frames: Frames, fps: float, rng: np.random.Generator) -> tuple[Frames, float]:
        keep = np.sort(rng.choice(len(frames), size=len(frames) - int(fraction * len(frames)), replace=False))
        return frames[keep], fps
    return attack


def _cut(seconds: float) -> Attack:
    """Remove a random ``seconds``-long segment; what is left is spliced together."""
    def attack(frames: Frames, fps: float, rng: np.random.Generator) -> tuple[Frames, float]:
        length = int(round(seconds * fps))
        start = int(rng.integers(0, len(frames) - length + 1))
        return np.concatenate([frames[:start], frames[start + length:]]), fps
    return attack


def _chain(*attacks: Attack) -> Attack:
    def attack(frames: Frames, fps: float, rng: np.random.Generator) -> tuple[Frames, float]:
        for step in attacks:
            frames, fps = step(frames, fps, rng)
        return frames, fps
    return attack


ATTACKS: dict[str, Attack] = {
    "none": lambda frames, fps, rng: (frames, fps),
    "h264_crf23": _codec("libx264", 23),
    "h264_crf30": _codec("libx264", 30),
    "h264_crf40": _codec("libx264", 40),
    "h265_crf23": _codec("libx265", 23),
    "h265_crf30": _codec("libx265", 30),
    "h265_crf40": _codec("libx265", 40),
    "vp9_crf40": _codec("libvpx-vp9", 40),
    "resize_0.5": _resize(0.5),
    "resize_0.71": _resize(0.71),
    "crop_area_0.71": _crop(0.71),
    "crop_area_0.55": _crop(0.55),
    "brightness_0.5": _pixel(lambda x: x * 0.5),
    "brightness_1.5": _pixel(lambda x: x * 1.5),
    "contrast_0.5": _contrast(0.5),
    "contrast_1.5": _contrast(1.5),
    "saturation_0.5": _saturation(0.5),
    "saturation_1.5": _saturation(1.5),
    "gaussian_blur_s1.5": _blur(1.5),
    "grayscale": _grayscale,
    "fps_24_to_15": _frame_rate(15.0),
    "fps_24_to_30": _frame_rate(30.0),
    "drop_20pct_frames": _drop(0.2),
    "cut_1s": _cut(1.0),
    "h264_crf30+crop_0.71+brightness_0.5": _chain(_crop(0.71), _pixel(lambda x: x * 0.5), _codec("libx264", 30)),
    "resize_0.5+h264_crf23": _chain(_resize(0.5), _codec("libx264", 23)),
}
