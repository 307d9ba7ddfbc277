"""Sample footage for trying the layer: a slow pan over a photograph that ships with scikit-image.

Real, licensed pictures (scikit-image's data images) rather than synthetic noise, so the frame
classifiers and the watermark see natural content; used by ``videoguard sample``, ``make demo``,
the tests and the benchmarks.
"""

from __future__ import annotations

import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "cat", "camera")


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Any scikit-image data array (bool, grey, float, RGBA) -> (H, W, 3) uint8 RGB, so every consumer of
    the licensed sample images sees the same pixels."""
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.dtype != np.uint8:
        image = (255 * (image - image.min()) / max(float(np.ptp(image)), 1e-9)).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def photo_pan(frames: int = 48, size: int = 256, image: str = "astronaut") -> np.ndarray:
    """A left-to-right pan over ``skimage.data.<image>()``: (frames, size, size, 3) uint8."""
    from skimage import data, transform

    if image not in PHOTOS:
        raise ValueError(f"image must be one of {', '.join(PHOTOS)}, got {image!r}")
    if frames < 1 or size < 16:
        raise ValueError(f"need frames >= 1 and size >= 16, got {frames} and {size}")
    photo = getattr(data, image)()
    if photo.ndim == 2:
        photo = np.stack([photo] * 3, axis=-1)
    scale = (size * 1.5) / min(photo.shape[:2])
    big = (transform.rescale(photo[..., :3], scale, channel_axis=-1, anti_aliasing=True) * 255).astype(np.uint8)
    max_shift = big.shape[1] - size
    return np.stack([big[:size, int(i * max_shift / max(frames - 1, 1)):][:, :size] for i in range(frames)])
