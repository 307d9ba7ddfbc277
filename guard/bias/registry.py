"""The registry of bias-gate recognizers; the policy enables them by name (``bias.settings.recognizers``)."""

from __future__ import annotations

from guard.bias.recognizers import (
    AgeRecognizer,
    DisabilityRecognizer,
    GenderRecognizer,
    PeopleRecognizer,
    ReligionRecognizer,
    SkinToneEthnicityRecognizer,
)
from guard.bias.stereotype import StereotypeRecognizer
from guard.errors import PolicyError

ATTRIBUTE_RECOGNIZERS = {
    "gender": GenderRecognizer,
    "age": AgeRecognizer,
    "skin_tone_ethnicity": SkinToneEthnicityRecognizer,
    "religion": ReligionRecognizer,
    "disability": DisabilityRecognizer,
}
KNOWN = ("people", *ATTRIBUTE_RECOGNIZERS, "stereotype")


def check_names(names: tuple[str, ...]) -> None:
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        raise PolicyError(f"unknown bias recognizer(s) {unknown}; known: {list(KNOWN)}")
    if "people" not in names:
        raise PolicyError("bias.settings.recognizers must include 'people'")


def build_people(use_spacy: bool) -> PeopleRecognizer:
    return PeopleRecognizer(use_spacy=use_spacy)


def build_attributes(names: tuple[str, ...]) -> list:  # list of attribute recognizers, in policy order
    return [ATTRIBUTE_RECOGNIZERS[n]() for n in names if n in ATTRIBUTE_RECOGNIZERS]


def build_stereotype(names: tuple[str, ...], use_head: bool = False,
                     question_forms: bool = False) -> StereotypeRecognizer | None:
    """The stereotype recognizer, with the bundled semantic head when ``use_head`` (loads MiniLM once)."""
    if "stereotype" not in names:
        return None
    if not use_head:
        return StereotypeRecognizer(question_forms=question_forms)
    from guard.bias.stereotype_head import load_stereotype_head

    return StereotypeRecognizer(load_stereotype_head(), question_forms)
