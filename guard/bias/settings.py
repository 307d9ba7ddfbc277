"""Typed view of the ``bias:`` section's free-form ``settings`` (validated once, errors name the key)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from guard.policy import Policy, validate_section

DEFAULT_RECOGNIZERS = ("people", "gender", "age", "skin_tone_ethnicity", "religion", "disability", "stereotype")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiversifySettings(_Strict):
    enabled: bool = False
    seed: int = 0
    distribution: dict[str, dict[str, float] | None] = Field(default_factory=lambda: {
        "gender": {"female": 0.5, "male": 0.5},
        "skin_tone_ethnicity": {"Black": 1.0, "East Asian": 1.0, "South Asian": 1.0, "Hispanic": 1.0,
                                "Middle Eastern": 1.0, "White": 1.0},
    })


class AuditSettings(_Strict):
    imbalance_threshold: float = Field(default=0.05, ge=0.0, le=0.18)
    frames_per_clip: int = Field(default=4, gt=0)
    min_face_px: int = Field(default=24, gt=0)
    face_min_neighbors: int = Field(default=8, ge=1)
    gender_classifier: str | None = None  # import path "module:callable"; None = gender not measured


class BiasSettings(_Strict):
    recognizers: tuple[str, ...] = DEFAULT_RECOGNIZERS
    use_spacy: bool = True
    stereotype_decision: Literal["block", "flag"] = "block"
    stereotype_head: bool = True  # the MiniLM head OR-ed with the lexicon rule (one embedding per prompt)
    # the rule also reads "Aren't all X violent?" and "people from <Place>" (on since the eleventh session: +10 of 44
    # held-out Do-Not-Answer stereotype questions, no other evaluation row changed; benchmarks/RESULTS.md issue 7)
    stereotype_question_forms: bool = True
    diversify: DiversifySettings = DiversifySettings()
    audit: AuditSettings = AuditSettings()


def bias_settings(policy: Policy) -> BiasSettings:
    return validate_section(BiasSettings, policy.bias.settings, "bias.settings")
