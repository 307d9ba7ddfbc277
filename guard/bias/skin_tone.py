"""Perceived skin tone of a face: Individual Typology Angle (ITA) in CIELAB, mapped to Monk 10.

ITA = atan2(L* - 50, b*) in degrees (Chardon et al. 1991): high for light skin, low or negative for
dark skin. It is computed from the median L* and b* of the skin pixels of the central face region.

Skin pixels: the inner part of the face box (cheeks, nose, forehead; the border with hair and
background is cut), minus pixels whose CIELAB hue is implausible for skin (a* < 0, or b* < 3) and
minus the darkest and brightest 10 % of L* (shadows, eyes, specular highlights). Unlike the
YCrCb/RGB skin rule used by HEIM/DALL-Eval, this keeps dark skin (that rule requires Y > 80 and
R > 95, which drops the darkest Monk levels).

Monk mapping (documented choice): each Monk Skin Tone swatch (official sRGB values from
skintone.google) is converted to CIELAB (D65) and gets its own ITA; a face goes to the level whose
swatch ITA is nearest, i.e. the boundaries are the midpoints between consecutive swatch ITAs:

    level:      1     2     3     4     5     6     7      8      9      10
    swatch ITA: 83.0  80.2  71.7  64.7  50.3  10.9  -20.1  -55.4  -78.3  -84.3

Perceived tone from a generated frame depends on lighting and white balance; it is a measurement of
the pixels, not of anyone's identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from skimage.color import rgb2lab

MONK_HEX = ("f6ede4", "f3e7db", "f7ead0", "eadaba", "d7bd96", "a07e56", "825c43", "604134", "3a312a", "292420")
INNER_FRACTION = 0.6  # central share of the face box used for skin pixels (width and height)
MIN_SKIN_PIXELS = 30  # fewer usable pixels than this: tone unknown
MIN_SKIN_SHARE = 0.25  # less of the patch plausible as skin: tone unknown (likely not a face)
SKIN_MIN_A, SKIN_MIN_B = 0.0, 3.0  # skin has a warm hue: a* >= 0 and b* >= 3 at every Monk level
L_PERCENTILES = (10.0, 90.0)


@dataclass(frozen=True)
class SkinTone:
    ita: float  # degrees
    monk: int  # 1..10
    lightness: float  # median L*
    yellowness: float  # median b*
    pixels: int


def ita_degrees(lightness: float, b: float) -> float:
    """ITA from CIELAB L* and b*: atan2(L* - 50, b*) in degrees."""
    return float(np.degrees(np.arctan2(lightness - 50.0, b)))


@lru_cache(maxsize=1)
def monk_swatch_itas() -> tuple[float, ...]:
    rgb = np.array([[[int(h[i:i + 2], 16) / 255.0 for i in (0, 2, 4)] for h in MONK_HEX]])  # (1, 10, 3)
    lab = rgb2lab(rgb)[0]  # (10, 3)
    return tuple(ita_degrees(lab_row[0], lab_row[2]) for lab_row in lab)


def monk_level(ita: float) -> int:
    """The Monk level (1..10) whose swatch ITA is nearest to ``ita``."""
    swatches = np.asarray(monk_swatch_itas())
    return int(np.argmin(np.abs(swatches - ita))) + 1


def skin_tone_of_pixels(pixels: np.ndarray) -> SkinTone | None:
    """Skin tone from candidate skin pixels (N, 3) uint8 RGB; None when too few plausible skin pixels."""
    if pixels.ndim != 2 or pixels.shape[-1] != 3:
        raise ValueError(f"pixels must be (N, 3) RGB, got shape {pixels.shape}")
    if len(pixels) == 0:
        return None
    lab = rgb2lab(pixels.reshape(1, -1, 3).astype(np.float64) / 255.0)[0]  # (N, 3)
    plausible = lab[(lab[:, 1] >= SKIN_MIN_A) & (lab[:, 2] >= SKIN_MIN_B)]
    if len(plausible) < max(MIN_SKIN_PIXELS, MIN_SKIN_SHARE * len(lab)):
        return None
    low, high = np.percentile(plausible[:, 0], L_PERCENTILES)
    core = plausible[(plausible[:, 0] >= low) & (plausible[:, 0] <= high)]
    if len(core) < MIN_SKIN_PIXELS:
        core = plausible
    lightness, b = float(np.median(core[:, 0])), float(np.median(core[:, 2]))
    ita = ita_degrees(lightness, b)
    return SkinTone(ita, monk_level(ita), lightness, b, len(core))


def face_skin_pixels(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The central part of face ``box`` (x, y, w, h) of ``frame`` (H, W, 3) uint8, as (N, 3) pixels."""
    x, y, w, h = box
    margin_x, margin_y = w * (1 - INNER_FRACTION) / 2, h * (1 - INNER_FRACTION) / 2
    x0, x1 = int(round(x + margin_x)), int(round(x + w - margin_x))
    y0, y1 = int(round(y + margin_y)), int(round(y + h - margin_y))
    patch = frame[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]  # (h', w', 3) uint8
    return patch.reshape(-1, 3)


def face_skin_tone(frame: np.ndarray, box: tuple[int, int, int, int]) -> SkinTone | None:
    return skin_tone_of_pixels(face_skin_pixels(frame, box))
