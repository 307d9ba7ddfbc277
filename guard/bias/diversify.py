"""Optional prompt diversification (DALL-E 2 style), off by default.

For a prompt that depicts a person but states none of the attributes, insert attribute words drawn
from a configured distribution before the first singular person noun ("a doctor" -> "a South Asian
female doctor"). The sampler is seeded by the policy seed and the prompt's SHA-256, so the same
prompt under the same policy always gets the same words (reproducible audits), while distinct
prompts follow the configured distribution. Prompts that already state an attribute, name a person,
or only mention groups ("a crowd") are left unchanged.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from guard.bias.lexicons import Match
from guard.bias.recognizers import _people_lexicon

# Attribute words are inserted in this order before the noun: "an elderly Black female doctor".
ATTRIBUTE_ORDER = ("age", "skin_tone_ethnicity", "gender")
_COLLECTIVE = frozenset({"people", "persons", "humans", "crowd", "audience", "family", "families", "couple",
                         "children", "men", "women", "he", "she", "kids", "friends", "staff"})


_GENERIC_PERSON = frozenset({"person", "someone", "somebody", "individual", "human"})
_GENDER_NOUNS = {"female": "woman", "male": "man", "woman": "woman", "man": "man"}


@dataclass(frozen=True)
class Diversification:
    prompt: str
    added: dict[str, str] = field(default_factory=dict)
    reason: str = ""


class Diversifier:
    """Samples attribute words from ``distribution`` (attribute -> {word: weight}) with a seeded RNG."""

    name = "diversify"
    version = "1"

    def __init__(self, distribution: Mapping[str, Mapping[str, float]], seed: int = 0) -> None:
        unknown = set(distribution) - set(ATTRIBUTE_ORDER)
        if unknown:
            raise ValueError(f"diversify.distribution has unknown attributes {sorted(unknown)}; "
                             f"allowed: {list(ATTRIBUTE_ORDER)}")
        for attribute, weights in distribution.items():
            if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
                raise ValueError(f"diversify.distribution.{attribute} needs positive weights, got {dict(weights)}")
        self.distribution = {a: dict(w) for a, w in distribution.items()}
        self.seed = int(seed)

    def _rng(self, prompt: str) -> random.Random:
        digest = hashlib.sha256(f"{self.seed}\x00{prompt}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def sample(self, prompt: str) -> dict[str, str]:
        rng = self._rng(prompt)
        added = {}
        for attribute in ATTRIBUTE_ORDER:
            weights = self.distribution.get(attribute)
            if weights:
                added[attribute] = rng.choices(list(weights), weights=list(weights.values()), k=1)[0]
        return added

    def diversify(self, prompt: str) -> Diversification:
        target = _first_singular_person(prompt)
        if target is None:
            return Diversification(prompt, {}, "no singular person noun to describe")
        added = self.sample(prompt)
        if not added:
            return Diversification(prompt, {}, "empty distribution")
        head, tail = prompt[: target.start], prompt[target.start:]
        adjectives = [added[a] for a in ATTRIBUTE_ORDER if a in added]
        if target.term in _GENERIC_PERSON:
            # "someone" -> "a Black woman": a gendered noun reads better than "female person"
            noun = _GENDER_NOUNS.get(added.get("gender", "").lower())
            if noun:
                adjectives.remove(added["gender"])
            tail = (noun or "person") + prompt[target.end:]
            if target.term in ("someone", "somebody"):
                head += "a "
        words = " ".join(adjectives)
        head = _fix_article(head, words or tail)
        new = f"{head}{words} {tail}" if words else f"{head}{tail}"
        return Diversification(new, added, f"added {', '.join(added.values())} to {target.term!r}")


def _first_singular_person(prompt: str) -> Match | None:
    for match in _people_lexicon().find(prompt):
        if match.term not in _COLLECTIVE and not match.term.endswith("s"):
            return match
    return None


def _fix_article(head: str, words: str) -> str:
    """Keep "a"/"an" right for the inserted first word ("a elderly" -> "an elderly")."""
    m = re.search(r"\b(an?)(\s+)$", head, re.IGNORECASE)
    if not m:
        return head
    article = "an" if words[:1].lower() in "aeiou" else "a"
    if m.group(1)[0].isupper():
        article = article.capitalize()
    return head[: m.start(1)] + article + m.group(2)
