"""The semantic head: one-vs-rest logistic regression over MiniLM embeddings, Platt-calibrated.

Stored as plain arrays (``semantic_head.npz``) plus a JSON of metadata, so loading needs numpy only and
no pickled code runs. ``predict_proba`` returns calibrated probabilities, one column per category.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from guard.prompt_filter.resources import HEAD_FILE, HEAD_META_FILE


@dataclass(frozen=True)
class SemanticHead:
    categories: tuple[str, ...]
    weights: np.ndarray  # (C, 384) float32
    bias: np.ndarray  # (C,) float32
    platt_a: np.ndarray  # (C,) calibration slope on the raw logit
    platt_b: np.ndarray  # (C,) calibration intercept
    meta: dict[str, Any]

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, 384) unit embeddings -> (N, C) calibrated probabilities."""
        logits = embeddings @ self.weights.T + self.bias  # (N, C)
        return 1.0 / (1.0 + np.exp(-(self.platt_a * logits + self.platt_b)))  # (N, C)

    def predict_proba_windows(self, embeddings: list[np.ndarray]) -> np.ndarray:
        """Per prompt a (W, 384) array of window embeddings -> (N, C), max over each prompt's windows."""
        return np.stack([self.predict_proba(e).max(axis=0) for e in embeddings])

    def save(self, path: Path = HEAD_FILE, meta_path: Path = HEAD_META_FILE) -> None:
        np.savez(path, weights=self.weights.astype(np.float32), bias=self.bias.astype(np.float32),
                 platt_a=self.platt_a.astype(np.float32), platt_b=self.platt_b.astype(np.float32))
        meta = {**self.meta, "categories": list(self.categories)}
        meta_path.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = HEAD_FILE, meta_path: Path = HEAD_META_FILE) -> SemanticHead:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        with np.load(path, allow_pickle=False) as arrays:
            head = cls(tuple(meta["categories"]), arrays["weights"], arrays["bias"], arrays["platt_a"],
                       arrays["platt_b"], meta)
        if head.weights.shape != (len(head.categories), head.weights.shape[1]):
            raise ValueError(f"head weights {head.weights.shape} do not match {len(head.categories)} categories")
        return head


@lru_cache(maxsize=4)
def load_head(path: str = str(HEAD_FILE), meta_path: str = str(HEAD_META_FILE)) -> SemanticHead:
    return SemanticHead.load(Path(path), Path(meta_path))
