"""The stereotype head: logistic regression over the prompt filter's MiniLM sentence embedding, plus a
logistic regression over TF-IDF word 1-2-grams, their logits added.

The lexicon rule (``stereotype.py``) needs a group word and a harm word it knows; the head reads
paraphrase ("they will never integrate and live on our taxes"). It is a second signal, OR-ed with the
rule, with a threshold chosen on the dev split for a false-positive budget on benign group mentions
(``train_stereotype.py``). The n-gram part is there because the MiniLM embedding is mostly topic: it
scores "people with disabilities need to stop being so dependent" and "people with disabilities need
support" alike, while phrasings such as "need to stop", "would never hire", "should not be allowed" carry
the harm. On dev cross-validation the sum raised harm-theme recall at the same false-positive budget.
Stored as plain arrays (``stereotype_head.npz``: the n-gram vocabulary as a unicode array) plus JSON
metadata, so loading runs no pickled code. The embedder is the prompt filter's (one model per process).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

HEAD_NAME = "stereotype_head"
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern (the trainer fits with it)


@dataclass(frozen=True, eq=False)
class NgramPart:
    """A linear model over sublinear TF-IDF word n-grams, L2-normalized, as scikit-learn's
    ``TfidfVectorizer(ngram_range=(1, n), sublinear_tf=True)`` computes them; reimplemented here (about 20
    lines) so the shipped head is plain arrays, not a pickled vectorizer. The trainer checks the two agree."""

    terms: tuple[str, ...]
    idf: np.ndarray  # (V,) float32
    weights: np.ndarray  # (V,) float32, already scaled by the part's weight in the sum
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


def default_paths() -> tuple[Path, Path]:
    """``(npz, json)`` of the bundled head in ``guard/data/bias``."""
    base = Path(str(resources.files("guard"))) / "data" / "bias"
    return base / f"{HEAD_NAME}.npz", base / f"{HEAD_NAME}.json"


@dataclass(frozen=True)
class StereotypeHead:
    """``score(texts)`` = the head's logit per text (max over the embedder's word windows):
    embedding part + n-gram part (when present) + bias."""

    weights: np.ndarray  # (384,) float32
    bias: float
    threshold: float  # a text is stereotype harm when its logit >= threshold
    meta: dict[str, Any]
    ngrams: NgramPart | None = None

    def logits(self, embeddings: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """(N, 384) unit embeddings (and the N texts they embed, for the n-gram part) -> (N,) logits."""
        out = embeddings @ self.weights + self.bias
        if self.ngrams is not None:
            if texts is None or len(texts) != len(out):
                raise ValueError("this head has an n-gram part: pass the texts with their embeddings")
            out = out + np.array([self.ngrams.logit(t) for t in texts], dtype=out.dtype)
        return out

    def score(self, texts: list[str]) -> np.ndarray:
        """(N,) logits, each the max over the text's windows (long prompts cannot dilute a harmful phrase)."""
        from guard.prompt_filter.embedder import get_embedder, windows

        pieces = [windows(t) for t in texts]
        flat = [w for ws in pieces for w in ws]
        logits = self.logits(get_embedder().embed(flat), flat)  # (sum W,)
        out = np.empty(len(texts), dtype=np.float32)
        start = 0
        for i, ws in enumerate(pieces):
            out[i] = logits[start:start + len(ws)].max()
            start += len(ws)
        return out

    def save(self, path: Path, meta_path: Path) -> None:
        arrays: dict[str, np.ndarray] = {"weights": self.weights.astype(np.float32), "bias": np.float32(self.bias)}
        if self.ngrams is not None:
            arrays.update(ngram_terms=np.array(self.ngrams.terms, dtype=str),
                          ngram_idf=self.ngrams.idf.astype(np.float32),
                          ngram_weights=self.ngrams.weights.astype(np.float32),
                          ngram_max_n=np.int32(self.ngrams.max_n))
        np.savez_compressed(path, **arrays)
        meta = {**self.meta, "threshold": round(float(self.threshold), 6)}
        meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path, meta_path: Path) -> StereotypeHead:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        ngrams = None
        with np.load(path, allow_pickle=False) as arrays:
            weights, bias = arrays["weights"], float(arrays["bias"])
            if "ngram_terms" in arrays:
                ngrams = NgramPart(tuple(str(t) for t in arrays["ngram_terms"]), arrays["ngram_idf"],
                                   arrays["ngram_weights"], int(arrays["ngram_max_n"]))
        if weights.ndim != 1:
            raise ValueError(f"stereotype head weights must be a vector, got shape {weights.shape}")
        return cls(weights, bias, float(meta["threshold"]), meta, ngrams)


@lru_cache(maxsize=2)
def load_stereotype_head(path: str = "", meta_path: str = "") -> StereotypeHead:
    """The bundled head (or the one at ``path``/``meta_path``), loaded once per process."""
    default_npz, default_json = default_paths()
    return StereotypeHead.load(Path(path) if path else default_npz, Path(meta_path) if meta_path else default_json)
