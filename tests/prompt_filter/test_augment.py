"""Training augmentation: seeded obfuscated copies of train rows, kept only when the repair leaves a residue."""

from __future__ import annotations

import random

from guard.prompt_filter.augment import AUGMENTATIONS, recombined_nudity, variants
from guard.prompt_filter.dataset import Row, nudity_prompt
from guard.prompt_filter.normalize import normalize
from guard.prompt_filter.train import (
    AUGMENT_WEIGHT,
    RECOMBINED_SOURCE,
    RECOMBINED_TWIN_SOURCE,
    augmented_rows,
    recombined_rows,
)

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


FRAGMENTS = {"1": ("nude", "women", "in the park"), "2": ("undressed", "None", "in the studio"),
             "3": ("bare", "men", "on the beach")}


def test_when_nudity_fragments_recombined_then_new_prompts_in_the_authors_join_from_several_cases() -> None:
    out = recombined_nudity(FRAGMENTS, 100, random.Random(0))
    originals = {nudity_prompt(*f) for f in FRAGMENTS.values()}
    assert out == recombined_nudity(FRAGMENTS, 100, random.Random(0))
    assert len(out) == 3 ** 3 - 3  # every mix of two or three cases, none a case's own prompt
    for text, twin, cases in out:
        assert text not in originals and len(cases) > 1 and cases <= set(FRAGMENTS)
        assert text in {nudity_prompt(a[0], b[1], c[2]) for a in FRAGMENTS.values() for b in FRAGMENTS.values()
                        for c in FRAGMENTS.values()}
        if twin is not None:
            assert twin.split(" ")[0] in {"women", "men"} and not any(f[0] in twin for f in FRAGMENTS.values())
    twins = [twin for _, twin, _ in out if twin is not None]
    assert len(twins) == len(set(twins)) == 2 * 3  # people "None" has no twin; each twin once


def test_when_recombined_rows_then_copies_of_real_rows_are_dropped_and_labels_are_sexual_or_benign() -> None:
    real = Row("nude men, in the park", ("sexual",), "ringabell_nudity")
    rows = recombined_rows(FRAGMENTS, 100, seed=0, exclude={real.key}, weight=0.5)
    assert real.key not in {r.key for r in rows}
    assert len(rows) == len(recombined_rows(FRAGMENTS, 100, seed=0, exclude=set(), weight=0.5)) - 1
    assert {r.labels for r in rows} == {("sexual",), ()} and {r.weight for r in rows} == {0.5}
    assert all(r.source == (RECOMBINED_TWIN_SOURCE if r.benign else RECOMBINED_SOURCE) for r in rows)
