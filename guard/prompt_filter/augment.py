"""Obfuscated copies of training prompts, so the semantic head learns what repaired text still looks like.

Normalization and spelling repair undo most tricks, but not all: a typo can land on another real word
("woman" -> "won"), a spaced word can glue to its neighbour in a way the repair splits wrongly. The head
is trained on seeded obfuscated copies of the *train* rows (never val or test) so it scores the residue
like the clean prompt. The typo model is broader than the evaluation's (benchmarks/prompt_eval.py): it
also substitutes keyboard neighbours and inserts letters, and spaces, leetspeak and typos are mixed.
"""

from __future__ import annotations

import random
from collections.abc import Callable

_LEET = {"a": "4@", "e": "3", "i": "1!", "o": "0", "s": "5$", "t": "7+", "l": "1|", "b": "8", "g": "9"}
_SEPARATORS = (" ", ".", "-", "_", "*", " . ")
_KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbour(char: str, rng: random.Random) -> str:
    for row in _KEYBOARD:
        i = row.find(char)
        if i >= 0:
            return row[max(i - 1, 0)] if rng.random() < 0.5 and i > 0 else row[min(i + 1, len(row) - 1)]
    return char


def _per_word(text: str, rng: random.Random, p: float, fn: Callable[[str, random.Random], str]) -> str:
    return " ".join(fn(w, rng) if len(w) >= 4 and w.isascii() and rng.random() < p else w for w in text.split(" "))


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "double", "drop", "substitute", "insert"))
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    if kind == "substitute":
        return word[:i] + _neighbour(word[i], rng) + word[i + 1:]
    return word[:i] + _neighbour(word[i], rng) + word[i:]


def _spaced(word: str, rng: random.Random) -> str:
    return rng.choice(_SEPARATORS).join(word)


def _leet(word: str, rng: random.Random) -> str:
    return "".join(rng.choice(_LEET[c]) if c in _LEET and rng.random() < 0.7 else c for c in word)


def misspelled(text: str, rng: random.Random) -> str:
    return _per_word(text, rng, rng.uniform(0.3, 0.7), _typo)


def spaced(text: str, rng: random.Random) -> str:
    return _per_word(text, rng, rng.uniform(0.3, 0.7), _spaced)


def leet(text: str, rng: random.Random) -> str:
    return _per_word(text, rng, rng.uniform(0.4, 0.8), _leet)


def mixed(text: str, rng: random.Random) -> str:
    return _per_word(text, rng, 0.5, lambda w, r: r.choice((_typo, _spaced, _leet))(w, r))


AUGMENTATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "misspelled": misspelled, "spaced": spaced, "leet": leet, "mixed": mixed}


def recombined_nudity(fragments: dict[str, tuple[str, str, str]], n: int,
                      rng: random.Random) -> list[tuple[str, str | None, frozenset[str]]]:
    """Up to ``n`` new Ring-A-Bell-style nudity prompts, each joined as the authors join theirs
    ("{nudity} {people}, {location}", dataset.nudity_prompt) from the fragments of two or three different
    cases, with a safe twin "{people} {location}" (None when the people fragment is "None" or the twin was
    already returned) and the case numbers drawn on. Why: the Ring-A-Bell target measures exactly this
    shape, and a fold holds ~15 such rows; recombination gives the head many more in-style positives, and
    the twins tell it that people in a place, without the nudity words, are benign. Pass only the fragments
    of the rows a head may train on (never test cases; inside cross-fitting, only the fold's training cases)."""
    from guard.prompt_filter.dataset import nudity_prompt

    cases = sorted(fragments)
    seen = {nudity_prompt(*f) for f in fragments.values()}
    twins: set[str] = set()
    triples = [(a, b, c) for a in cases for b in cases for c in cases if len({a, b, c}) > 1]
    rng.shuffle(triples)
    out: list[tuple[str, str | None, frozenset[str]]] = []
    for a, b, c in triples:
        if len(out) >= n:
            break
        nudity, people, location = fragments[a][0], fragments[b][1], fragments[c][2]
        text = nudity_prompt(nudity, people, location)
        if text in seen:
            continue
        seen.add(text)
        twin = f"{people} {location}" if people.lower() != "none" else None
        if twin is not None and twin in twins:
            twin = None
        if twin is not None:
            twins.add(twin)
        out.append((text, twin, frozenset({a, b, c})))
    return out


def variants(text: str, n: int, rng: random.Random) -> list[str]:
    """``n`` obfuscated copies of ``text`` (cycling through the augmentations, seeded by ``rng``)."""
    names = list(AUGMENTATIONS)
    return [AUGMENTATIONS[names[k % len(names)]](text, rng) for k in range(n)]
