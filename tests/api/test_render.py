"""The single-prompt check's response body, rendered in the batcher's worker, is the document the typed
response model gives (``public_verdict_json`` vs ``public_verdict``), and the endpoint sends exactly it."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from guard.api import ApiSettings
from guard.api.schemas import VerdictOut, public_verdict, public_verdict_json
from guard.assembly import PromptChain, build_prompt_stage
from guard.pipeline import GuardedPipeline
from guard.policy import Policy, load_policy
from guard.verdict import Decision, Verdict
from tests.api.conftest import LiveServer, make_key, prompt_stage_available
from tests.api.test_batching import PROMPTS

pytestmark = pytest.mark.skipif(not prompt_stage_available(), reason="no prompt filter in this build")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


@pytest.fixture(scope="module")
def verdicts(policy: Policy) -> list[Verdict]:
    stage = build_prompt_stage(policy)
    assert isinstance(stage, PromptChain)
    return stage.check_batch(PROMPTS)


@pytest.mark.parametrize("log_prompt_text", [False, True])
def test_when_a_verdict_is_rendered_in_the_worker_then_it_is_the_response_models_document(
        policy: Policy, verdicts: list[Verdict], log_prompt_text: bool) -> None:
    chosen = policy.model_copy(update={"ledger": policy.ledger.model_copy(update={"log_prompt_text": log_prompt_text})})
    for verdict in verdicts:
        fast = json.loads(public_verdict_json(verdict, chosen))
        assert fast == public_verdict(verdict, chosen).model_dump(mode="json")
        VerdictOut.model_validate(fast)  # the schema's shape, not only equal to what the model kept
    assert {v.decision.value for v in verdicts} >= {"allow", "block", "rewrite"}


def test_when_a_verdict_holds_what_plain_json_cannot_then_the_model_renders_it(policy: Policy) -> None:
    for value in (math.nan, math.inf):
        verdict = Verdict("prompt", Decision.ALLOW, {"sexual": 0.1}, evidence={"head_score": value})
        body = public_verdict_json(verdict, policy)
        assert body == public_verdict(verdict, policy).model_dump_json().encode()
        assert json.loads(body)["evidence"]["head_score"] is None  # valid JSON, not a bare NaN token


def test_when_a_prompt_is_checked_over_http_then_the_body_is_the_rendered_verdict(
        policy: Policy, verdicts: list[Verdict], home: Any) -> None:
    settings = ApiSettings(warm_up=False, prompt_processes=0)
    with LiveServer(settings) as live, live.client(make_key("moderate")) as client:
        response = client.post("/v1/prompts/check", json={"prompt": PROMPTS[1]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    got = response.json()
    VerdictOut.model_validate(got)
    expected = json.loads(public_verdict_json(verdicts[1], policy))
    assert got["decision"] == expected["decision"] == "block"
    assert got["reasons"] == expected["reasons"]
    assert set(got["categories"]) == set(expected["categories"])


def test_when_prompt_text_is_hidden_then_the_ledger_and_the_api_drop_it_at_every_depth_but_the_api_keeps_a_rewrite(
        policy: Policy) -> None:
    evidence = {"prompt": "a person at a desk", "original": "Jane Doe at a desk", "people_terms": ["jane"],
                "score": 0.5, "checks": [{"normalized": "jane doe at a desk", "prompt": "x", "hits": 1}]}
    verdict = Verdict("prompt", Decision.REWRITE, {"likeness": 0.9}, evidence=evidence)
    api = json.loads(public_verdict_json(verdict, policy))["evidence"]
    assert api == {"prompt": "a person at a desk", "score": 0.5, "checks": [{"hits": 1}]}
    ledger = GuardedPipeline(policy)._public(verdict)["evidence"]  # what a ledger record holds
    assert ledger == {"score": 0.5, "checks": [{"hits": 1}]}
