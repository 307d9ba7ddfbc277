"""The watermark stage: embeds the 64-bit release id into every released clip and reads it back.

``build_watermark_stage(policy)`` -> ``WatermarkStage`` (see ``guard.stages``). It wraps the pure ``watermark``
package with the policy's settings, validated once here, and turns its errors into ``InputError``: a frame too
small to mark raises (the pipeline then refuses to release), it is never skipped. ``algorithm`` is the
identifier written as ``alg`` into the C2PA ``c2pa.soft-binding`` assertion.
"""

from __future__ import annotations

import hashlib

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

import watermark
from guard.errors import InputError
from guard.policy import Policy, validate_section
from guard.stages import PAYLOAD_BYTES, Clip, WatermarkReading
from guard.verdict import Decision, Verdict, stopwatch

STAGE = "watermark"


class WatermarkSettings(BaseModel):
    """``watermark.settings`` in the policy; every key is documented in default_policy.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    strength: float = Field(default=watermark.DEFAULT_STRENGTH, gt=0, le=16)
    p_threshold: float = Field(default=watermark.DEFAULT_P_THRESHOLD, gt=0, lt=1)
    key: str | None = None  # null: the built-in public key of io.videoguard.wm.v1
    verify_after_encode: bool = True  # read by the pipeline: detect the payload in the encoded file
    attempts: int = Field(default=3, ge=1, le=10)  # read by the pipeline: embeds tried before it refuses to release


def _settings(policy: Policy) -> WatermarkSettings:
    return validate_section(WatermarkSettings, policy.watermark.settings, "watermark.settings")


class VideoWatermarkStage:
    """Keyed luma cell-grid watermark with a temporal carrier (``watermark`` package)."""

    name = STAGE
    version = "1"

    def __init__(self, settings: WatermarkSettings) -> None:
        self.settings = settings
        self._key = watermark.DEFAULT_KEY if settings.key is None else settings.key.encode("utf-8")
        suffix = "" if settings.key is None else "+key-" + hashlib.sha256(self._key).hexdigest()[:8]
        self.algorithm = watermark.ALGORITHM + suffix

    def embed(self, clip: Clip, payload: bytes, *, hint: np.ndarray | None = None) -> tuple[Verdict, Clip]:
        """Mark every frame of ``clip`` with ``payload`` (PAYLOAD_BYTES bytes); raises rather than skip.

        ``hint``: what ``reinforce`` returned after an earlier embed of this clip failed to read back.
        """
        if not isinstance(payload, bytes) or len(payload) != PAYLOAD_BYTES:
            raise InputError(f"watermark payload must be {PAYLOAD_BYTES} bytes, got {payload!r}")
        with stopwatch() as elapsed:
            try:
                frames = watermark.embed(clip.frames, payload, fps=clip.fps, strength=self.settings.strength,
                                         key=self._key, cell_gain=hint)  # (T, H, W, 3) uint8
            except ValueError as exc:
                raise InputError(f"cannot watermark this clip: {exc}") from exc
            mse = float(np.mean((frames.astype(np.float32) - clip.frames) ** 2))
        psnr = 10 * np.log10(255.0**2 / mse) if mse > 0 else float("inf")
        verdict = Verdict(STAGE, Decision.ALLOW, elapsed_ms=elapsed[0],
                          reasons=(f"watermarked {len(frames)} frames ({self.algorithm})",),
                          evidence={"algorithm": self.algorithm, "payload": payload.hex(),
                                    "psnr_db": round(psnr, 2), "strength": self.settings.strength,
                                    "reinforced": hint is not None})
        return verdict, Clip(frames, clip.fps)

    def reinforce(self, original: Clip, marked: Clip, received: Clip, payload: bytes,
                  hint: np.ndarray | None = None) -> np.ndarray:
        """After ``marked`` (``embed(original, payload, hint=hint)``) came back from the encoder as ``received``
        without a readable payload: the hint for the next embed (per-cell gains, ``watermark.reinforce``)."""
        try:
            return watermark.reinforce(original.frames, marked.frames, received.frames, payload, fps=original.fps,
                                       key=self._key, cell_gain=hint)
        except ValueError as exc:
            raise InputError(f"cannot reinforce the watermark of this clip: {exc}") from exc

    def detect(self, clip: Clip) -> WatermarkReading:
        """Look for the mark; ``marked`` when the p-value is below the policy's ``p_threshold``."""
        try:
            found = watermark.detect(clip.frames, fps=clip.fps, key=self._key,
                                     p_threshold=self.settings.p_threshold)
        except ValueError as exc:
            raise InputError(f"cannot read a watermark from this clip: {exc}") from exc
        return WatermarkReading(marked=found.marked, p_value=found.p_value, payload=found.payload,
                                bit_confidence=tuple(float(c) for c in found.bit_confidence),
                                details={k: float(v) for k, v in found.details.items()})


def build_watermark_stage(policy: Policy) -> VideoWatermarkStage:
    return VideoWatermarkStage(_settings(policy))

