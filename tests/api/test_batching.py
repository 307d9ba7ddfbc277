"""Micro-batched prompt checks give each prompt the verdict it gets alone, and record every one of them."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from guard.api import ApiSettings
from guard.assembly import PromptChain, build_prompt_stage
from guard.ledger import Ledger
from guard.pipeline import GuardedPipeline
from guard.policy import Policy, load_policy
from guard.verdict import Verdict
from tests.api.conftest import LiveServer, assert_problem, make_key, prompt_stage_available
from tests.verdicts import assert_same_verdict

pytestmark = pytest.mark.skipif(not prompt_stage_available(), reason="no prompt filter in this build")

PROMPTS = [
    "a golden retriever playing fetch in a sunny park",
    "a naked woman having sex on a bed, explicit porn",
    "a man stabbing another man repeatedly, blood everywhere",
    "Barack Obama giving a speech in front of the White House",
    "a doctor explaining results to a patient",
    "call me at 555-123-4567 or mail jane.doe@example.com, a beach at sunset",
    "mexicans are all criminals stealing cars",
    "a view of Paris at night from the Eiffel Tower",
    "a calm meadow with soft light and gentle wind over the grass " * 12,
    "n.u.d.e w0man on a b3d",
]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


@pytest.fixture(scope="module")
def chain(policy: Policy) -> PromptChain:
    stage = build_prompt_stage(policy)
    assert isinstance(stage, PromptChain)
    return stage


def test_when_prompts_are_checked_as_a_batch_then_each_verdict_equals_its_single_check(chain: PromptChain) -> None:
    alone = [chain(p) for p in PROMPTS]
    batched = chain.check_batch(PROMPTS)
    for b, a in zip(batched, alone, strict=True):
        assert_same_verdict(b, a, score_tol=1e-4)
    assert {v.decision.value for v in alone} >= {"allow", "block", "rewrite"}  # the set exercises each path


def test_when_pipeline_checks_several_prompts_then_one_ledger_row_each_and_the_chain_verifies(
        policy: Policy, chain: PromptChain, home: Any) -> None:
    ledger = Ledger()
    pipeline = GuardedPipeline(policy, prompt=chain, ledger=ledger)
    pipeline.check_prompt(PROMPTS[0])
    verdicts = pipeline.check_prompts(PROMPTS)
    rows = list(ledger.rows("check_prompt"))
    assert [r["seq"] for r in rows] == list(range(1, len(PROMPTS) + 2))
    assert [r["decision"] for r in rows[1:]] == [v.decision.value for v in verdicts]
    assert ledger.verify().ok
    assert all("prompt" not in r for r in rows)  # default policy: hashes only, no prompt text


class BreaksOn:
    """Wraps the real bias gate so that one prompt makes it raise, as a recognizer crashing on an input would."""

    def __init__(self, inner: Any, trigger: str) -> None:
        self.inner, self.trigger, self.name = inner, trigger, inner.name

    def __call__(self, prompt: str) -> Verdict:
        if self.trigger in prompt:
            raise RuntimeError("injected failure")
        return self.inner(prompt)


def test_when_one_prompt_of_a_batch_breaks_a_check_then_only_it_fails_closed(
        policy: Policy, chain: PromptChain, home: Any) -> None:
    broken = PromptChain([chain.checks[0], BreaksOn(chain.checks[1], "kaboom")])
    pipeline = GuardedPipeline(policy, prompt=broken, ledger=Ledger())
    prompts = [PROMPTS[0], "a kaboom cat on a mat", PROMPTS[1]]
    verdicts = pipeline.check_prompts(prompts)
    assert [v.decision.value for v in verdicts] == [chain(PROMPTS[0]).decision.value, "error",
                                                    chain(PROMPTS[1]).decision.value]
    assert "injected failure" in verdicts[1].reasons[0]


def test_when_clients_check_prompts_concurrently_then_batched_and_each_gets_its_own_verdict(chain: PromptChain) -> None:
    settings = ApiSettings(warm_up=False, cpu_workers=1, prompt_batch_max=8, prompt_batch_window_ms=300,
                           prompt_processes=0)
    too_long = "a cat " * 2000  # over the policy's prompt_max_chars: 413 for this request only
    bodies = [*PROMPTS, too_long]
    with LiveServer(settings) as live:
        live.app.state.engine.prompt_pipeline()  # built before the clients start
        key = make_key("moderate")
        responses: dict[int, httpx.Response] = {}
        barrier = threading.Barrier(len(bodies))

        def post(index: int) -> None:
            with live.client(key) as client:
                client.get("/healthz")  # connect before the barrier, so the checks arrive together
                barrier.wait()
                responses[index] = client.post("/v1/prompts/check", json={"prompt": bodies[index]})

        threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        metrics = live.client().get("/metrics").text
    for index, prompt in enumerate(PROMPTS):
        assert responses[index].status_code == 200, responses[index].text
        body = responses[index].json()
        alone = chain(prompt)
        assert body["decision"] == alone.decision.value
        assert all(abs(body["categories"][c] - s) < 1e-3 for c, s in alone.scores.items() if c in body["categories"])
    assert_problem(responses[len(PROMPTS)], 413)
    count = next(float(line.split()[-1]) for line in metrics.splitlines()
                 if line.startswith("videoguard_prompt_batch_size_count"))
    assert 1 <= count < len(bodies)  # fewer batches than requests: concurrent checks were gathered
