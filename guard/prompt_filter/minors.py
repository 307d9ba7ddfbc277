"""Minors + sexual combination: a minor in the prompt and *any* sexual signal blocks.

Runs after the other checks and reads their scores: when the prompt names a minor (a word from
``minor_terms.txt`` or an age under 18) and the sexual score from the classifier or the blocklist reaches
``settings.minors_sexual_threshold`` (default 0.05, far below the plain sexual threshold), the prompt is
blocked as sexual_minors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from guard.prompt_filter.normalize import NormalizedPrompt
from guard.prompt_filter.resources import load_minor_terms
from guard.verdict import Decision, Verdict

_AGE = re.compile(r"\b(?:(\d{1,2})\s*-?\s*(?:years?|yrs?|yo)\b(?:\s*-?\s*old)?|aged?\s+(\d{1,2})\b)")
_WORD = re.compile(r"[a-z]+")


def minor_terms_in(prompt: NormalizedPrompt) -> list[str]:
    words = _WORD.findall(prompt.normalized)
    terms = load_minor_terms()
    found = [w for w in words if w in terms]
    found += [f"{a} {b}" for a, b in zip(words, words[1:], strict=False) if f"{a} {b}" in terms]
    found += [m.group(0) for m in _AGE.finditer(prompt.normalized) if int(m.group(1) or m.group(2)) < 18]
    return found


class MinorsSexualCheck:
    """Blocks minors + sexual at ``minors_sexual_threshold``; needs the scores of the checks before it."""

    name = "minors_sexual"
    version = "1"

    def __init__(self, settings: Mapping[str, object] | None = None) -> None:
        settings = settings or {}
        self.threshold = float(settings.get("minors_sexual_threshold", 0.05))  # type: ignore[arg-type]

    def check(self, prompt: NormalizedPrompt, scores: Mapping[str, float]) -> Verdict:
        sexual = max(scores.get("sexual", 0.0), scores.get("sexual_minors", 0.0))
        minors = minor_terms_in(prompt)
        if minors and sexual >= self.threshold:
            return Verdict(f"prompt.{self.name}", Decision.BLOCK, {"sexual_minors": max(sexual, 0.5)},
                           [f"minors_sexual: minor ({', '.join(sorted(set(minors)))}) with sexual score "
                            f"{sexual:.2f} >= {self.threshold:.2f}"], evidence={"minor_terms": minors})
        return Verdict(f"prompt.{self.name}", Decision.ALLOW, evidence={"minor_terms": minors})
