"""Invisible, keyed video watermark carrying a 64-bit payload (pure numpy/OpenCV; no I/O).

``embed(frames, payload, fps=...)`` returns marked frames; ``detect(frames)`` returns a ``Detection`` with the
payload (when its keyed CRC passes and p is below the threshold), per-bit confidences and a p-value for "this
video is marked" that is valid for any unmarked video. See watermark/README.md for the design.
"""

from watermark.detector import DEFAULT_P_THRESHOLD, Detection, detect
from watermark.embedder import DEFAULT_STRENGTH, MIN_SIDE, PAYLOAD_BYTES, embed
from watermark.informed import reinforce
from watermark.layout import CARRIER_SHAPES, DEFAULT_FORMAT, DEFAULT_KEY, FORMATS, default_shape

# What ``embed`` writes by default: format v2, the doublet carrier from 12 fps up and v1's Manchester carrier below
# (``default_shape``); ``detect`` reads every carrier, so v1 and v3 releases (io.videoguard.wm.v1: Manchester at
# every frame rate; v3: the pulse from 12 fps up) stay detectable.
ALGORITHM = FORMATS[DEFAULT_FORMAT][0]

__all__ = ["ALGORITHM", "CARRIER_SHAPES", "DEFAULT_FORMAT", "DEFAULT_KEY", "DEFAULT_P_THRESHOLD", "DEFAULT_STRENGTH",
           "FORMATS", "MIN_SIDE", "PAYLOAD_BYTES", "default_shape",
           "Detection", "detect", "embed", "reinforce"]
