"""The fine-tuning experiment's scoring helpers and the classifier loader's fail-closed check (no model ships)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from guard.bias.finetune_stereotype import only_groups, recall_at_k
from guard.bias.stereotype_model import StereotypeModel
from guard.bias.train_stereotype import DevData
from guard.errors import ConfigError


def _dev(rule: list[bool], group: list[bool], harm: list[bool], benign: list[bool]) -> DevData:
    n = len(rule)
    masks = {"recall:toxigen_hate_harm_theme": np.array(harm), "fp:all_benign_group_mentions": np.array(benign),
             "fp:toxigen_neutral": np.array(benign)}
    return DevData([], np.zeros((n, 384)), [], np.zeros((0, 384)), {}, np.array(rule), np.array(group),
                   np.array(["x"] * n), masks)


def test_when_the_score_may_flag_k_benign_rows_then_recall_counts_rule_or_score_above_the_kth() -> None:
    # rows: 3 harm (one caught by the rule), 3 benign left by the rule, 1 benign the rule flags
    d = _dev(rule=[True, False, False, False, False, False, True], group=[True] * 7,
             harm=[True, True, True, False, False, False, False],
             benign=[False, False, False, True, True, True, True])
    scores = np.array([0.0, 5.0, 2.0, 4.0, 1.0, 0.5, 9.0])
    # k=0: above the top benign score the rule leaves (4.0) -> rows 0 (rule), 1; k=1: above 1.0 -> also row 2
    assert recall_at_k(scores, d, ks=(0, 1)) == pytest.approx([2 / 3, 1.0])


def test_when_no_group_is_mentioned_then_the_row_scores_below_every_scored_row() -> None:
    d = _dev(rule=[False] * 3, group=[True, False, True], harm=[True, True, False], benign=[False, False, True])
    out = only_groups(np.array([1.0, 50.0, -2.0]), d)
    assert out[1] < out[[0, 2]].min() and out[0] == 1.0


def test_when_the_model_file_is_missing_or_not_the_recorded_one_then_loading_raises_config_error(
        tmp_path: Path) -> None:
    meta = tmp_path / "model.json"
    meta.write_text(json.dumps({"sha256": "0" * 64, "threshold": 1.0, "probes": {}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="unusable"):
        StereotypeModel.load(tmp_path / "absent.onnx", meta)
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not an onnx graph")
    with pytest.raises(ConfigError, match="sha256"):
        StereotypeModel.load(fake, meta)
