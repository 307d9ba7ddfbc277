"""Head training pieces: the threshold rule, cross-fitting folds and the MLP head's storage (no MiniLM, no data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from guard.prompt_filter.dataset import CATEGORIES, HEAD_CATEGORIES, Row
from guard.prompt_filter.head import SemanticHead
from guard.prompt_filter.train import (
    MLP_HIDDEN,
    SEED,
    _fit_mlp,
    _fit_mlp_seeded,
    choose_thresholds,
    fit_head,
    fold_of,
    smoothed_threshold,
)


def test_when_one_benign_outlier_then_smoothed_threshold_is_not_set_by_it_alone() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.0, 0.2, size=3000)
    with_outlier = np.append(scores, 0.95)
    # 0.1% of 3001 scores may be blocked: the outlier is one of the three allowed, so the threshold stays low
    assert smoothed_threshold(with_outlier, 0.001) < 0.25
    assert (with_outlier >= smoothed_threshold(with_outlier, 0.001)).mean() <= 0.001


def test_when_level_chosen_then_union_of_block_thresholds_meets_the_stated_fpr() -> None:
    rng = np.random.default_rng(1)
    n, c = 4000, len(HEAD_CATEGORIES)
    prob = rng.beta(1, 20, size=(n, c))
    pool = np.ones(n, dtype=bool)
    ap = dict.fromkeys(HEAD_CATEGORIES, 0.9)
    thresholds, level = choose_thresholds(prob, pool, pool, ap, target_fpr=0.01)
    blocks = np.array([thresholds[k]["block"] for k in HEAD_CATEGORIES])
    union = (prob >= blocks).any(axis=1).mean()
    assert 0.005 <= union <= 0.01  # close to the stated rate from below, not far under it
    assert 0 < level < 0.01
    assert all(thresholds[k]["flag"] <= thresholds[k]["block"] for k in HEAD_CATEGORIES)


def test_when_head_unreliable_then_it_only_flags() -> None:
    prob = np.random.default_rng(2).uniform(size=(500, len(HEAD_CATEGORIES)))
    ap = {k: (0.2 if k == "harassment" else 0.9) for k in HEAD_CATEGORIES}
    thresholds, _ = choose_thresholds(prob, np.ones(500, dtype=bool), np.ones(500, dtype=bool), ap, 0.02)
    assert thresholds["harassment"]["block"] is None
    assert thresholds["sexual"]["block"] is not None


def test_when_ringabell_twins_then_same_fold() -> None:
    unsafe = Row("The man's hand has been cut, and he is bleeding.", ("violence",), "ringabell_violence", group="0")
    safe = Row("The man's hand has been cut, and he is fine.", (), "ringabell_noviolence", group="0")
    assert fold_of(unsafe) == fold_of(safe)
    folds = {fold_of(Row(f"a cat number {i}", (), "vbench")) for i in range(50)}
    assert folds == set(range(5))


def test_when_mlp_head_saved_and_loaded_then_same_probabilities(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.zeros((300, len(HEAD_CATEGORIES)), dtype=np.float32)
    y[:, 0] = x[:, 0] > 0  # a learnable direction for one category
    head = fit_head(x, y, np.ones(300, dtype=np.float32), "mlp")
    assert head.hidden_weights is not None
    head.save(tmp_path / "h.npz", tmp_path / "h.json")
    loaded = SemanticHead.load(tmp_path / "h.npz", tmp_path / "h.json")
    assert np.allclose(loaded.predict_proba(x), head.predict_proba(x), atol=1e-6)
    logits = loaded.logits(x)[:, 0]
    assert logits[y[:, 0] == 1].mean() > logits[y[:, 0] == 0].mean() + 1.0


def test_when_people_budget_stated_then_union_blocks_at_most_that_share_of_people_rows() -> None:
    rng = np.random.default_rng(4)
    n, c = 4000, len(HEAD_CATEGORIES)
    prob = rng.beta(1, 20, size=(n, c))
    pool = np.ones(n, dtype=bool)
    people = np.zeros(n, dtype=bool)
    people[:400] = True
    prob[:400] *= 1.6  # people rows score higher, as the people-centred VBench prompts do
    ap = dict.fromkeys(HEAD_CATEGORIES, 0.9)
    free, _ = choose_thresholds(prob, pool, pool, ap, target_fpr=0.01)
    capped, _ = choose_thresholds(prob, pool, pool, ap, target_fpr=0.01, people=people, people_fpr=0.005)
    for thresholds, limit in ((free, 1.0), (capped, 0.005)):
        blocks = np.array([thresholds[k]["block"] for k in HEAD_CATEGORIES])
        hit = (prob >= blocks).any(axis=1)
        assert hit.mean() <= 0.01
        assert hit[people].mean() <= limit
    assert (prob[people] >= np.array([free[k]["block"] for k in HEAD_CATEGORIES])).any(axis=1).mean() > 0.005


def test_when_ngram_part_added_then_saved_head_gives_same_scores_and_reads_the_words(tmp_path: Path) -> None:
    from guard.prompt_filter.train import fit_full_head

    rng = np.random.default_rng(5)
    texts = [f"{rng.choice(['a red', 'a blue', 'the green'])} {w} {rng.choice(['bag', 'car', 'tree'])} {i}"
             for i, w in enumerate(rng.choice(["knife", "apple", "chair", "lamp"], size=240))]
    rows = [Row(t, CATEGORIES if "knife" in t else (), "vbench") for t in texts]  # every column has both classes
    x = rng.normal(size=(240, 384)).astype(np.float32)  # embeddings carry no signal: only the words do
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    head = fit_full_head(rows, [v[None] for v in x], texts, "linear", 1.0)
    assert head.ngrams is not None and head.ngrams.weights.shape[1] == len(HEAD_CATEGORIES)
    head.save(tmp_path / "h.npz", tmp_path / "h.json")
    loaded = SemanticHead.load(tmp_path / "h.npz", tmp_path / "h.json")
    assert np.allclose(loaded.predict_proba(x, texts), head.predict_proba(x, texts), atol=1e-6)
    logits = loaded.logits(x, texts)[:, HEAD_CATEGORIES.index("violence")]
    knife = np.array(["knife" in t for t in texts])
    assert logits[knife].mean() > logits[~knife].mean() + 1.0


def test_when_mlp_ensemble_then_one_head_whose_logits_average_its_seeded_members() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.zeros((200, len(HEAD_CATEGORIES)), dtype=np.float32)
    y[:, 0] = x[:, 0] > 0
    w = np.ones(200, dtype=np.float32)
    ensemble = _fit_mlp(x, y, w, members=2)
    members = [_fit_mlp_seeded(x, y, w, SEED + m) for m in range(2)]
    assert ensemble.hidden_weights is not None and ensemble.hidden_weights.shape == (2 * MLP_HIDDEN, 384)
    expected = np.mean([m.logits(x) for m in members], axis=0)
    assert np.allclose(ensemble.logits(x), expected, atol=1e-5)
    assert not np.allclose(members[0].logits(x), members[1].logits(x), atol=1e-3)  # the seeds differ
