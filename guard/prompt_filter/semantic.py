"""Semantic check: MiniLM embeddings + the trained head give calibrated per-category probabilities.

This catches what no wordlist can ("a man hanging from a ceiling fan, his last goodbye") and is robust
to the cheap obfuscations because it reads the normalized text with split words and misspellings repaired
(``NormalizedPrompt.corrected``, see spelling.py). Thresholds come from the policy
(``prompt.thresholds``; chosen on the validation split by train.py for a stated false-positive rate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from guard.policy import Threshold, decide_scores
from guard.prompt_filter.embedder import get_embedder, windows
from guard.prompt_filter.head import SemanticHead, load_head
from guard.prompt_filter.normalize import NormalizedPrompt
from guard.verdict import Verdict


class SemanticCheck:
    """Scores the eight content categories; decides with the policy's per-category thresholds."""

    name = "semantic"
    version = "1"

    def __init__(self, thresholds: Mapping[str, Threshold], head: SemanticHead | None = None,
                 quantize: bool = False) -> None:
        self.head = head or load_head()
        self.thresholds = {c: t for c, t in thresholds.items() if c in self.head.categories}
        self.embedder = get_embedder(quantize=quantize)

    def scores_batch(self, prompts: Sequence[NormalizedPrompt]) -> np.ndarray:
        """(N, C) calibrated probabilities, max over each prompt's windows."""
        pieces = [windows(p.corrected) for p in prompts]
        flat = [w for ws in pieces for w in ws]
        probs = self.head.predict_proba(self.embedder.embed(flat), flat)  # (sum W, C)
        out = np.zeros((len(prompts), len(self.head.categories)), dtype=np.float32)
        start = 0
        for i, ws in enumerate(pieces):
            out[i] = probs[start:start + len(ws)].max(axis=0)
            start += len(ws)
        return out

    def check(self, prompt: NormalizedPrompt) -> Verdict:
        return self.check_batch([prompt])[0]

    def check_batch(self, prompts: Sequence[NormalizedPrompt]) -> list[Verdict]:
        verdicts = []
        for row in self.scores_batch(prompts):
            scores = {c: float(s) for c, s in zip(self.head.categories, row, strict=True)}
            decision, reasons = decide_scores(scores, self.thresholds)
            verdicts.append(Verdict(f"prompt.{self.name}", decision, scores,
                                    [f"semantic: {r}" for r in reasons]))
        return verdicts
