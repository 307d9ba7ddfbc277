"""The policy: which stages run, with which thresholds, under which limits.

Loaded from YAML and validated once by pydantic (errors name the bad field). The documented default
ships as ``guard/default_policy.yaml``; a user policy is merged over it, so a policy file only needs
the keys it changes. One policy object is the single source of every threshold in the layer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from guard.errors import PolicyError
from guard.verdict import Decision


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Threshold(_Strict):
    """Score at or above ``block`` blocks; at or above ``flag`` flags. ``None`` disables that level."""

    flag: float | None = Field(default=None, ge=0.0, le=1.0)
    block: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> Threshold:
        if self.flag is not None and self.block is not None and self.flag > self.block:
            raise ValueError(f"flag threshold {self.flag} is above block threshold {self.block}")
        return self

    def decide(self, score: float) -> Decision:
        if self.block is not None and score >= self.block:
            return Decision.BLOCK
        if self.flag is not None and score >= self.flag:
            return Decision.FLAG
        return Decision.ALLOW


def decide_scores(scores: Mapping[str, float], thresholds: Mapping[str, Threshold]) -> tuple[Decision, list[str]]:
    """Map category scores to the worst decision and one reason per category that crossed a threshold."""
    decisions = [Decision.ALLOW]
    reasons: list[str] = []
    for category, score in scores.items():
        threshold = thresholds.get(category)
        if threshold is None:
            continue
        decision = threshold.decide(score)
        if decision is not Decision.ALLOW:
            decisions.append(decision)
            limit = threshold.block if decision is Decision.BLOCK else threshold.flag
            reasons.append(f"{category} score {score:.2f} >= {decision.value} threshold {limit:.2f}")
    return Decision.worst(decisions), reasons


class Limits(_Strict):
    """Input limits, enforced at the entry points (CLI, API, pipeline)."""

    prompt_max_chars: int = Field(default=4000, gt=0)
    video_max_bytes: int = Field(default=2 * 1024**3, gt=0)
    video_max_seconds: float = Field(default=600.0, gt=0)
    video_max_width: int = Field(default=3840, gt=0)
    video_max_height: int = Field(default=2160, gt=0)
    video_max_frames: int = Field(default=20000, gt=0)
    #: Decoded RGB bytes (frames x height x width x 3) of a video read whole: a release holds about seven times this
    #: at its peak, so the other limits alone let a 2-minute 1080p clip exhaust the memory; verify reads the frames
    #: that fit.
    video_max_decoded_bytes: int = Field(default=1024**3, gt=0)


class StagePolicy(_Strict):
    """Common to every stage: whether it must run, its timeout, and per-category thresholds."""

    required: bool = True
    timeout_s: float = Field(default=120.0, gt=0)
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)


#: libx264's presets (the encoder of released files): anything else fails only when the first release is encoded.
X264_PRESET = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                      "placebo"]


class OutputPolicy(_Strict):
    crf: int = Field(default=18, ge=0, le=51)
    preset: X264_PRESET = "medium"
    fps: float | None = Field(default=None, gt=0)


class ProvenancePolicy(_Strict):
    required: bool = True
    timeout_s: float = Field(default=60.0, gt=0)
    claim_generator: str = "videoguard"
    include_prompt_text: bool = False
    title: str = "videoguard release"


class LedgerPolicy(_Strict):
    log_prompt_text: bool = False


class Policy(_Strict):
    version: int = 1
    limits: Limits = Limits()
    prompt: StagePolicy = StagePolicy()
    generator: StagePolicy = StagePolicy(timeout_s=600.0)
    frames: StagePolicy = StagePolicy()
    watermark: StagePolicy = StagePolicy()
    bias: StagePolicy = StagePolicy(required=False)
    provenance: ProvenancePolicy = ProvenancePolicy()
    output: OutputPolicy = OutputPolicy()
    ledger: LedgerPolicy = LedgerPolicy()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


DEFAULT_POLICY_RESOURCE = "default_policy.yaml"


def default_policy_text() -> str:
    return resources.files("guard").joinpath(DEFAULT_POLICY_RESOURCE).read_text(encoding="utf-8")


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_policy(path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None) -> Policy:
    """The effective policy: the shipped default, then ``path`` (or ``$VIDEOGUARD_POLICY``), then ``overrides``."""
    data = yaml.safe_load(default_policy_text()) or {}
    path = path or os.environ.get("VIDEOGUARD_POLICY") or None
    if path is not None:
        try:
            user = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError as exc:
            raise PolicyError(f"policy file not found: {path}") from exc
        except OSError as exc:  # a directory, no permission
            raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise PolicyError(f"policy file {path} is not UTF-8 text (byte {exc.start})") from exc
        except yaml.YAMLError as exc:
            raise PolicyError(f"policy file {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
        if not isinstance(user, Mapping):
            raise PolicyError(f"policy file {path} must hold a mapping at the top level")
        data = _merge(data, user)
    if overrides:
        data = _merge(data, overrides)
    return validate_section(Policy, data, "")


M = TypeVar("M", bound=BaseModel)


def validate_section(model: type[M], data: Mapping[str, Any], where: str) -> M:
    """Validate ``data`` (the policy, or a stage's free-form ``settings`` at ``where``) against ``model``,
    turning the first pydantic error into a one-line ``PolicyError`` that names the key."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join([where, *(str(p) for p in first["loc"])] if where else [str(p) for p in first["loc"]])
        raise PolicyError(f"invalid policy at {path}: {first['msg']}") from exc


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The effective policy for this process (shipped default plus ``$VIDEOGUARD_POLICY``)."""
    return load_policy()
