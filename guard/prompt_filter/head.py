"""The semantic head over MiniLM embeddings, Platt-calibrated: linear (one-vs-rest logistic regression) or
with one shared ReLU hidden layer (a small MLP; train.py says which was trained).

Stored as plain arrays (``semantic_head.npz``) plus a JSON of metadata, so loading needs numpy only and
no pickled code runs. ``predict_proba`` returns calibrated probabilities, one column per category.
The hidden layer is optional in the file (``hidden_weights``/``hidden_bias``), so a linear head saved
before it existed still loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

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

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, 384) unit embeddings -> (N, C) raw logits (before calibration)."""
        features = embeddings
        if self.hidden_weights is not None:
            features = np.maximum(embeddings @ self.hidden_weights.T + self.hidden_bias, 0.0)  # (N, H)
        return features @ self.weights.T + self.bias  # (N, C)

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, 384) unit embeddings -> (N, C) calibrated probabilities."""
        return 1.0 / (1.0 + np.exp(-(self.platt_a * self.logits(embeddings) + self.platt_b)))  # (N, C)

    def predict_proba_windows(self, embeddings: list[np.ndarray]) -> np.ndarray:
        """Per prompt a (W, 384) array of window embeddings -> (N, C), max over each prompt's windows."""
        return np.stack([self.predict_proba(e).max(axis=0) for e in embeddings])

    def save(self, path: Path = HEAD_FILE, meta_path: Path = HEAD_META_FILE) -> None:
        arrays = {"weights": self.weights, "bias": self.bias, "platt_a": self.platt_a, "platt_b": self.platt_b}
        if self.hidden_weights is not None:
            arrays |= {"hidden_weights": self.hidden_weights, "hidden_bias": self.hidden_bias}
        np.savez(path, **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})
        meta = {**self.meta, "categories": list(self.categories)}
        meta_path.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = HEAD_FILE, meta_path: Path = HEAD_META_FILE) -> SemanticHead:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        with np.load(path, allow_pickle=False) as arrays:
            hidden = (arrays["hidden_weights"], arrays["hidden_bias"]) if "hidden_weights" in arrays else (None, None)
            head = cls(tuple(meta["categories"]), arrays["weights"], arrays["bias"], arrays["platt_a"],
                       arrays["platt_b"], meta, *hidden)
        if head.weights.shape != (len(head.categories), head.weights.shape[1]):
            raise ValueError(f"head weights {head.weights.shape} do not match {len(head.categories)} categories")
        width = head.hidden_weights.shape[0] if head.hidden_weights is not None else None
        if width is not None and head.weights.shape[1] != width:
            raise ValueError(f"head weights {head.weights.shape} do not match the hidden width {width}")
        return head


@lru_cache(maxsize=4)
def load_head(path: str = str(HEAD_FILE), meta_path: str = str(HEAD_META_FILE)) -> SemanticHead:
    return SemanticHead.load(Path(path), Path(meta_path))
