"""Invisible, keyed video watermark carrying a 64-bit payload (pure numpy/OpenCV; no I/O).

``embed(frames, payload, fps=...)`` returns marked frames; ``detect(frames)`` returns a ``Detection`` with the
payload (when its keyed CRC passes and p is below the threshold), per-bit confidences and a p-value for "this
video is marked" that is valid for any unmarked video. See watermark/README.md for the design.
"""

from watermark.detector import DEFAULT_P_THRESHOLD, Detection, detect
from watermark.embedder import DEFAULT_STRENGTH, MIN_SIDE, PAYLOAD_BYTES, embed
from watermark.informed import reinforce
from watermark.layout import CARRIER_SHAPES, DEFAULT_KEY, default_shape

# What ``embed`` writes by default: format v2, the doublet carrier from 12 fps up and v1's Manchester carrier below
# (``default_shape``); ``detect`` reads both carriers, so v1 releases (io.videoguard.wm.v1: Manchester at every
# frame rate) stay detectable.
ALGORITHM = "io.videoguard.wm.v2"

__all__ = ["ALGORITHM", "CARRIER_SHAPES", "DEFAULT_KEY", "DEFAULT_P_THRESHOLD", "DEFAULT_STRENGTH", "MIN_SIDE",
           "PAYLOAD_BYTES", "default_shape",
           "Detection", "detect", "embed", "reinforce"]
