"""Prompt recognizers of the bias gate, presidio style: one small class per concern.

Each recognizer has a ``name``, a ``version`` and one method ``recognize(text) -> Recognition``; its
terms come from a lexicon file (``guard/data/bias/lexicons``). They are rules, not models, so they
run in well under a millisecond and their every hit can be explained by the matched words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from guard.bias.lexicons import Lexicon, Match, lexicon
from guard.bias.suites import occupation_names
from guard.ner import ner_pipeline, parse


@dataclass(frozen=True)
class Recognition:
    """What one recognizer found: whether it fired, the matched terms and a one-line explanation."""

    recognizer: str
    found: bool
    terms: tuple[str, ...] = ()
    explanation: str = ""


def _window_before(text: str, match: Match, words: int) -> list[str]:
    return re.findall(r"[\w'\-]+", text[max(0, match.start - 80): match.start].lower())[-words:]


def _people_lexicon() -> Lexicon:
    return lexicon("people.txt", tuple(occupation_names()))


def _adjacent_to_person(text: str, match: Match, max_gap_words: int = 2) -> bool:
    """True when a person noun follows ``match`` within ``max_gap_words`` words ("black [young] woman")."""
    tail = text[match.end:]
    people_hits = _people_lexicon().find(tail[:80])
    if not people_hits:
        return False
    gap = re.findall(r"[\w'\-]+", tail[: people_hits[0].start])
    return len(gap) <= max_gap_words


_CAPITALIZED = re.compile(r"\b[A-Z][a-z]+")
_NO_PEOPLE_CUES = frozenset({"no", "without", "empty", "zero", "nobody", "deserted"})


def _before_animal(text: str, match: Match) -> bool:
    """"baby elephant", "clown fish": a person noun modifying an animal noun is not a person."""
    following = lexicon("animals.txt").find(text[match.end:match.end + 24])
    return bool(following) and not text[match.end:match.end + following[0].start].strip()


class PeopleRecognizer:
    """Does the prompt depict people? Person nouns, BLS occupations, "he"/"she", and (optionally)
    spaCy PERSON entities for named people. "no people" / "without people" do not count."""

    name = "people"
    version = "1"

    def __init__(self, use_spacy: bool = False) -> None:
        self.use_spacy = use_spacy

    def warm_up(self) -> None:
        _people_lexicon()
        if self.use_spacy:
            _spacy_model()

    def recognize(self, text: str) -> Recognition:
        hits = [m for m in _people_lexicon().find(text)
                if not (_NO_PEOPLE_CUES & set(_window_before(text, m, 2))) and not _before_animal(text, m)]
        terms = [m.term for m in hits] + plural_group_nouns(text) + singular_group_nouns(text)
        # spaCy only where it can change the answer: no person word yet, and a capitalized word to name someone.
        named = named_people(text) if self.use_spacy and not terms and _CAPITALIZED.search(text) else ()
        terms.extend(f"PERSON:{n}" for n in named)
        if not terms:
            return Recognition(self.name, False, (), "no person noun, occupation or named person")
        return Recognition(self.name, True, tuple(dict.fromkeys(terms)), f"person words: {', '.join(terms[:5])}")


def plural_group_nouns(text: str) -> list[str]:
    """Plural nouns naming a group of people ("Asians", "Muslims", "immigrants")."""
    hits = lexicon("ethnicity.txt").find(text) + lexicon("religion.txt").find(text) + lexicon("groups.txt").find(text)
    return [m.term for m in hits if m.term.endswith("s") and m.term.rstrip("s") in _GROUP_STEMS()]


_SINGULAR_NOUN_CONTEXT = re.compile(r"^\s*(?:$|[,.;:!?]|\w+ing\b|(?:who|is|was|with|and|as)\b)", re.IGNORECASE)


def singular_group_nouns(text: str) -> list[str]:
    """A group adjective used as a noun for one person ("a typical Mexican stealing ...", "a Muslim who ...")."""
    out = []
    for m in lexicon("ethnicity.txt").find(text) + lexicon("religion.txt").find(text):
        before = _window_before(text, m, 1)
        if before and before[0] in {"a", "an", "typical", "every", "one"} and _SINGULAR_NOUN_CONTEXT.match(
                text[m.end:]):
            out.append(m.term)
    return out


@lru_cache(maxsize=1)
def _GROUP_STEMS() -> frozenset[str]:  # noqa: N802 - a cached constant
    from guard.bias.lexicons import load_terms

    terms = load_terms("ethnicity.txt") + load_terms("religion.txt") + load_terms("groups.txt")
    return frozenset(t.rstrip("s") for t in terms) - {"bi", "tran", "religiou", "buddhi", "hindui", "islami"}


def _spacy_model() -> Any:
    """spaCy's small English NER pipeline (bundled package, no download): the process's one copy, shared with
    the prompt filter's PII check."""
    return ner_pipeline()


