"""The one interface every frame classifier implements, and the typed results it returns.

A classifier takes a batch of RGB frames and returns, per frame, category scores in [0, 1] and
optionally the regions (boxes) behind them. It never decides anything: thresholds, sampling and
aggregation over time belong to the policy and live in ``guard.frame_stage``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import numpy as np
import onnxruntime as ort

FACE = "face"  # the category name face detectors use for their regions (the stage blurs these)


@dataclass(frozen=True)
class Region:
    """One detection: ``box`` is (x, y, w, h) in pixels of the frame that was classified."""

    category: str
    label: str  # the model's own label, e.g. "FEMALE_BREAST_EXPOSED"
    score: float
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class FrameScores:
    """What one classifier saw in one frame: per-category scores and the regions behind them."""

    scores: Mapping[str, float]
    regions: tuple[Region, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", MappingProxyType({k: float(v) for k, v in self.scores.items()}))
        object.__setattr__(self, "regions", tuple(self.regions))


@runtime_checkable
class FrameClassifier(Protocol):
    """A batch of frames in, one ``FrameScores`` per frame out (same order).

    A classifier may also set ``concurrent_calls = True`` when ``classify`` is safe to call from
    several threads at once (ONNX Runtime sessions are); the frame stage then spreads its frames
    over all cores. Without it, calls to one classifier are serialized.
    """

    name: str
    version: str
    categories: tuple[str, ...]

    def classify(self, frames: np.ndarray) -> list[FrameScores]: ...  # frames: (N, H, W, 3) uint8


@dataclass(frozen=True)
class ClassifierInfo:
    """Identity of a classifier as recorded in verdict evidence."""

    name: str
    version: str
    categories: tuple[str, ...] = field(default_factory=tuple)


def check_frames(frames: np.ndarray) -> np.ndarray:
    """Validate a frame batch at the classifier entry point; errors name the bad value."""
    if not isinstance(frames, np.ndarray):
        raise ValueError(f"frames must be a numpy array, got {type(frames).__name__}")
    if frames.ndim == 3:
        frames = frames[None]  # a single (H, W, 3) frame -> (1, H, W, 3)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (N, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")
    if frames.shape[1] < 1 or frames.shape[2] < 1:
        raise ValueError(f"frames must be at least 1x1 pixels, got {frames.shape[1]}x{frames.shape[2]}")
    return frames


def default_threads() -> int:
    """Intra-op threads per ONNX session: ``$VIDEOGUARD_THREADS`` or 1.

    Measured here: on a 2-core box one thread per session is faster per image than two (the
    cores are better spent decoding and running the second model concurrently).
    """
    value = os.environ.get("VIDEOGUARD_THREADS", "1")
    try:
        threads = int(value)
    except ValueError as exc:
        raise ValueError(f"VIDEOGUARD_THREADS must be an integer, got {value!r}") from exc
    if threads < 1:
        raise ValueError(f"VIDEOGUARD_THREADS must be >= 1, got {threads}")
    return threads


@lru_cache(maxsize=16)
def onnx_session(path: str, threads: int) -> ort.InferenceSession:
    """One ONNX Runtime session per (model file, thread count) per process: models load once."""
    if not os.path.isfile(path):
        raise ValueError(f"ONNX model file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # quiet: no provider warnings on stderr
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, C) logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))
