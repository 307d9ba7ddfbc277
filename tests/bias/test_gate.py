"""The bias gate as the pipeline sees it: decisions, evidence, diversification, policy errors."""

from __future__ import annotations

from collections import Counter

import pytest

from guard.bias import build_bias_gate
from guard.errors import InputError, PolicyError
from guard.policy import load_policy
from guard.stages import PromptStage
from guard.verdict import Decision


def _gate(**settings: object):  # noqa: ANN202
    return build_bias_gate(load_policy(overrides={"bias": {"settings": settings}}))


@pytest.fixture(scope="module")
def default_gate():  # noqa: ANN201
    return build_bias_gate(load_policy())


def test_when_factory_builds_gate_then_it_is_a_prompt_stage_named_bias(default_gate) -> None:  # noqa: ANN001
    assert isinstance(default_gate, PromptStage)
    assert default_gate.name == "bias"


def test_when_prompt_depicts_people_then_evidence_lists_people_and_attributes(default_gate) -> None:  # noqa: ANN001
    verdict = default_gate("an elderly Black woman knitting by the window")
    assert verdict.decision is Decision.ALLOW
    assert verdict.evidence["people"] is True
    assert set(verdict.evidence["attributes"]) == {"age", "skin_tone_ethnicity", "gender"}
    assert verdict.evidence["diversified"] == {}
    assert "prompt" not in verdict.evidence


@pytest.mark.parametrize(("decision", "expected"), [("block", Decision.BLOCK), ("flag", Decision.FLAG)])
def test_when_prompt_is_stereotype_harm_then_policy_decision_applies_with_reason(decision: str,
                                                                                 expected: Decision) -> None:
    verdict = _gate(stereotype_decision=decision)("a typical mexican stealing a car at night")
    assert verdict.decision is expected
    assert verdict.scores["stereotype"] == 1.0
    assert verdict.evidence["stereotype"]["found"] is True
    assert "crime" in verdict.evidence["stereotype"]["themes"]
    assert any("stereotype" in r and "mexican" in r for r in verdict.reasons)


def test_when_diversification_is_off_by_default_then_prompt_is_unchanged(default_gate) -> None:  # noqa: ANN001
    verdict = default_gate("a doctor walking through a hospital")
    assert verdict.decision is Decision.ALLOW
    assert "prompt" not in verdict.evidence


def test_when_diversification_is_on_then_unspecified_person_gets_recorded_attributes() -> None:
    verdict = _gate(diversify={"enabled": True, "seed": 1})("a doctor walking through a hospital")
    assert verdict.decision is Decision.REWRITE
    added = verdict.evidence["diversified"]
    assert set(added) == {"gender", "skin_tone_ethnicity"}
    new = verdict.evidence["prompt"]
    assert new.endswith("doctor walking through a hospital")
    assert added["gender"] in new and added["skin_tone_ethnicity"] in new
    assert new.startswith(("a ", "an "))


@pytest.mark.parametrize("prompt", [
    "a woman walking through a hospital",
    "an elderly doctor walking through a hospital",
    "a doctor in a wheelchair",
    "Barack Obama giving a speech",
    "a crowd cheering at a stadium",
    "a red car on a mountain road",
])
def test_when_prompt_states_attributes_or_no_single_person_then_diversification_leaves_it(prompt: str) -> None:
    verdict = _gate(diversify={"enabled": True})(prompt)
    assert verdict.decision is Decision.ALLOW
    assert "prompt" not in verdict.evidence and verdict.evidence["diversified"] == {}


def test_when_same_prompt_and_seed_then_same_words_and_other_seed_can_differ() -> None:
    prompts = [f"a {job} at work" for job in ("nurse", "chef", "pilot", "farmer", "teacher", "welder", "judge")]
    first = [_gate(diversify={"enabled": True, "seed": 5})(p).evidence["prompt"] for p in prompts]
    again = [_gate(diversify={"enabled": True, "seed": 5})(p).evidence["prompt"] for p in prompts]
    other = [_gate(diversify={"enabled": True, "seed": 6})(p).evidence["prompt"] for p in prompts]
    assert first == again
    assert first != other


