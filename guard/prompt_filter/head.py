"""The semantic head over MiniLM embeddings, Platt-calibrated: linear (one-vs-rest logistic regression) or
with one shared ReLU hidden layer (a small MLP; train.py says which was trained).

Stored as plain arrays (``semantic_head.npz``) plus a JSON of metadata, so loading needs numpy only and
no pickled code runs. ``predict_proba`` returns calibrated probabilities, one column per category.
The hidden layer is optional in the file (``hidden_weights``/``hidden_bias``), so a linear head saved
before it existed still loads.

Optional lexical part (round 4): a per-category linear model over sublinear TF-IDF word 1-2-grams of the
same text, its logit added to the embedding logit before calibration (the stereotype head's design,
guard/bias/stereotype_head.py; ``guard.ngrams.NgramPart`` computes the features). MiniLM's mean-pooled embedding is
mostly topic, so a benign prompt about a bathroom or a running man can sit near unsafe ones; the n-grams
carry the exact words. On 5-fold cross-fitting of the development rows the sum cut blocked VBench prompts
12 -> 8 of 3,786 and people-centred ones 6 -> 3 of 475 at the same recall (benchmarks/RESULTS.md, round 4).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from guard.ngrams import NgramPart, ngram_arrays, ngram_part_from
from guard.prompt_filter.resources import HEAD_FILE, HEAD_META_FILE


@dataclass(frozen=True)
class SemanticHead:
    categories: tuple[str, ...]
    weights: np.ndarray  # (C, D) float32; D = 384 (linear) or the hidden width
    bias: np.ndarray  # (C,) float32
    platt_a: np.ndarray  # (C,) calibration slope on the raw logit
    platt_b: np.ndarray  # (C,) calibration intercept
    meta: dict[str, Any]
    hidden_weights: np.ndarray | None = field(default=None)  # (H, 384) float32, or None for a linear head
    hidden_bias: np.ndarray | None = field(default=None)  # (H,)
    # word n-grams; its ``weights`` are (V, C), already scaled by the part's weight (the intercept is in ``bias``)
    ngrams: NgramPart | None = field(default=None)

    def logits(self, embeddings: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """(N, 384) unit embeddings (and, when the head has an n-gram part, the N texts they embed) -> (N, C)
        raw logits (before calibration)."""
        features = embeddings
        if self.hidden_weights is not None:
            features = np.maximum(embeddings @ self.hidden_weights.T + self.hidden_bias, 0.0)  # (N, H)
        out = features @ self.weights.T + self.bias  # (N, C)
        if self.ngrams is not None:
            if texts is None or len(texts) != len(out):
                raise ValueError("this head has an n-gram part: pass the texts with their embeddings")
            out = out + self.ngram_logits(texts)
        return out

    def ngram_logits(self, texts: list[str]) -> np.ndarray:
        """(N, C) logits of the n-gram part alone (zeros without one)."""
        out = np.zeros((len(texts), len(self.categories)), dtype=np.float32)
        if self.ngrams is not None:
            for n, text in enumerate(texts):
                feats = self.ngrams.features(text)
                if feats:
                    idx = np.fromiter(feats, dtype=np.int64, count=len(feats))
                    val = np.fromiter(feats.values(), dtype=np.float32, count=len(feats))
                    out[n] = val @ self.ngrams.weights[idx]
        return out

    def predict_proba(self, embeddings: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """(N, 384) unit embeddings (and their texts, see ``logits``) -> (N, C) calibrated probabilities."""
        return 1.0 / (1.0 + np.exp(-(self.platt_a * self.logits(embeddings, texts) + self.platt_b)))  # (N, C)

    def save(self, path: Path = HEAD_FILE, meta_path: Path = HEAD_META_FILE) -> None:
        arrays = {"weights": self.weights, "bias": self.bias, "platt_a": self.platt_a, "platt_b": self.platt_b}
        if self.hidden_weights is not None:
            arrays |= {"hidden_weights": self.hidden_weights, "hidden_bias": self.hidden_bias}
        stored = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
        if self.ngrams is not None:
            stored |= ngram_arrays(self.ngrams)
        np.savez_compressed(path, **stored)
        meta = {**self.meta, "categories": list(self.categories)}
        meta_path.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = HEAD_FILE, meta_path: Path = HEAD_META_FILE) -> SemanticHead:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        with np.load(path, allow_pickle=False) as arrays:
            hidden = (arrays["hidden_weights"], arrays["hidden_bias"]) if "hidden_weights" in arrays else (None, None)
            ngrams = ngram_part_from(arrays)
            head = cls(tuple(meta["categories"]), arrays["weights"], arrays["bias"], arrays["platt_a"],
                       arrays["platt_b"], meta, *hidden, ngrams=ngrams)
        if head.weights.shape != (len(head.categories), head.weights.shape[1]):
            raise ValueError(f"head weights {head.weights.shape} do not match {len(head.categories)} categories")
        width = head.hidden_weights.shape[0] if head.hidden_weights is not None else None
        if width is not None and head.weights.shape[1] != width:
            raise ValueError(f"head weights {head.weights.shape} do not match the hidden width {width}")
        if head.ngrams is not None and head.ngrams.weights.shape != (len(head.ngrams.terms), len(head.categories)):
            raise ValueError(f"n-gram weights {head.ngrams.weights.shape} do not match "
                             f"{len(head.ngrams.terms)} terms x {len(head.categories)} categories")
        return head


@lru_cache(maxsize=4)
def load_head(path: str = str(HEAD_FILE), meta_path: str = str(HEAD_META_FILE)) -> SemanticHead:
    return SemanticHead.load(Path(path), Path(meta_path))
