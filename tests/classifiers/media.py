"""Real test imagery: photographs that ship with scikit-image, and clips built from them."""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data

from guard.sample import as_rgb_uint8

BENIGN_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "cat", "horse", "coins", "clock",
                 "immunohistochemistry", "retina", "hubble_deep_field", "brick", "grass", "gravel", "moon")
FACE_PHOTOS = ("astronaut", "camera")
FACELESS_PHOTOS = ("coffee", "chelsea", "rocket", "coins", "hubble_deep_field")


def photo(name: str) -> np.ndarray:
    """A scikit-image photograph as (H, W, 3) uint8 RGB."""
    return as_rgb_uint8(getattr(data, name)())


def pan(name: str, frames: int, width: int = 256, height: int = 144, speed: int = 2) -> np.ndarray:
    """A camera pan over a photograph: (frames, height, width, 3) uint8, ``speed`` pixels per frame."""
    image = photo(name)
    scale = max((width + speed * frames) / image.shape[1], (height + frames // 2) / image.shape[0])
    big = cv2.resize(image, (int(image.shape[1] * scale) + 1, int(image.shape[0] * scale) + 1),
                     interpolation=cv2.INTER_AREA)
    return np.stack([big[i // 2 : i // 2 + height, i * speed : i * speed + width] for i in range(frames)])


def fitted(name: str, width: int, height: int) -> np.ndarray:
    """A photograph letterboxed into a (height, width, 3) frame without distortion."""
    image = photo(name)
    scale = min(width / image.shape[1], height / image.shape[0])
    small = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    frame = np.zeros((height, width, 3), np.uint8)
    y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    frame[y : y + small.shape[0], x : x + small.shape[1]] = small
    return frame
