"""Typed request and response models: the OpenAPI contract of the API.

Requests and responses are separate models. Verdicts keep the library's stable JSON shape
(``Verdict.to_dict``) with prompt text removed from the evidence unless the policy allows it, except
``evidence.prompt`` (the text a rewrite hands on), which the caller needs to act on a rewrite.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from guard.policy import Policy
from guard.verdict import REWRITE_KEYS, Decision, Verdict

BATCH_MAX_PROMPTS = 64
NOT_BLANK = r"\S"  # at least one non-space character (JSON Schema patterns search, they do not anchor)
PromptText = Annotated[str, Field(min_length=1, pattern=NOT_BLANK)]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------- errors
class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:videoguard:problem:rate-limited"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None


# ---------------------------------------------------------------------------- verdicts
class VerdictOut(_Out):
    stage: str
    decision: Decision
    categories: dict[str, float] = Field(description="Per-category scores in [0, 1].")
    reasons: list[str]
    elapsed_ms: float
    evidence: dict[str, Any] = Field(description="Stage-specific details; prompt text only when the policy allows.")


def public_verdict(verdict: Verdict, policy: Policy) -> VerdictOut:
    return VerdictOut.model_validate(_public_dict(verdict, policy))


def public_verdict_json(verdict: Verdict, policy: Policy) -> bytes:
    """``public_verdict`` rendered straight to the response body (``VerdictOut`` JSON, UTF-8).

    Why: the single-prompt check is the API's hot path. Going through the model costs a validation of the
    whole evidence tree here and, in FastAPI, a dump, a second validation against the response model and a
    serialization, all on the event loop. ``Verdict.to_dict`` already has ``VerdictOut``'s shape, so the
    prompt batcher's CPU worker renders the body once and the endpoint sends the bytes (same document:
    tests/api/test_render.py). Anything plain JSON cannot carry (NaN, an odd evidence type) goes through the
    model as before.
    """
    data = _public_dict(verdict, policy)
    try:
        return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError):
        return public_verdict(verdict, policy).model_dump_json().encode()


def _public_dict(verdict: Verdict, policy: Policy) -> dict[str, Any]:
    return verdict.to_dict(hide_prompt_text=not policy.ledger.log_prompt_text, keep=REWRITE_KEYS)


# ---------------------------------------------------------------------------- prompts
class PromptCheckRequest(_In):
    prompt: str = Field(min_length=1, pattern=NOT_BLANK,
                        description="The prompt to check (at most the policy's prompt_max_chars).",
                        examples=["a red ball bouncing"])


class PromptBatchRequest(_In):
    prompts: list[PromptText] = Field(min_length=1, max_length=BATCH_MAX_PROMPTS,
                                      description="Prompts to check, in order.")


class PromptBatchResponse(_Out):
    decision: Decision = Field(description="The most severe decision in the batch.")
    results: list[VerdictOut]


# ---------------------------------------------------------------------------- videos
class C2paOut(_Out):
    state: str = Field(description="trusted / valid / invalid / absent")
    codes: list[str]
    failures: list[str]
    safety: dict[str, Any]
    soft_binding: dict[str, Any]
    title: str | None = None
    signature: dict[str, Any]


class VerifyOut(_Out):
    state: str = Field(description="trusted / valid / invalid / recovered / absent")
    ok: bool
    c2pa: C2paOut
    watermark: dict[str, Any]
    recovered: dict[str, Any] | None = None


# ---------------------------------------------------------------------------- generations
JobStatus = Literal["queued", "running", "released", "blocked", "failed"]


class GenerateRequest(_In):
    prompt: str = Field(min_length=1, pattern=NOT_BLANK, examples=["a red circle moving left"])
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    num_inference_steps: int | None = Field(default=None, ge=1, le=200)


class ReleaseOut(_Out):
    release_id: str
    request_id: str
    decision: Decision
    provenance: str
    ledger_seq: int


class JobOut(_Out):
    id: str
    status: JobStatus
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    decision: Decision | None = None
    release: ReleaseOut | None = None
    verdicts: list[VerdictOut] = Field(default_factory=list)
    error: str | None = None
    video_url: str | None = Field(default=None, description="Where to fetch the video once released.")


# ---------------------------------------------------------------------------- health
class HealthOut(_Out):
    status: Literal["ok"]
    version: str


class StageStatus(_Out):
    name: str
    state: Literal["loaded", "missing", "not_loaded"]


class ReadyOut(_Out):
    ready: bool
    stages: list[StageStatus]
    error: str | None = None
