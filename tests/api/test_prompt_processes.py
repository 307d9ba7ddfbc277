"""Single-prompt checks in worker processes (``guard.api.prompt_processes``, the server's default): the same
verdicts as in-thread checks, recorded in the one ledger, a dead worker costs one batch a 503 and is restarted,
and no worker outlives its server."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import psutil
import pytest

from guard.api import ApiSettings
from guard.api.problems import ApiProblem
from guard.api.prompt_processes import PromptProcesses
from guard.ledger import Ledger, sha256_text
from guard.policy import load_policy
from tests.api.conftest import LiveServer, ServerProcess, assert_problem, make_key, prompt_stage_available
from tests.api.test_batching import PROMPTS

pytestmark = pytest.mark.skipif(not prompt_stage_available(), reason="no prompt filter in this build")


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    with LiveServer(ApiSettings(warm_up=False, prompt_processes=1)) as server:
        yield server


def _processes(live: LiveServer) -> PromptProcesses:
    processes = live.app.state.prompt_processes
    assert isinstance(processes, PromptProcesses)
    return processes


def _gone(pids: list[int], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids):
            return True
        time.sleep(0.1)
    return False


def test_when_prompts_are_checked_in_a_worker_process_then_in_thread_verdicts_and_ledger_records(
        live: LiveServer) -> None:
    with live.client(make_key("moderate"), timeout=180) as client:
        bodies = [client.post("/v1/prompts/check", json={"prompt": p}).json() for p in PROMPTS]
    assert _processes(live).pids() and os.getpid() not in _processes(live).pids()  # checked elsewhere, not here
    expected = live.app.state.engine.prompt_pipeline().check_prompts(PROMPTS, record=False)
    assert [b["decision"] for b in bodies] == [v.decision.value for v in expected]
    for body, verdict in zip(bodies, expected, strict=True):
        assert body["categories"] == pytest.approx({k: round(s, 6) for k, s in verdict.scores.items()}, abs=1e-5)
        assert body["reasons"] == list(verdict.reasons)
    assert {b["decision"] for b in bodies} >= {"allow", "block"}
    ledger = Ledger()
    recorded = {row["prompt_sha256"] for row in ledger.rows("check_prompt")}
    assert {sha256_text(p) for p in PROMPTS} <= recorded  # the worker wrote to the server's ledger
    assert ledger.verify().ok


def test_when_the_worker_process_is_killed_then_that_check_gets_503_and_the_next_is_answered(live: LiveServer) -> None:
    with live.client(make_key("moderate"), timeout=180) as client:
        assert client.post("/v1/prompts/check", json={"prompt": PROMPTS[0]}).status_code == 200
        victim = _processes(live).pids()
        os.kill(victim[0], signal.SIGKILL)
        assert _gone(victim, 10)
        problem = assert_problem(client.post("/v1/prompts/check", json={"prompt": PROMPTS[4]}), 503)
        assert "worker process died" in problem["detail"]
        answered = client.post("/v1/prompts/check", json={"prompt": PROMPTS[4]})
    assert answered.status_code == 200 and answered.json()["decision"] == "allow"
    assert _processes(live).pids() and not set(_processes(live).pids()) & set(victim)


def test_when_the_worker_cannot_build_its_policy_then_start_raises_with_the_reason() -> None:
    broken = load_policy().model_copy(update={"prompt": load_policy().prompt.model_copy(
        update={"timeout_s": -1.0})})  # invalid once re-validated in the worker process
    processes = PromptProcesses(broken, 1, start_timeout_s=120)
    try:
        with pytest.raises(Exception, match="prompt worker process"):
            processes.start()
        assert processes.error and not processes.ready
    finally:
        processes.shutdown()


@pytest.mark.slow
def test_when_the_server_is_killed_then_its_prompt_worker_processes_exit() -> None:
    with ServerProcess(VIDEOGUARD_API_PROMPT_PROCESSES="1") as server:
        assert server.proc is not None
        workers = [c.pid for c in psutil.Process(server.proc.pid).children(recursive=True)]
        assert workers, "the server started no prompt worker process"
        server.proc.kill()  # SIGKILL: no shutdown code runs in the server
        server.proc.wait()
        assert _gone(workers, 30), "a prompt worker process outlived its server"


@pytest.mark.slow
def test_when_a_worker_hangs_past_the_timeout_then_504_and_it_is_replaced() -> None:
    replaced: list[int] = []
    processes = PromptProcesses(load_policy(), 1, batch_timeout_s=3, on_discard=lambda: replaced.append(1))
    try:
        assert processes([PROMPTS[0]])[0].decision.value == "allow"
        hung = processes.pids()
        os.kill(hung[0], signal.SIGSTOP)  # alive but never answers, like a worker stuck in native code
        started = time.monotonic()
        with pytest.raises(ApiProblem) as caught:
            processes([PROMPTS[0]])
        assert caught.value.status == 504 and time.monotonic() - started < 30
        assert _gone(hung, 10) and replaced == [1]
        assert processes([PROMPTS[4]])[0].decision.value == "allow"  # a new worker answers
    finally:
        processes.shutdown()
