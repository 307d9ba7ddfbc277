"""Invisible, keyed video watermark carrying a 64-bit payload (pure numpy/OpenCV; no I/O).

``embed(frames, payload, fps=...)`` returns marked frames; ``detect(frames)`` returns a ``Detection`` with the
payload (when its keyed CRC passes and p is below the threshold), per-bit confidences and a p-value for "this
video is marked" that is valid for any unmarked video. See watermark/README.md for the design.
"""

from watermark.detector import DEFAULT_P_THRESHOLD, Detection, detect
from watermark.embedder import DEFAULT_STRENGTH, MIN_SIDE, PAYLOAD_BYTES, embed
from watermark.informed import reinforce
from watermark.layout import DEFAULT_KEY

ALGORITHM = "io.videoguard.wm.v1"

__all__ = ["ALGORITHM", "DEFAULT_KEY", "DEFAULT_P_THRESHOLD", "DEFAULT_STRENGTH", "MIN_SIDE", "PAYLOAD_BYTES",
           "Detection", "detect", "embed", "reinforce"]
