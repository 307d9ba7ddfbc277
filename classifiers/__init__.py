"""Frame classifiers: pure functions of numpy frames (no ``guard`` imports, no I/O of their own).

``FrameClassifier.classify(frames)`` takes (N, H, W, 3) uint8 RGB and returns one ``FrameScores``
per frame; ``build_classifier(name, spec)`` is the registry the policy drives.
"""

from classifiers.base import FACE, FrameClassifier, FrameScores, Region
from classifiers.faces import blur_regions
from classifiers.registry import BUNDLED, PLUGGABLE, build_classifier

__all__ = ["BUNDLED", "FACE", "PLUGGABLE", "FrameClassifier", "FrameScores", "Region", "blur_regions",
           "build_classifier"]
