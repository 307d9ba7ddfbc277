"""The small interfaces through which each stage plugs into the pipeline.

The pipeline only knows these protocols; the real implementations live beside them in ``guard``
(prompt filter, bias gate, frame stage, watermark stage, generator stage) and wrap the pure packages
``classifiers``, ``watermark`` and ``generator``. A stage the policy marks ``required`` but that is
not configured makes the pipeline refuse to release (``StageMissing``), never skip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from guard.verdict import Verdict

PAYLOAD_BYTES = 8  # the watermark payload: a 64-bit release id, also the manifest-store key


@dataclass(frozen=True)
class Clip:
    """Decoded video: ``frames`` is (T, H, W, 3) uint8 RGB, ``fps`` frames per second."""

    frames: np.ndarray  # (T, H, W, 3) uint8
    fps: float

    def __post_init__(self) -> None:
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(f"frames must be (T, H, W, 3) uint8, got {self.frames.shape} {self.frames.dtype}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps


@runtime_checkable
class PromptStage(Protocol):
    """Checks a prompt. ``verdict.evidence["prompt"]``, when present, is the text to pass on
    (redacted, rewritten or diversified); ``verdict.evidence["normalized"]`` the normalized text."""

    name: str

    def __call__(self, prompt: str) -> Verdict: ...


@runtime_checkable
class GeneratorStage(Protocol):
    """Any text-to-video model behind one call."""

    name: str

    def __call__(self, prompt: str, *, seed: int, num_inference_steps: int | None = None) -> Clip: ...


@runtime_checkable
class FrameStage(Protocol):
    """Classifies frames; may return a changed clip (faces blurred) with a ``rewrite`` verdict."""

    name: str

    def __call__(self, clip: Clip) -> tuple[Verdict, Clip]: ...


@dataclass(frozen=True)
class WatermarkReading:
    """What the detector found: the payload (when decodable), per-bit confidence and a p-value for
    "this video is marked" that is valid for unmarked video."""

    marked: bool
    p_value: float
    payload: bytes | None = None
    bit_confidence: tuple[float, ...] = ()
    details: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class WatermarkStage(Protocol):
    name: str
    algorithm: str  # the soft-binding ``alg`` identifier written into the C2PA manifest

    def embed(self, clip: Clip, payload: bytes) -> tuple[Verdict, Clip]: ...

    def detect(self, clip: Clip) -> WatermarkReading: ...
