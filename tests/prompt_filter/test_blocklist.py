"""Blocklist: whole-word, fuzzy near misses, and no Scunthorpe false hits."""

from __future__ import annotations

import pytest

from guard.prompt_filter.blocklist import BlocklistCheck, within_one_edit
from guard.prompt_filter.normalize import normalize
from guard.verdict import Decision


@pytest.fixture(scope="module")
def check() -> BlocklistCheck:
    return BlocklistCheck()


@pytest.mark.parametrize(
    ("text", "category", "how"),
    [
        ("a nude woman on a bed", "sexual", "exact"),
        ("n.u.d.e woman", "sexual", "exact"),
        ("p0rn video", "sexual", "exact"),
        ("nudes at the beach", "sexual", "suffix"),
        ("pornn clip", "sexual", "fuzzy"),
        ("a nu de woman", "sexual", "joined"),
        ("hentai animation of a maid", "sexual", "exact"),
        ("jailbait photoshoot", "sexual_minors", "exact"),
        ("a video about a w e t b a c k", "hate", "exact"),
        ("a naked man running", "sexual", "exact"),
        ("a beheading in the desert", "graphic_violence", "exact"),
    ],
)
def test_when_blocked_term_then_block(check: BlocklistCheck, text: str, category: str, how: str) -> None:
    verdict = check.check(normalize(text))
    assert verdict.decision is Decision.BLOCK
    assert verdict.scores[category] == 1.0
    assert how in {h["how"] for h in verdict.evidence["hits"]}


@pytest.mark.parametrize(
    "text",
    [
        "Scunthorpe United play at home",
        "a cocktail party on a terrace",
        "a peacock spreading its feathers",
        "a blue tit on a branch",
        "a pussy willow in spring",
        "the therapist listens to her patient",
        "an assassin creed cosplay",
        "a sextant on a ship's deck",
        "a classic analysis of grape harvests",
        "the naked eye can see the comet",
        "a blue pen is used to write",
        "the elephants playfully nudge each other",
        "a horse is trotting in the field",
        "a squirrel with a bushy tail",
        "a beaker in the laboratory",
        "a herd of buffalo on the plains",
        "she graduated summa cum laude",
    ],
)
def test_when_innocent_look_alike_then_allow(check: BlocklistCheck, text: str) -> None:
    verdict = check.check(normalize(text))
    assert verdict.decision is Decision.ALLOW, verdict.reasons


@pytest.mark.parametrize(("text", "category"), [("a sexy dress", "sexual"), ("a man yelling fuck", "profanity")])
def test_when_weak_term_then_flag(check: BlocklistCheck, text: str, category: str) -> None:
    verdict = check.check(normalize(text))
    assert verdict.decision is Decision.FLAG
    assert verdict.scores[category] == 0.5


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("nuda", "nude", True), ("ndue", "nude", True), ("f*ck", "fuck", True), ("nudee", "nude", True),
     ("itching", "bitchin", False), ("node", "nude", True), ("cat", "nude", False)],
)
def test_when_edit_distance_then_within_one_edit_agrees(a: str, b: str, expected: bool) -> None:
    assert within_one_edit(a, b) is expected