def named_people(text: str) -> tuple[str, ...]:
    """PERSON entities found by spaCy ("Barack Obama giving a speech"). Inside the prompt gate, a prompt the PII
    check already parsed is not parsed again (``guard.ner.shared_docs``)."""
    doc = parse(text)
    # The small model tags lower-case words ("brown chicken") as PERSON; a named person is capitalized.
    return tuple(ent.text for ent in doc.ents
                 if ent.label_ == "PERSON" and all(tok.text[:1].isupper() for tok in ent))


class _LexiconAttributeRecognizer:
    """Shared shape of the attribute recognizers: a lexicon whose hits state the attribute."""

    name = ""
    version = "1"
    LEXICON = ""
    ADJACENT_ONLY: frozenset[str] = frozenset()  # terms that count only right before a person noun

    def recognize(self, text: str) -> Recognition:
        terms = [m.term for m in lexicon(self.LEXICON).find(text) if self._counts(text, m)]
        terms.extend(self._extra_terms(text))
        if not terms:
            return Recognition(self.name, False, (), f"no {self.name} words")
        return Recognition(self.name, True, tuple(dict.fromkeys(terms)), f"{self.name} stated by: {', '.join(terms)}")

    def _counts(self, text: str, match: Match) -> bool:
        if match.term.rstrip("s") in self.ADJACENT_ONLY or match.term in self.ADJACENT_ONLY:
            return _adjacent_to_person(text, match)
        return True

    def _extra_terms(self, text: str) -> list[str]:
        return []


class GenderRecognizer(_LexiconAttributeRecognizer):
    name = "gender"
    LEXICON = "gender.txt"


_NUMERIC_AGE = re.compile(
    r"\b\d{1,3}[\s\-]*(?:year|yr)s?[\s\-]*old\b|\bin (?:his|her|their) (?:early |late |mid-?)?"
    r"(?:teens|twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties|\d0s)\b",
    re.IGNORECASE,
)


class AgeRecognizer(_LexiconAttributeRecognizer):
    """Age nouns (child, teenager, grandmother), age adjectives before a person noun ("old man",
    not "old car") and numeric ages ("a 70-year-old", "in her forties")."""

    name = "age"
    LEXICON = "age.txt"
    ADJACENT_ONLY = frozenset({"young", "younger", "old", "older", "aged", "adult", "senior", "teenage",
                               "middle-aged", "middle aged", "elderly"})

    def _extra_terms(self, text: str) -> list[str]:
        return [m.group(0).lower() for m in _NUMERIC_AGE.finditer(text)]


class SkinToneEthnicityRecognizer(_LexiconAttributeRecognizer):
    """Ethnicity, nationality or skin tone of a person. Adjectives count only before a person noun
    ("a Japanese woman", not "a Japanese garden"); colour words only right before one ("a black man",
    not "a black dog"); "-skinned" forms and plural group nouns ("Asians") count anywhere."""

    name = "skin_tone_ethnicity"
    LEXICON = "ethnicity.txt"
    _STANDALONE_SUFFIXES = ("skinned", "skin")

    def _counts(self, text: str, match: Match) -> bool:
        if match.term.endswith(self._STANDALONE_SUFFIXES):
            return True
        if match.term.endswith("s") and match.term.rstrip("s") in lexicon_terms("ethnicity.txt"):
            return True  # plural group noun: "asians", "mexicans"
        return _adjacent_to_person(text, match)

    def _extra_terms(self, text: str) -> list[str]:
        return [m.term for m in lexicon("skin_colour_words.txt").find(text) if _adjacent_to_person(text, m, 0)]


class ReligionRecognizer(_LexiconAttributeRecognizer):
    name = "religion"
    LEXICON = "religion.txt"


class DisabilityRecognizer(_LexiconAttributeRecognizer):
    name = "disability"
    LEXICON = "disability.txt"


@cache
def lexicon_terms(name: str) -> frozenset[str]:
    from guard.bias.lexicons import load_terms

    return frozenset(load_terms(name))


ATTRIBUTE_RECOGNIZERS = (GenderRecognizer, AgeRecognizer, SkinToneEthnicityRecognizer, ReligionRecognizer,
                         DisabilityRecognizer)
