"""A local zero-shot CLIP or SigLIP checkpoint, scoring each category by its text prompts.

Configured in the policy with ``path``, ``prompts`` (category -> list of texts) and ``background``
prompts that describe ordinary content. The text side is embedded once at load time.
CLIP: softmax over all prompts (background included); a category's score is the summed probability
of its prompts, so "nothing unsafe" has somewhere to go. SigLIP (trained with a sigmoid loss): an
independent sigmoid per prompt; a category's score is the maximum over its prompts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

from classifiers.base import FrameScores, check_frames

DEFAULT_BACKGROUND = ("a photo", "an ordinary everyday scene", "a landscape", "a person fully clothed")


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[Any, Any, Any]:
    if not Path(path, "config.json").is_file():
        raise ValueError(f"not a transformers checkpoint directory (no config.json): {path}")
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    if not hasattr(model, "get_image_features") or not hasattr(model, "get_text_features"):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a CLIP/SigLIP image-text model")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    image_processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    return model, tokenizer, image_processor


def _features(output: Any) -> torch.Tensor:
    """transformers 5 returns a model output from ``get_*_features``; older versions a tensor."""
    tensor = output if isinstance(output, torch.Tensor) else output.pooler_output
    return torch.nn.functional.normalize(tensor.float(), dim=-1)


class ZeroShotClassifier:
    """Image-text similarity against per-category prompts."""

    version: str

    def __init__(self, name: str, path: str, prompts: Mapping[str, Sequence[str]],
                 background: Sequence[str] = DEFAULT_BACKGROUND) -> None:
        if not prompts or not all(isinstance(v, (list, tuple)) and v for v in prompts.values()):
            raise ValueError(f"prompts for {name} must map each category to a non-empty list of texts")
        self.name = name
        self._model, tokenizer, self._image_processor = _load(str(path))
        self._sigmoid = "siglip" in self._model.config.model_type
        self._owners: list[str | None] = []  # prompt index -> category (None: background)
        texts: list[str] = []
        for category, items in prompts.items():
            texts += [str(t) for t in items]
            self._owners += [str(category)] * len(items)
        texts += [str(t) for t in background]
        self._owners += [None] * len(background)
        padding = "max_length" if self._sigmoid else True  # SigLIP was trained on max-length padding
        tokens = tokenizer(texts, padding=padding, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            self._text = _features(self._model.get_text_features(**tokens))  # (P, D)
        self.categories = tuple(dict.fromkeys(str(c) for c in prompts))
        self.version = f"zero-shot-{self._model.config.model_type}:{Path(path).name}"

    def classify(self, frames: np.ndarray) -> list[FrameScores]:
        frames = check_frames(frames)  # (N, H, W, 3) uint8
        if len(frames) == 0:
            return []
        pixels = self._image_processor(images=list(frames), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            image = _features(self._model.get_image_features(pixel_values=pixels))  # (N, D)
            logits = self._model.logit_scale.exp() * image @ self._text.T  # (N, P)
            if self._sigmoid:
                probs = torch.sigmoid(logits + getattr(self._model, "logit_bias", 0.0))
            else:
                probs = torch.softmax(logits, dim=-1)
        results = []
        for row in probs.numpy():
            scores = dict.fromkeys(self.categories, 0.0)
            for index, owner in enumerate(self._owners):
                if owner is not None:
                    value = float(row[index])
                    scores[owner] = max(scores[owner], value) if self._sigmoid else scores[owner] + value
            results.append(FrameScores({k: min(1.0, v) for k, v in scores.items()}))
        return results
