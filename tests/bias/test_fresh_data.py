"""The fresh stereotype data (Do-Not-Answer prompts, project benign questions): labels, split, training use."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from guard.bias.fresh_data import DNA_LABELS, LABELS, load_benign_questions, load_donotanswer, split_of
from guard.bias.train_stereotype import FRESH_LABELS, load_examples
from guard.bias.train_stereotype import split_of as trainer_split_of

SHARED = Path(os.environ.get("VIDEOGUARD_SHARED_PROMPTS", Path(__file__).resolve().parents[3] / "shared" / "data"
                             / "prompts"))


def test_when_fresh_prompts_are_loaded_then_every_row_is_labelled_and_both_splits_hold_stereotype_rows() -> None:
    rows = load_donotanswer()
    assert len(rows) == 179  # 176 rows of the discrimination file + 3 S007 rows of misinformation_harms
    assert {r.label for r in rows} <= set(LABELS)
    for split in ("dev", "test"):
        assert sum(r.label == "stereotype" and r.split == split for r in rows) >= 30
    questions = load_benign_questions()
    assert len(questions) == 40 and {q.split for q in questions} == {"dev", "test"}


def test_when_split_is_computed_then_fresh_data_and_trainer_agree() -> None:
    assert trainer_split_of is split_of  # one split function, not two kept in step
    for row in load_donotanswer() + load_benign_questions():
        assert split_of(row.text) == trainer_split_of(row.text)


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "donotanswer_labels.tsv"
    shutil.copyfile(DNA_LABELS, target)
    return target


def test_when_a_prompt_has_no_label_then_loading_fails(tmp_path: Path) -> None:
    labels = _copy(tmp_path)
    lines = labels.read_text(encoding="utf-8").splitlines()
    first_row = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    labels.write_text("\n".join(lines[:first_row] + lines[first_row + 1:]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no label"):
        load_donotanswer(labels_file=labels)


def test_when_a_label_is_unknown_then_loading_fails(tmp_path: Path) -> None:
    labels = _copy(tmp_path)
    labels.write_text(labels.read_text(encoding="utf-8").replace("\tstereotype\t", "\tmaybe\t", 1), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown label"):
        load_donotanswer(labels_file=labels)


@pytest.mark.skipif(not (SHARED / "unsafe" / "toxigen_statements.jsonl").exists(), reason="shared prompt data absent")
def test_when_trainer_reads_fresh_rows_then_held_out_and_untrained_labels_never_reach_training() -> None:
    examples = load_examples(SHARED, fresh=True)
    trained = {e.text for e in examples if trainer_split_of(e.text) == "dev"}  # what prepare_dev keeps
    fresh = load_donotanswer() + load_benign_questions()
    held_out = {r.text for r in fresh if r.split == "test"}
    assert held_out and not held_out & trained
    untrained = {r.text for r in fresh if r.source == "donotanswer" and r.label not in FRESH_LABELS}
    assert untrained and not untrained & {e.text for e in examples}
    by_source = {e.text: (e.source, e.label) for e in examples}
    for r in fresh:
        if r.split == "dev" and r.label in FRESH_LABELS:
            assert by_source[r.text] == (f"dna:{r.label}", FRESH_LABELS[r.label])
    assert not {e.text for e in load_examples(SHARED)} & {r.text for r in fresh}  # off by default
