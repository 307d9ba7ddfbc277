"""Embedding: add the keyed cell pattern to luma, its sign flipped over time by the carrier.

The offset is added equally to R, G and B, so it is a pure luma change: it survives grayscale conversion and
saturation changes, and costs no colour shift. One float field per clip size is rendered once; per frame the
work is one multiply-add and a clip, so embedding runs far faster than any encoder.
"""

from __future__ import annotations

import cv2
import numpy as np

from watermark.code import MESSAGE_BITS, PAYLOAD_BITS, bytes_to_bits, conv_encode, keyed_crc
from watermark.layout import DEFAULT_KEY, GRID, carrier, layout_for

PAYLOAD_BYTES = PAYLOAD_BITS // 8
MIN_SIDE = 4 * GRID  # below 4 pixels per cell the pattern cannot be rendered smoothly (64)
_RENDER = 16  # samples per cell side when drawing the field
_EDGE_SIGMA = 0.12  # softness of cell edges, in cells
DEFAULT_STRENGTH = 2.1  # peak luma offset in 8-bit levels: about 42.5 dB PSNR after rounding to integers


def validate_frames(frames: np.ndarray) -> None:
    """Frames must be (T, H, W, 3) uint8 with T >= 1 and both sides at least MIN_SIDE."""
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        shape = getattr(frames, "shape", None)
        dtype = getattr(frames, "dtype", type(frames).__name__)
        raise ValueError(f"frames must be a (T, H, W, 3) uint8 array, got shape {shape} dtype {dtype}")
    if frames.shape[0] < 1:
        raise ValueError("frames must hold at least one frame, got 0")
    if min(frames.shape[1:3]) < MIN_SIDE:
        raise ValueError(f"frame size {frames.shape[2]}x{frames.shape[1]} is too small to watermark: "
                         f"both sides must be at least {MIN_SIDE} pixels")


def message_bits(payload: bytes, key: bytes = DEFAULT_KEY) -> np.ndarray:
    """payload (8 bytes) -> (MESSAGE_BITS,) {0,1}: payload bits then the keyed CRC-24."""
    if not isinstance(payload, bytes | bytearray) or len(payload) != PAYLOAD_BYTES:
        raise ValueError(f"payload must be {PAYLOAD_BYTES} bytes, got {payload!r}")
    bits = bytes_to_bits(bytes(payload))
    message = np.concatenate([bits, keyed_crc(bits, key)])
    if message.shape != (MESSAGE_BITS,):
        raise ValueError(f"internal: message has {message.shape} bits")
    return message


def mark_field(payload: bytes, height: int, width: int, key: bytes = DEFAULT_KEY) -> np.ndarray:
    """The spatial mark at frame size: (H, W) float32 in [-1, 1].

    Flat cells (what codecs keep best and what the detector's grid search locks onto) joined by soft edges
    about a quarter of a cell wide, so no sharp block boundary is ever drawn.
    """
    grid = layout_for(key).sign_grid(conv_encode(message_bits(payload, key)))  # (GRID, GRID)
    fine = np.kron(grid, np.ones((_RENDER, _RENDER), np.float32))  # (GRID*R, GRID*R) hard cells
    fine = cv2.GaussianBlur(fine, (0, 0), sigmaX=_EDGE_SIGMA * _RENDER, borderType=cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if width < fine.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(fine, (width, height), interpolation=interp)  # (H, W)


def embed(frames: np.ndarray, payload: bytes, *, fps: float = 24.0, strength: float = DEFAULT_STRENGTH,
          key: bytes = DEFAULT_KEY) -> np.ndarray:
    """Return a marked copy of ``frames`` (T, H, W, 3) uint8 carrying the 8-byte ``payload``."""
    # 1. Check inputs
    validate_frames(frames)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not 0 < strength <= 16:
        raise ValueError(f"strength must be in (0, 16] luma levels, got {strength}")
    # 2. Render the spatial field once, already rounded: frame + round(offset) == round(frame + offset)
    num_frames, height, width = frames.shape[:3]
    plus = np.rint(mark_field(payload, height, width, key) * np.float32(strength)).astype(np.int16)  # (H, W)
    minus = -plus
    signs = carrier(num_frames, fps, key)  # (T,)
    # 3. Add the signed field to every channel of every frame, clamped to each pixel's headroom (near black or
    #    white a clipped offset would be one-sided, i.e. a visible brightness shift). OpenCV keeps this at a few
    #    milliseconds per 720p frame.
    out = np.empty_like(frames)
    for t in range(num_frames):
        frame = frames[t]  # (H, W, 3) uint8
        b, g, r = cv2.split(frame)
        headroom = cv2.min(cv2.min(cv2.min(b, g), r), cv2.subtract(255, cv2.max(cv2.max(b, g), r)))  # (H, W)
        limit = headroom.astype(np.int16)
        delta = cv2.min(cv2.max(plus if signs[t] > 0 else minus, -limit), limit)  # (H, W) int16
        out[t] = cv2.add(frame, cv2.merge([delta, delta, delta]), dtype=cv2.CV_8U)
    return out
