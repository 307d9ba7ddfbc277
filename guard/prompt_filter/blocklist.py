"""Blocklist check: licensed wordlists matched on word boundaries, with fuzzy matching for near misses.

Matching runs on normalized text (see ``normalize.py``), so the tricks it undoes need no entries here.
Three ways to hit, in order of confidence:
- exact: a term (1-4 words) equals a run of whole words; plain suffixes count ("nudes" -> "nude").
  Whole words only, so "Scunthorpe" or "cocktail" never hit a term hidden inside them.
- joined: two adjacent words, one of at most two letters, spell a term ("nu de", "p orn").
- fuzzy: a word of five or more letters one edit away from a term, with the same first letter ("nuuds",
  "pornn", "f*ck"), unless the word is a real English word (the MiniLM vocabulary) or on the allowlist.
A hit inside an allowlisted phrase ("blue tit", "cum laude") is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from guard.policy import Threshold
from guard.prompt_filter.normalize import NormalizedPrompt
from guard.prompt_filter.resources import BlockTerm, english_words, load_allowlist, load_blocklist
from guard.prompt_filter.spelling import within_one_edit
from guard.verdict import Decision, Verdict

_WORD = re.compile(r"[a-z0-9*]+|[\U0001F000-\U0001FFFF]")
_SUFFIXES = ("es", "s", "ing", "ed", "er", "ers")
_FUZZY_MIN_LEN = 5
_SHORT_WORDS = frozenset(
    ("a", "i", "an", "is", "of", "in", "on", "at", "to", "it", "be", "by", "me", "my", "we", "us", "he", "so", "no",
     "do", "go", "or", "up", "as", "if", "am")
)
STRENGTH_SCORE = {"strong": 1.0, "weak": 0.5}


@dataclass(frozen=True)
class Hit:
    term: BlockTerm
    matched: str
    how: str  # exact | suffix | joined | fuzzy


def _deletes(word: str) -> set[str]:
    return {word} | {word[:i] + word[i + 1:] for i in range(len(word))}


class BlocklistMatcher:
    """Finds blocked terms in normalized text; built once per process from the data files."""

    def __init__(self, terms: Iterable[BlockTerm], allow_words: frozenset[str], allow_phrases: Iterable[str],
                 english: frozenset[str]) -> None:
        self.terms = {t.term: t for t in terms}
        self.max_words = max((t.count(" ") + 1 for t in self.terms), default=1)
        self.allow_words = allow_words
        self.allow_phrases = [p.split() for p in allow_phrases]
        self._phrases_by_first: dict[str, list[list[str]]] = {}  # first word -> phrases, so a prompt's words
        for phrase in self.allow_phrases:                          # are looked up, not every phrase tried
            if phrase:
                self._phrases_by_first.setdefault(phrase[0], []).append(phrase)
        self.english = english
        self.fuzzy: dict[str, list[BlockTerm]] = {}
        for term in self.terms.values():
            if " " not in term.term and len(term.term) >= _FUZZY_MIN_LEN - 1:
                for key in _deletes(term.term):
                    self.fuzzy.setdefault(key, []).append(term)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, str, str]]) -> BlocklistMatcher:
        allow_words, allow_phrases = load_allowlist()
        return cls([BlockTerm(*r) for r in rows], allow_words, allow_phrases, english_words())

    def _allowed_positions(self, words: list[str]) -> set[int]:
        covered: set[int] = set()
        for i, word in enumerate(words):
            for phrase in self._phrases_by_first.get(word, ()):
                if words[i:i + len(phrase)] == phrase:
                    covered.update(range(i, i + len(phrase)))
        return covered

    def _word_hit(self, word: str) -> Hit | None:
        for suffix in _SUFFIXES:
            stem = word[: -len(suffix)]
            if word.endswith(suffix) and len(stem) >= 3 and stem in self.terms and word not in self.english:
                return Hit(self.terms[stem], word, "suffix")
        fuzzy_ok = len(word) >= _FUZZY_MIN_LEN or ("*" in word and len(word) >= _FUZZY_MIN_LEN - 1)
        if not fuzzy_ok or self._is_real_word(word) or word.isdigit():
            return None
        for key in _deletes(word):
            for term in self.fuzzy.get(key, ()):
                if (word[0] == term.term[0] or word[0] == "*") and within_one_edit(word, term.term):
                    return Hit(term, word, "fuzzy")
        return None

    def _is_word(self, word: str) -> bool:
        return word in _SHORT_WORDS or word in self.english

    def _is_real_word(self, word: str) -> bool:
        if word in self.english or word in self.allow_words:
            return True
        return any(word.endswith(s) and (word[: -len(s)] in self.english or word[: -len(s)] + "e" in self.english)
                   for s in _SUFFIXES)

    def find(self, prompt: NormalizedPrompt) -> list[Hit]:
        hits: dict[str, Hit] = {}
        for variant in dict.fromkeys((prompt.normalized, prompt.uncollapsed)):
            words = _WORD.findall(variant)
            allowed = self._allowed_positions(words)
            for i, word in enumerate(words):
                if i in allowed:
                    continue
                for n in range(self.max_words, 0, -1):
                    gram = " ".join(words[i:i + n])
                    if i + n <= len(words) and gram in self.terms:
                        hits.setdefault(gram, Hit(self.terms[gram], gram, "exact"))
                        break
                else:
                    nxt = words[i + 1] if i + 1 < len(words) else ""
                    joined = word + nxt
                    if nxt and min(len(word), len(nxt)) <= 2 and joined in self.terms \
                            and i + 1 not in allowed and not (self._is_word(word) and self._is_word(nxt)):
                        hits.setdefault(joined, Hit(self.terms[joined], f"{word} {nxt}", "joined"))
                    elif word not in self.terms and (hit := self._word_hit(word)) is not None:
                        hits.setdefault(hit.term.term, hit)
        return list(hits.values())


@lru_cache(maxsize=1)
def default_matcher() -> BlocklistMatcher:
    allow_words, allow_phrases = load_allowlist()
    return BlocklistMatcher(load_blocklist(), allow_words, allow_phrases, english_words())


class BlocklistCheck:
    """Blocks strong wordlist terms and flags weak ones (scores 1.0 / 0.5 in the term's category)."""

    name = "blocklist"
    version = "1"

    def __init__(self, thresholds: Mapping[str, Threshold] | None = None,
                 matcher: BlocklistMatcher | None = None) -> None:
        self.matcher = matcher or default_matcher()

    def check(self, prompt: NormalizedPrompt) -> Verdict:
        hits = self.matcher.find(prompt)
        scores: dict[str, float] = {}
        decisions = [Decision.ALLOW]
        reasons = []
        for hit in hits:
            score = STRENGTH_SCORE[hit.term.strength]
            scores[hit.term.category] = max(scores.get(hit.term.category, 0.0), score)
            decisions.append(Decision.BLOCK if hit.term.strength == "strong" else Decision.FLAG)
            reasons.append(f"blocklist: {hit.how} match of {hit.term.category} term {hit.term.term!r}"
                           f" ({hit.term.strength}) in {hit.matched!r}")
        evidence = {"hits": [{"term": h.term.term, "category": h.term.category, "strength": h.term.strength,
                              "matched": h.matched, "how": h.how, "source": h.term.source} for h in hits]}
        return Verdict(f"prompt.{self.name}", Decision.worst(decisions), scores, reasons, evidence=evidence)
