"""Word n-gram features and a linear model over them, shared by the two heads that add a lexical logit to
MiniLM's (the bias gate's stereotype head and the prompt filter's semantic head). Stored as plain arrays
beside each head's own, so loading runs no pickled code.

Why here and not in either head's package: the bias gate imports the prompt filter, so the filter's head
reaching into ``guard.bias`` for this class made an import cycle that only a function-level import avoided.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern (the trainer fits with it)


@dataclass(frozen=True, eq=False)
class NgramPart:
    """A linear model over sublinear TF-IDF word n-grams, L2-normalized, as scikit-learn's
    ``TfidfVectorizer(ngram_range=(1, n), sublinear_tf=True)`` computes them; reimplemented here (about 20
    lines) so the shipped head is plain arrays, not a pickled vectorizer. The trainer checks the two agree."""

    terms: tuple[str, ...]
    idf: np.ndarray  # (V,) float32
    weights: np.ndarray  # (V,) or (V, C) float32, already scaled by the part's weight in the sum
    max_n: int = 2
    index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.terms) != len(self.idf) or len(self.terms) != len(self.weights):
            raise ValueError("n-gram terms, idf and weights must have the same length")
        self.index.update({t: i for i, t in enumerate(self.terms)})

    def features(self, text: str) -> dict[int, float]:
        """{vocabulary index: tf-idf value} for ``text`` (only n-grams in the vocabulary; L2 norm 1)."""
        tokens = _TOKEN.findall(text.lower())
        grams = Counter(" ".join(tokens[i:i + n]) for n in range(1, self.max_n + 1)
                        for i in range(len(tokens) - n + 1))
        values = {self.index[g]: (1.0 + math.log(c)) * float(self.idf[self.index[g]])
                  for g, c in grams.items() if g in self.index}
        norm = math.sqrt(sum(v * v for v in values.values()))
        return {i: v / norm for i, v in values.items()} if norm else {}

    def logit(self, text: str) -> float:
        return sum(float(self.weights[i]) * v for i, v in self.features(text).items())

    def top_terms(self, text: str, k: int = 3) -> list[str]:
        """The n-grams that pushed ``text``'s score up the most (for the verdict's explanation)."""
        contrib = sorted(((float(self.weights[i]) * v, self.terms[i]) for i, v in self.features(text).items()),
                         reverse=True)
        return [t for c, t in contrib[:k] if c > 0]


def ngram_arrays(part: NgramPart) -> dict[str, np.ndarray]:
    """The arrays a head file stores for ``part`` (its keys start with ``ngram_``)."""
    return {"ngram_terms": np.array(part.terms, dtype=str), "ngram_idf": part.idf.astype(np.float32),
            "ngram_weights": part.weights.astype(np.float32), "ngram_max_n": np.int32(part.max_n)}


def ngram_part_from(arrays: Mapping[str, np.ndarray]) -> NgramPart | None:
    """The part stored by ``ngram_arrays`` in a loaded head file, or None when the head has none."""
    if "ngram_terms" not in arrays:
        return None
    return NgramPart(tuple(str(t) for t in arrays["ngram_terms"]), arrays["ngram_idf"], arrays["ngram_weights"],
                     int(arrays["ngram_max_n"]))


def ngram_part_from_sklearn(vectorizer: Any, coef: np.ndarray, weight: float, probe: list[str]) -> NgramPart:
    """The part for a fitted ``TfidfVectorizer`` and a linear model's ``coef`` ((V,) or (V, C)), times ``weight``.

    Checked on ``probe`` texts: the numpy re-implementation must give scikit-learn's numbers, or training stops
    (a shipped head must score what was trained)."""
    part = NgramPart(tuple(str(t) for t in vectorizer.get_feature_names_out()), vectorizer.idf_.astype(np.float32),
                     (weight * coef).astype(np.float32), vectorizer.ngram_range[1])
    expected = weight * (vectorizer.transform(probe) @ coef)
    zero = np.zeros(part.weights.shape[1:], dtype=np.float64)
    got = np.stack([np.asarray(sum((v * part.weights[i] for i, v in part.features(t).items()), zero))
                    for t in probe])
    if not np.allclose(got, expected, atol=1e-4):
        raise AssertionError(f"NgramPart disagrees with TfidfVectorizer (max diff {np.abs(got - expected).max():.2e})")
    return part
