"""Training augmentation: seeded obfuscated copies of train rows, kept only when the repair leaves a residue."""

from __future__ import annotations

import random

from guard.prompt_filter.augment import AUGMENTATIONS, variants
from guard.prompt_filter.dataset import Row
from guard.prompt_filter.normalize import normalize
from guard.prompt_filter.train import AUGMENT_WEIGHT, augmented_rows

TEXT = "a masked gunman pointing a pistol at a frightened cashier in a convenience store"


def test_when_same_seed_then_same_variants_and_each_differs_from_original() -> None:
    first = variants(TEXT, 8, random.Random(7))
    assert first == variants(TEXT, 8, random.Random(7))
    assert all(v != TEXT for v in first)


def test_when_augmented_then_each_kind_changes_the_text_its_own_way() -> None:
    rng = random.Random(0)
    out = {name: fn(TEXT, rng) for name, fn in AUGMENTATIONS.items()}
    assert any(c.isdigit() or c in "@!$|+" for c in out["leet"])
    assert len(out["spaced"]) > len(TEXT)
    assert out["misspelled"].split()[0] == "a"  # short words are left alone


def test_when_rows_augmented_then_copies_keep_labels_at_lower_weight_and_differ_after_repair() -> None:
    rows = [Row(TEXT, ("violence",), "videoguard-project-written"), Row("a cat on a sofa", (), "vbench")]
    copies = augmented_rows(rows, n_unsafe=6, benign_share=1.0)
    assert copies, "six obfuscated copies of a 14-word prompt all repaired perfectly: implausible"
    for copy in copies:
        original = next(r for r in rows if r.labels == copy.labels)
        assert copy.weight == original.weight * AUGMENT_WEIGHT
        assert normalize(copy.text).corrected != normalize(original.text).corrected
