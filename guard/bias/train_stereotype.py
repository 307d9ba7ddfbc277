"""Train the stereotype head (``guard/data/bias/stereotype_head.{npz,json}``) on the DEV split only.

    OMP_NUM_THREADS=1 python -m guard.bias.train_stereotype --data ../shared/data/prompts

Split: ``split_of`` (sha1 of the lower-cased, stripped text; even = dev, odd = test), the split of
``benchmarks/bias_eval.py``. Only dev rows are trained on or used for any choice; test texts are read for
one thing, decontamination: a dev row whose letters-and-digits key equals a test row's, or whose embedding
has cosine >= 0.9 to one ("theyre" / "they're" copies of the same ToxiGen seed), is dropped, so the held-out
score is not inflated by near-copies.

Training rows: ToxiGen ``hate`` (1) / ``neutral`` (0) statements, the project-written labelled prompts
(``eval/project_written.tsv``), VBench 1.0 and 2.0 prompts (0), and the project-written template sentences
(``train/stereotype_templates.yaml``, lower weight). ``--fresh`` adds the dev rows of ``fresh_data``
(Do-Not-Answer stereotype / no-group prompts, project benign questions); off by default: on dev CV it did not
raise recall at the shipped threshold (issue 7, eleventh session, benchmarks/RESULTS.md).

Model: the embedding logistic regression's logit plus ``NGRAM_WEIGHT`` x a TF-IDF word 1-2-gram logistic
regression's logit (``stereotype_head.NgramPart``). The n-gram settings (min_df 2, C 4, weight 0.5) were
chosen on dev grouped cross-validation over three fold seeds (issue 7, second round; dev harm-theme recall at
the same budget and step threshold 0.857 -> 0.886 averaged over the seeds; the settings tried are listed in
benchmarks/RESULTS.md).
Choices made here on dev, by grouped 5-fold cross-validation (groups = near-duplicate clusters): the
embedding model's C, then the threshold from the out-of-fold logits: a smoothed (Harrell-Davis) quantile of the
benign scores the rule leaves, at the level that keeps "rule fires OR head >= threshold" within the
false-positive budget on dev ToxiGen neutral statements and on all dev benign group mentions (the stricter of
the two). The step rule (lowest logit within budget, ``choose_threshold``) is recorded beside it: with 140
neutral statements it sits just above one particular statement's score. Deterministic: same data, same weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from guard.bias.fresh_data import split_of, text_key
from guard.bias.stereotype import StereotypeRecognizer, _group_mentions
from guard.bias.stereotype_head import StereotypeHead, default_paths
from guard.ngrams import ngram_part_from_sklearn

BIAS_DATA = Path(str(resources.files("guard"))) / "data" / "bias"
TEMPLATES = BIAS_DATA / "train" / "stereotype_templates.yaml"
DEV_THEMES = BIAS_DATA / "eval" / "toxigen_dev_harm_theme_labels.tsv"
NEAR_DUPLICATE_COSINE = 0.9
C_GRID = (1.0, 4.0, 16.0)
NGRAM_RANGE = (1, 2)
NGRAM_MIN_DF = 2
NGRAM_C = 4.0
NGRAM_WEIGHT = 0.5  # the n-gram logit's weight in the sum (the embedding logit has weight 1)
FRESH_LABELS = {"stereotype": 1, "no_group": 0}  # fresh_data labels trained on with --fresh, and their class


def dedup_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


@dataclass(frozen=True)
class Example:
    text: str
    label: int
    source: str  # toxigen:hate, toxigen:neutral, project, vbench, vbench2, template
    weight: float = 1.0


def load_examples(data: Path, fresh: bool = False) -> list[Example]:
    """Every labelled row of both splits (templates have no split: they are never evaluated). ``fresh`` adds the
    Do-Not-Answer prompts labelled ``stereotype`` (1) or ``no_group`` (0) and the project-written benign
    questions (0) (``fresh_data``); ``nonprotected`` and ``group_other_harm`` rows are not trained on (the
    issue's category is about protected groups, and those rows are harmful, so neither label fits them)."""
    out: list[Example] = []
    seen: set[str] = set()
    for line in (data / "unsafe" / "toxigen_statements.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        key = row["text"].lower().strip()
        if key not in seen:
            seen.add(key)
            out.append(Example(row["text"], int(row["label"] == "hate"), f"toxigen:{row['label']}"))
    for line in (BIAS_DATA / "eval" / "project_written.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            text, _people, _attrs, stereo = line.split("\t")
            out.append(Example(text, int(stereo == "1"), "project"))
    seen = set()
    for name, source in (("vbench_prompts.jsonl", "vbench"), ("vbench2_prompts.jsonl", "vbench2")):
        for line in (data / "benign" / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["text"] not in seen:
                seen.add(row["text"])
                out.append(Example(row["text"], 0, source))
    if fresh:
        from guard.bias.fresh_data import load_benign_questions, load_donotanswer

        for p in load_donotanswer():
            if p.label in FRESH_LABELS:
                out.append(Example(p.text, FRESH_LABELS[p.label], f"dna:{p.label}"))
        out.extend(Example(p.text, 0, "benign_questions") for p in load_benign_questions())
    return out


def fresh_test_texts() -> list[str]:
    """Every held-out fresh text (all labels), for near-copy removal of dev rows."""
    from guard.bias.fresh_data import load_benign_questions, load_donotanswer

    return [p.text for p in load_donotanswer() + load_benign_questions() if p.split == "test"]


def template_examples(path: Path = TEMPLATES) -> list[Example]:
    """Every frame x predicate of both classes; the group of each sentence is picked by a hash."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for label, cls in ((1, "stereotype"), (0, "benign")):
        for frame in spec["frames"]:
            for predicate in spec[cls]:
                digest = int(hashlib.sha1(f"{frame}|{predicate}".encode()).hexdigest(), 16)
                group = spec["groups"][digest % len(spec["groups"])]
                out.append(Example(frame.format(group=group, predicate=predicate), label, "template",
                                   float(spec[f"{cls}_weight"])))
    return out


def load_dev_themes(path: Path = DEV_THEMES) -> dict[str, bool]:
    """sha1 of the normalized text -> harm_theme, for the dev ToxiGen hate statements."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            digest, label, _ = line.split("\t", 2)
            out[digest] = label == "1"
    return out


def _clusters(embeddings: np.ndarray) -> np.ndarray:
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(embeddings @ embeddings.T >= NEAR_DUPLICATE_COSINE, directed=False)
    return labels


def _fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float):  # noqa: ANN202 - sklearn estimator
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x, y, sample_weight=w)


def choose_threshold(logits: np.ndarray, rule: np.ndarray, benign_sets: list[np.ndarray], budget: float) -> float:
    """The lowest logit threshold at which rule-OR-head flags at most ``budget`` of every benign set."""
    for t in np.unique(logits):  # ascending
        flagged = rule | (logits >= t)
        if all(flagged[m].mean() <= budget for m in benign_sets if m.any()):
            return float(t)
    return float("inf")


def choose_threshold_smoothed(logits: np.ndarray, rule: np.ndarray, benign_sets: list[np.ndarray],
                              budget: float) -> float:
    """The Harrell-Davis estimate of the head-score quantile that keeps rule-OR-head within ``budget`` on every
    benign set: per set, the rule's own false positives are subtracted from the budget and the rest is spent
    on the benign rows the rule left; the strictest set wins. Smoother than ``choose_threshold`` (a weighted
    average of the top order statistics rather than the gap above one of them)."""
    from scipy.stats.mstats import hdquantiles

    threshold = -float("inf")
    for m in benign_sets:
        if not m.any():
            continue
        left = m & ~rule
        spare = budget * m.sum() - (m & rule).sum()  # benign rows the head may still flag
        if spare <= 0 or left.sum() < 2:
            return float("inf")
        q = 1.0 - spare / left.sum()
        threshold = max(threshold, float(hdquantiles(logits[left], prob=[q])[0]))
    return threshold


def _fit_ngrams(texts: list[str], y: np.ndarray, w: np.ndarray):  # noqa: ANN202 - sklearn objects
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(ngram_range=NGRAM_RANGE, sublinear_tf=True, min_df=NGRAM_MIN_DF).fit(texts)
    return vec, _fit(vec.transform(texts), y, w, NGRAM_C)


def operating_point(logits: np.ndarray, rule: np.ndarray, threshold: float, masks: dict[str, np.ndarray]
                    ) -> dict[str, float]:
    flagged = rule | (logits >= threshold)
    return {name: round(float(flagged[m].mean()), 4) for name, m in masks.items() if m.any()}


@dataclass
class DevData:
    """The dev split as the trainer and ``finetune_stereotype`` use it: rows after near-copy removal, their
    int8 MiniLM embeddings, the templates, the rule's verdicts and the evaluation masks."""

    dev: list[Example]
    x_dev: np.ndarray  # (N, 384)
    templates: list[Example]
    x_tmpl: np.ndarray  # (T, 384)
    dropped: dict[str, int]
    rule: np.ndarray  # (N,) bool: the lexicon rule fires
    group: np.ndarray  # (N,) bool: a protected group is mentioned
    source: np.ndarray  # (N,) str
    masks: dict[str, np.ndarray]

    @property
    def y(self) -> np.ndarray:
        return np.array([r.label for r in self.dev])

    @property
    def w(self) -> np.ndarray:
        return np.array([r.weight for r in self.dev])

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.dev]

    def folds(self, seed: int = 0, folds: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
        """Grouped, stratified folds (groups = near-duplicate clusters), as in every dev choice."""
        from sklearn.model_selection import StratifiedGroupKFold

        splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        return list(splitter.split(self.x_dev, self.y, _clusters(self.x_dev)))


def prepare_dev(data: Path, fresh: bool = False) -> DevData:
    """Load every row, keep the dev split minus near-copies of test rows, and compute the rule and the masks.
    ``fresh``: with the fresh dev rows (``load_examples``), near-copies of any held-out fresh text dropped too."""
    from guard.prompt_filter.embedder import get_embedder

    rows = load_examples(data, fresh)
    dev = [r for r in rows if split_of(r.text) == "dev"]
    test_texts = [r.text for r in rows if split_of(r.text) == "test"]
    if fresh:
        test_texts = list(dict.fromkeys(test_texts + fresh_test_texts()))
    templates = template_examples()
    embedder = get_embedder()
    x_dev, x_tmpl = (embedder.embed([r.text for r in part]) for part in (dev, templates))
    x_test = embedder.embed(test_texts)
    # x_*: (N, 384) unit vectors
    test_keys = {dedup_key(t) for t in test_texts}
    near = np.zeros(len(dev), dtype=bool)
    for start in range(0, len(dev), 512):
        near[start:start + 512] = (x_dev[start:start + 512] @ x_test.T).max(axis=1) >= NEAR_DUPLICATE_COSINE
    keep = np.array([dedup_key(r.text) not in test_keys for r in dev]) & ~near
    dropped = {s: int(sum(1 for r, k in zip(dev, keep, strict=True) if r.source == s and not k))
               for s in sorted({r.source for r in dev})}
    keep_t = (x_tmpl @ x_test.T).max(axis=1) < NEAR_DUPLICATE_COSINE
    dev = [r for r, k in zip(dev, keep, strict=True) if k]
    x_dev = x_dev[keep]
    templates = [r for r, k in zip(templates, keep_t, strict=True) if k]
    x_tmpl = x_tmpl[keep_t]
    y = np.array([r.label for r in dev])
    rule = np.array([StereotypeRecognizer().recognize(r.text).found for r in dev])
    themes = load_dev_themes()
    source = np.array([r.source for r in dev])
    theme = np.array([themes.get(text_key(r.text), False) for r in dev])
    group = np.array([bool(_group_mentions(r.text)) for r in dev])
    neutral = source == "toxigen:neutral"
    benign_group = (y == 0) & (neutral | (group & np.isin(source, ("project", "vbench"))) |
                               (source == "benign_questions"))
    masks = {
        "recall:toxigen_hate_harm_theme": (source == "toxigen:hate") & theme,
        "recall:toxigen_hate_all": source == "toxigen:hate",
        "recall:project_stereotype": (source == "project") & (y == 1),
        "fp:toxigen_neutral": neutral,
        "fp:all_benign_group_mentions": benign_group,
        "fp:vbench_all": np.isin(source, ("vbench", "vbench2")),
    }
    if fresh:
        masks |= {"recall:dna_stereotype": source == "dna:stereotype",
                  "fp:benign_questions": source == "benign_questions", "fp:dna_no_group": source == "dna:no_group"}
    return DevData(dev, x_dev, templates, x_tmpl, dropped, rule, group, source, masks)


def ngram_out_of_fold(d: DevData, folds_of: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(N,) out-of-fold logits of the n-gram part alone (templates in every training fold)."""
    y, w, texts = d.y, d.w, d.texts
    y_t, w_t = np.array([r.label for r in d.templates]), np.array([r.weight for r in d.templates])
    t_texts = [r.text for r in d.templates]
    out = np.zeros(len(d.dev))
    for train_idx, held_idx in folds_of:
        vec, bow = _fit_ngrams([texts[i] for i in train_idx] + t_texts, np.concatenate([y[train_idx], y_t]),
                               np.concatenate([w[train_idx], w_t]))
        out[held_idx] = bow.decision_function(vec.transform([texts[i] for i in held_idx]))
    return out


def head_out_of_fold(d: DevData, folds_of: list[tuple[np.ndarray, np.ndarray]], c: float,
                     ngram_oof: np.ndarray) -> np.ndarray:
    """(N,) out-of-fold logits of the shipped head (embedding LR at ``c`` + ``NGRAM_WEIGHT`` x n-gram logit)."""
    y, w = d.y, d.w
    y_t, w_t = np.array([r.label for r in d.templates]), np.array([r.weight for r in d.templates])
    oof = np.zeros(len(d.dev))
    for train_idx, held_idx in folds_of:
        model = _fit(np.vstack([d.x_dev[train_idx], d.x_tmpl]), np.concatenate([y[train_idx], y_t]),
                     np.concatenate([w[train_idx], w_t]), c)
        oof[held_idx] = model.decision_function(d.x_dev[held_idx])
    return oof + NGRAM_WEIGHT * ngram_oof


def train(data: Path, budget: float, out: tuple[Path, Path], folds: int = 5, fresh: bool = False
          ) -> dict[str, object]:
    from guard.prompt_filter.embedder import get_embedder

    embedder = get_embedder()
    d = prepare_dev(data, fresh)
    dev, x_dev, templates, x_tmpl, dropped, rule, source = (d.dev, d.x_dev, d.templates, d.x_tmpl, d.dropped,
                                                            d.rule, d.source)
    y, w, texts, masks = d.y, d.w, d.texts, d.masks
    neutral, benign_group = masks["fp:toxigen_neutral"], masks["fp:all_benign_group_mentions"]
    y_t = np.array([r.label for r in templates])
    w_t = np.array([r.weight for r in templates])
    t_texts = [r.text for r in templates]
    cv: dict[str, dict[str, object]] = {}
    folds_of = d.folds(0, folds)
    ngram_oof = ngram_out_of_fold(d, folds_of)
    best: tuple[float, float, float] | None = None  # (dev harm-theme recall, C, threshold)
    for c in C_GRID:
        oof = head_out_of_fold(d, folds_of, c, ngram_oof)
        threshold = choose_threshold_smoothed(oof, rule, [neutral, benign_group], budget)
        step = choose_threshold(oof, rule, [neutral, benign_group], budget)
        point = operating_point(oof, rule, threshold, masks)
        cv[f"C={c:g}"] = {"threshold": round(threshold, 4), **point, "step_threshold": round(step, 4),
                          "step_point": operating_point(oof, rule, step, masks)}
        score = point["recall:toxigen_hate_harm_theme"]
        if best is None or score > best[0]:
            best = (score, c, threshold)
    assert best is not None
    _, c, threshold = best
    model = _fit(np.vstack([x_dev, x_tmpl]), np.concatenate([y, y_t]), np.concatenate([w, w_t]), c)
    vec, bow = _fit_ngrams(texts + t_texts, np.concatenate([y, y_t]), np.concatenate([w, w_t]))
    ngrams = ngram_part_from_sklearn(vec, bow.coef_[0], NGRAM_WEIGHT, texts[:200] + t_texts[:50])
    meta = {
        "model": f"{embedder.name} mean-pooled {embedder.precision} embedding (guard.prompt_filter.embedder), "
                 "max over windows",
        "head": ("logistic regression (sklearn lbfgs, class_weight=balanced) on the embedding, plus "
                 f"{NGRAM_WEIGHT} x logistic regression on TF-IDF word {NGRAM_RANGE} -grams (sublinear tf, "
                 f"min_df {NGRAM_MIN_DF}, C {NGRAM_C:g}, {len(ngrams.terms)} terms); OR-ed with the lexicon rule"),
        "threshold_rule": "Harrell-Davis quantile of dev out-of-fold benign scores left by the rule (smoothed)",
        "trained_on": "dev split only (sha1 even); test split texts used only to drop near-copies"
                      + ("; with the fresh Do-Not-Answer / benign-question dev rows (--fresh)" if fresh else ""),
        "rows": {s: int((source == s).sum()) for s in sorted(set(source.tolist()))} | {"template": len(templates)},
        "dropped_as_near_copies_of_test": dropped,
        "fp_budget": budget,
        "chosen_C": c,
        "cv_dev_out_of_fold": cv,
        "rule_only_dev": operating_point(np.zeros(len(dev)), rule, float("inf"), masks),
    }
    head = StereotypeHead(model.coef_[0].astype(np.float32),
                          float(model.intercept_[0] + NGRAM_WEIGHT * bow.intercept_[0]), threshold, meta, ngrams)
    head.save(*out)
    return {**meta, "threshold": threshold}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/prompts"))
    parser.add_argument("--fp-budget", type=float, default=0.015,
                        help="max share of dev benign group mentions flagged (target 0.02, kept below it)")
    parser.add_argument("--out", type=Path, nargs=2, default=default_paths(), metavar=("NPZ", "JSON"))
    parser.add_argument("--fresh", action="store_true",
                        help="also train on the fresh dev rows (guard.bias.fresh_data: Do-Not-Answer, "
                             "benign questions)")
    args = parser.parse_args()
    print(json.dumps(train(args.data, args.fp_budget, tuple(args.out), fresh=args.fresh), indent=2))


if __name__ == "__main__":
    main()
