"""Any local transformers image-classification checkpoint (a directory saved with ``save_pretrained``).

Configured in the policy with a ``path`` and a ``label_map`` from the checkpoint's ``id2label`` names
to our categories (labels left out, like ``safe`` or ``neutral``, are not scored). Softmax over the
labels, or a sigmoid per label when the config says ``multi_label_classification``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification

from classifiers.base import FrameScores, check_frames
from classifiers.label_map import category_scores, check_label_map


@lru_cache(maxsize=8)
def _load(path: str) -> tuple[Any, Any]:
    if not Path(path, "config.json").is_file():
        raise ValueError(f"not a transformers checkpoint directory (no config.json): {path}")
    processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    model = AutoModelForImageClassification.from_pretrained(path, local_files_only=True).eval()
    return processor, model


class HFImageClassifier:
    """A local transformers image classifier, its labels mapped to our categories."""

    version: str

    def __init__(self, name: str, path: str, label_map: Mapping[str, str] | None = None) -> None:
        self.name = name
        self._processor, self._model = _load(str(path))
        config = self._model.config
        self._labels = [config.id2label[i] for i in range(config.num_labels)]
        self._label_map = check_label_map(label_map, self._labels, name)
        self._multi_label = config.problem_type == "multi_label_classification"
        self.categories = tuple(sorted(set(self._label_map.values())))
        self.version = f"transformers-{config.model_type}:{Path(path).name}"

    def classify(self, frames: np.ndarray) -> list[FrameScores]:
        frames = check_frames(frames)  # (N, H, W, 3) uint8
        if len(frames) == 0:
            return []
        inputs = self._processor(images=list(frames), return_tensors="pt")
        with torch.inference_mode():
            logits = self._model(**inputs).logits.float()  # (N, C)
        probs = torch.sigmoid(logits) if self._multi_label else torch.softmax(logits, dim=-1)
        rows = category_scores(probs.numpy(), self._labels, self._label_map)
        return [FrameScores(row) for row in rows]