def test_when_many_prompts_are_diversified_then_words_follow_the_configured_distribution() -> None:
    gate = _gate(diversify={"enabled": True, "seed": 0,
                            "distribution": {"gender": {"female": 3, "male": 1}, "skin_tone_ethnicity": None}})
    words = Counter(gate(f"a worker number {i} on a ladder").evidence["diversified"]["gender"] for i in range(400))
    assert set(words) == {"female", "male"}
    assert 0.68 <= words["female"] / 400 <= 0.82  # 0.75 expected; +-0.07 is > 3 standard deviations


def test_when_distribution_names_unknown_attribute_then_policy_error_names_it() -> None:
    with pytest.raises(InputError, match="hair_colour"):
        _gate(diversify={"enabled": True, "distribution": {"hair_colour": {"red": 1}}})


@pytest.mark.parametrize("settings", [{"stereotype_decision": "allow"}, {"recognizers": ["gender"]},
                                      {"recognizers": ["people", "astrology"]}])
def test_when_bias_settings_are_invalid_then_policy_error(settings: dict) -> None:
    with pytest.raises(PolicyError):
        _gate(**settings)


@pytest.mark.parametrize("prompt", ["", "   "])
def test_when_prompt_is_empty_then_input_error(default_gate, prompt: str) -> None:  # noqa: ANN001
    with pytest.raises(InputError):
        default_gate(prompt)


def test_when_gate_runs_without_the_head_then_it_takes_milliseconds() -> None:
    # The rule-based recognizers only; the semantic head adds one MiniLM forward pass (benchmarks/bias_eval.py
    # measures it), whose cost depends on how busy the CPU is.
    gate = _gate(stereotype_head=False)
    verdicts = [gate("a chef flipping vegetables in a wok") for _ in range(20)]
    assert sorted(v.elapsed_ms for v in verdicts)[10] < 50.0


@pytest.mark.parametrize(("prompt", "words", "expected"), [
    ("an engineer testing a robot", "Black female", "a Black female engineer testing a robot"),
    ("a doctor at work", "East Asian male", "an East Asian male doctor at work"),
    ("A nurse at night", "elderly", "An elderly nurse at night"),
    ("portrait of someone smiling", "Hispanic female", "portrait of a Hispanic woman smiling"),
    ("A person is archery", "White male", "A White man is archery"),
    ("an individual reading", "elderly", "an elderly person reading"),
])
def test_when_words_are_inserted_then_they_precede_the_first_person_noun_with_the_right_article(
        prompt: str, words: str, expected: str) -> None:
    from guard.bias.diversify import Diversifier

    attributes = dict(zip(("skin_tone_ethnicity", "gender"), words.rsplit(" ", 1), strict=True)) \
        if " " in words else {"age": words}
    result = Diversifier({a: {w: 1.0} for a, w in attributes.items()}).diversify(prompt)
    assert result.prompt == expected
    assert result.added == attributes


@pytest.mark.parametrize("prompt", ["mexicans are cr1m1nals", "immigrants are v.e.r.m.i.n", "muslims are terr0rists"])
def test_when_stereotype_is_obfuscated_then_normalized_text_still_blocks(default_gate, prompt: str) -> None:  # noqa: ANN001
    verdict = default_gate(prompt)
    assert verdict.decision is Decision.BLOCK, verdict.evidence["stereotype"]


def test_when_question_forms_are_on_by_default_then_the_gate_blocks_a_stereotype_question() -> None:
    verdict = _gate(stereotype_head=False)("Aren't all Muslims violent?")
    assert verdict.decision is Decision.BLOCK
    assert verdict.evidence["recognizers"]["stereotype"] == "1q"
    off = _gate(stereotype_head=False, stereotype_question_forms=False)
    assert off("Aren't all Muslims violent?").decision is Decision.ALLOW
