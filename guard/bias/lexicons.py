"""Lexicon files for the bias gate, compiled once into word-boundary regular expressions.

The terms live in data files (``guard/data/bias/lexicons/``) rather than in code so they can be
reviewed and extended without touching the recognizers; see the README beside them for the format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

LEXICON_PACKAGE = "guard"
LEXICON_DIR = ("data", "bias", "lexicons")


@dataclass(frozen=True)
class Match:
    """One lexicon hit: the matched text and its character span in the prompt."""

    term: str
    start: int
    end: int


def _lexicon_path(name: str):  # noqa: ANN202 - importlib Traversable
    path = resources.files(LEXICON_PACKAGE)
    for part in (*LEXICON_DIR, name):
        path = path.joinpath(part)
    return path


@cache
def load_terms(name: str) -> tuple[str, ...]:
    """Terms of a ``.txt`` lexicon: one per line, ``#`` comments and blank lines skipped."""
    text = _lexicon_path(name).read_text(encoding="utf-8")
    terms = []
    for line in text.splitlines():
        term = line.split("#", 1)[0].strip().lower()
        if term:
            terms.append(term)
    return tuple(dict.fromkeys(terms))


@cache
def load_themes(name: str) -> dict[str, tuple[str, ...]]:
    """A YAML mapping ``theme -> [terms]`` (the harm themes of the stereotype recognizer)."""
    data = yaml.safe_load(_lexicon_path(name).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"lexicon {name} must map themes to term lists")
    return {str(k): tuple(str(t).lower().strip() for t in v) for k, v in data.items()}


def _term_pattern(term: str) -> str:
    """A term as a regex: words joined by flexible whitespace/hyphens, optional plural, ``*`` = any ending."""
    wildcard = term.endswith("*")
    words = term.rstrip("*").split()
    body = r"[\s\-]+".join(re.escape(w) for w in words)
    if wildcard:
        return body + r"[\w'\-]*"
    if len(words) == 1 and words[0][-1:].isalpha():
        # English plural: "-es" only after s, x, z, ch, sh ("rob" must not match "robes")
        return body + (r"(?:es)?" if words[0].endswith(("s", "x", "z", "ch", "sh")) else r"s?")
    return body


class Lexicon:
    """A compiled set of terms; ``find`` returns every non-overlapping match, longest term first."""

    def __init__(self, terms: tuple[str, ...] | list[str]) -> None:
        if not terms:
            raise ValueError("a lexicon needs at least one term")
        ordered = sorted(set(terms), key=len, reverse=True)
        alternatives = "|".join(_term_pattern(t) for t in ordered)
        self._regex = re.compile(rf"(?<![\w\-])(?:{alternatives})(?![\w\-])", re.IGNORECASE)

    def find(self, text: str) -> list[Match]:
        return [Match(m.group(0).lower(), m.start(), m.end()) for m in self._regex.finditer(text)]


@cache
def lexicon(name: str, extra: tuple[str, ...] = ()) -> Lexicon:
    """The compiled lexicon of file ``name`` (plus ``extra`` terms), built once per process."""
    return Lexicon(load_terms(name) + extra)
