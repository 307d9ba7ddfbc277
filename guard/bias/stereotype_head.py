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
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from guard.ngrams import NgramPart, ngram_arrays, ngram_part_from

HEAD_NAME = "stereotype_head"


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
            arrays.update(ngram_arrays(self.ngrams))
        np.savez_compressed(path, **arrays)
        meta = {**self.meta, "threshold": round(float(self.threshold), 6)}
        meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path, meta_path: Path) -> StereotypeHead:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        ngrams = None
        with np.load(path, allow_pickle=False) as arrays:
            weights, bias = arrays["weights"], float(arrays["bias"])
            ngrams = ngram_part_from(arrays)
        if weights.ndim != 1:
            raise ValueError(f"stereotype head weights must be a vector, got shape {weights.shape}")
        return cls(weights, bias, float(meta["threshold"]), meta, ngrams)


@lru_cache(maxsize=2)
def load_stereotype_head(path: str = "", meta_path: str = "") -> StereotypeHead:
    """The bundled head (or the one at ``path``/``meta_path``), loaded once per process."""
    default_npz, default_json = default_paths()
    return StereotypeHead.load(Path(path) if path else default_npz, Path(meta_path) if meta_path else default_json)
