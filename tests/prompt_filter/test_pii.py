"""PII is redacted from the prompt; named people are rewritten or blocked as the policy says."""

from __future__ import annotations

import pytest

from guard.prompt_filter.normalize import normalize
from guard.prompt_filter.pii import PiiCheck
from guard.verdict import Decision


@pytest.mark.parametrize(
    ("text", "secret", "replacement"),
    [
        ("call me at 415-555-0132 tomorrow", "415-555-0132", "a phone number"),
        ("a video for bob.smith@example.com", "bob.smith@example.com", "an email address"),
        ("pay with 4111 1111 1111 1111 now", "4111 1111 1111 1111", "a card number"),
        ("the house at 12 Main Street at dusk", "12 Main Street", "a street address"),
        ("Taylor Swift dancing on a stage", "Taylor Swift", "a person"),
        ("Barack Obama giving a speech in the rain", "Barack Obama", "a person"),
    ],
)
def test_when_pii_or_name_then_redacted_and_rewrite(pii_check: PiiCheck, text: str, secret: str,
                                                     replacement: str) -> None:
    verdict = pii_check.check(normalize(text))
    assert verdict.decision is Decision.REWRITE
    assert secret not in verdict.evidence["prompt"]
    assert replacement in verdict.evidence["prompt"]


@pytest.mark.parametrize(
    "text",
    [
        "A man in a red jacket walks his dog along a beach at sunset",
        "A beautiful coastal beach in spring, waves lapping on sand, Van Gogh style",
        "a lighthouse by Hokusai, in the style of ukiyo-e",
        "a clock showing 10:45 on a wall",
        "A person is riding a bike",
    ],
)
def test_when_no_pii_then_allow_and_prompt_unchanged(pii_check: PiiCheck, text: str) -> None:
    verdict = pii_check.check(normalize(text))
    assert verdict.decision is Decision.ALLOW, verdict.evidence["entities"]
    assert verdict.evidence["prompt"] == text


def test_when_policy_blocks_likeness_then_named_person_blocks() -> None:
    verdict = PiiCheck({"likeness_action": "block"}).check(normalize("Taylor Swift dancing on a stage"))
    assert verdict.decision is Decision.BLOCK
    assert verdict.scores["likeness"] > 0.5


def test_when_likeness_action_is_invalid_then_value_error() -> None:
    with pytest.raises(ValueError, match="likeness_action"):
        PiiCheck({"likeness_action": "allow"})


def test_when_batch_then_same_redactions_as_single(pii_check: PiiCheck) -> None:
    texts = ["Barack Obama giving a speech", "a cat", "mail bob@example.com"]
    batch = pii_check.check_batch([normalize(t) for t in texts])
    single = [pii_check.check(normalize(t)) for t in texts]
    assert [v.evidence["prompt"] for v in batch] == [v.evidence["prompt"] for v in single]
