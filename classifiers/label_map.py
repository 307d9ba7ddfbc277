"""Mapping a model's own labels to videoguard categories (shared by the pluggable classifiers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def check_label_map(label_map: Mapping[str, str] | None, labels: Sequence[str], model: str) -> dict[str, str]:
    """``{model_label: category}``; ``None`` means every label is its own category.

    A label the model does not have is a configuration error (it would silently never fire), so it
    raises naming the label and what the model offers.
    """
    if label_map is None:
        return {label: label for label in labels}
    if not isinstance(label_map, Mapping) or not label_map:
        raise ValueError(f"label_map for {model} must be a non-empty mapping of model label -> category")
    unknown = sorted(set(label_map) - set(labels))
    if unknown:
        raise ValueError(f"label_map for {model} names labels the model does not have: {unknown}; "
                         f"it has {list(labels)}")
    return {str(k): str(v) for k, v in label_map.items()}


def category_scores(probs: np.ndarray, labels: Sequence[str], label_map: Mapping[str, str]) -> list[dict[str, float]]:
    """(N, C) label probabilities -> per frame ``{category: max probability of its labels}``."""
    categories = sorted(set(label_map.values()))
    out = []
    for row in probs:
        scores = dict.fromkeys(categories, 0.0)
        for index, label in enumerate(labels):
            category = label_map.get(label)
            if category is not None:
                scores[category] = max(scores[category], float(row[index]))
        out.append(scores)
    return out
