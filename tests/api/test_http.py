"""The API contract over real HTTP: auth, scopes, rate limits, uploads, problem details, prompts, jobs."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from guard.api import ApiSettings
from guard.api.keys import KeyStore
from guard.api.logs import JsonFormatter
from guard.api.uploads import uploads_dir
from guard.verdict import Decision
from tests.api.conftest import LiveServer, assert_problem, make_key, prompt_stage_available, release_stages_available

DECISIONS = {d.value for d in Decision}


# ---------------------------------------------------------------------------- health
def test_when_healthz_is_called_without_a_key_then_ok(server: LiveServer) -> None:
    response = server.client().get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_when_a_prompt_was_checked_then_readyz_reports_the_prompt_stage_built(server: LiveServer) -> None:
    key = make_key("moderate")
    server.client(key).post("/v1/prompts/check", json={"prompt": "a kite over a beach"})
    ready = server.client().get("/readyz").json()
    states = {s["name"]: s["state"] for s in ready["stages"]}
    assert set(states) == {"prompt", "frames", "watermark", "signer", "generator"}
    assert states["prompt"] == ("loaded" if prompt_stage_available() else "missing")


def test_when_metrics_are_scraped_then_prometheus_text_counts_requests(server: LiveServer) -> None:
    server.client().get("/healthz")
    response = server.client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'videoguard_http_requests_total{method="GET",route="/healthz",status="200"}' in response.text


# ---------------------------------------------------------------------------- auth
@pytest.mark.parametrize(
    ("scopes", "method", "path", "body", "status"),
    [
        (None, "POST", "/v1/prompts/check", {"prompt": "a cat"}, 401),  # no key at all
        ("bogus", "POST", "/v1/prompts/check", {"prompt": "a cat"}, 401),  # not a key
        ("revoked", "POST", "/v1/prompts/check", {"prompt": "a cat"}, 401),
        (("generate",), "POST", "/v1/prompts/check", {"prompt": "a cat"}, 403),
        (("moderate",), "POST", "/v1/generations", {"prompt": "a cat"}, 403),
        (("moderate",), "GET", "/v1/generations/" + "0" * 32, None, 403),
        (("moderate",), "POST", "/v1/prompts/check", {"prompt": "a cat"}, 200),
        (("admin",), "POST", "/v1/prompts/check", {"prompt": "a cat"}, 200),  # admin includes every scope
        (("generate",), "GET", "/v1/generations/" + "0" * 32, None, 404),
    ],
)
def test_when_keys_and_scopes_vary_then_401_403_or_through(server: LiveServer, scopes: object, method: str,
                                                           path: str, body: dict | None, status: int) -> None:
    if scopes is None:
        key = None
    elif scopes == "bogus":
        key = "vg_0123456789abcdef_" + "x" * 43
    elif scopes == "revoked":
        record, key = KeyStore().create(["moderate"], name="to-revoke")
        KeyStore().revoke(record.key_id)
    else:
        key = make_key(*scopes)  # type: ignore[misc]
    response = server.client(key).request(method, path, json=body)
    if status >= 400:
        problem = assert_problem(response, status)
        if status == 401:
            assert response.headers["www-authenticate"] == "X-API-Key"
            assert problem["type"].endswith("unauthorized")
    else:
        assert response.status_code == status, response.text


def test_when_a_key_exceeds_its_rate_then_429_with_retry_after(server: LiveServer) -> None:
    key = make_key("moderate", rate=0.5)  # bucket of one request, refilled every 2 s
    client = server.client(key)
    first = client.post("/v1/prompts/check", json={"prompt": "a cat"})
    second = client.post("/v1/prompts/check", json={"prompt": "a cat"})
    assert first.status_code == 200
    assert_problem(second, 429)
    assert int(second.headers["retry-after"]) in (1, 2)
    other = server.client(make_key("moderate")).post("/v1/prompts/check", json={"prompt": "a cat"})
    assert other.status_code == 200  # limits are per key


# ---------------------------------------------------------------------------- prompts
def test_when_a_prompt_is_checked_then_a_typed_verdict_with_a_decision(server: LiveServer) -> None:
    response = server.client(make_key("moderate")).post("/v1/prompts/check", json={"prompt": "a red ball bouncing"})
    assert response.status_code == 200
    verdict = response.json()
    assert verdict["stage"] == "prompt"
    assert verdict["decision"] in DECISIONS
    assert isinstance(verdict["categories"], dict) and isinstance(verdict["reasons"], list)
    if not prompt_stage_available():  # fail closed until the prompt filter lands
        assert verdict["decision"] == "error"
        assert "not configured" in verdict["reasons"][0]
    assert "original" not in verdict["evidence"]  # prompt text is not echoed unless the policy allows


def test_when_a_batch_is_checked_then_one_verdict_per_prompt_and_the_worst_decision(server: LiveServer) -> None:
    prompts = ["a red ball", "a blue kite", "a green field"]
    response = server.client(make_key("moderate")).post("/v1/prompts/check-batch", json={"prompts": prompts})
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == len(prompts)
    assert body["decision"] == Decision.worst([Decision(r["decision"]) for r in body["results"]]).value


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"prompt": "   "}, 422),  # blank: the schema wants a non-space character
        ({"prompt": "x" * 4001}, 413),  # over limits.prompt_max_chars
        ({"prompt": 12}, 422),  # wrong type
        ({"text": "a cat"}, 422),  # wrong field
        ({"prompts": []}, 422),  # (to the single endpoint)
    ],
)
def test_when_a_prompt_request_is_bad_then_a_problem_document(server: LiveServer, body: dict, status: int) -> None:
    response = server.client(make_key("moderate")).post("/v1/prompts/check", json=body)
    assert_problem(response, status)


def test_when_a_body_is_not_json_then_422_problem(server: LiveServer) -> None:
    response = server.client(make_key("moderate")).post(
        "/v1/prompts/check", content=b"{not json", headers={"content-type": "application/json"})
    body = assert_problem(response, 422)
    assert body["errors"]


# ---------------------------------------------------------------------------- uploads
@pytest.fixture(scope="module")
def small_limit_server() -> Iterator[LiveServer]:
    with LiveServer(ApiSettings(warm_up=False, max_upload_bytes=256 * 1024)) as live:
        yield live


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    block = os.urandom(size)
    sent = 0
    while sent < total:
        yield block[: min(size, total - sent)]
        sent += size


@pytest.mark.parametrize("endpoint", ["/v1/videos/scan", "/v1/videos/release", "/v1/videos/verify"])
def test_when_a_streamed_upload_passes_the_limit_then_413_and_nothing_kept(small_limit_server: LiveServer,
                                                                          endpoint: str) -> None:
    before = set(uploads_dir().iterdir())
    client = small_limit_server.client(make_key("moderate"))
    response = client.post(endpoint, content=_chunks(4 * 1024 * 1024), headers={"content-type": "video/mp4"})
    body = assert_problem(response, 413)
    assert "262144" in body["detail"]
    assert set(uploads_dir().iterdir()) == before


def test_when_the_declared_length_is_over_the_limit_then_413_before_reading(small_limit_server: LiveServer) -> None:
    client = small_limit_server.client(make_key("moderate"))
    response = client.post("/v1/videos/scan", content=b"x" * (300 * 1024), headers={"content-type": "video/mp4"})
    assert_problem(response, 413)


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"\x00\x01garbage" * 1000, "video/mp4", 415),  # not a video
        (b"", "video/mp4", 400),  # empty body
        (b"hello", "text/plain", 415),  # not a video type
    ],
)
@pytest.mark.parametrize("endpoint", ["/v1/videos/scan", "/v1/videos/release", "/v1/videos/verify"])
def test_when_an_upload_is_not_a_readable_video_then_4xx_problem(server: LiveServer, endpoint: str, content: bytes,
                                                                 content_type: str, status: int) -> None:
    response = server.client(make_key("moderate")).post(endpoint, content=content,
                                                       headers={"content-type": content_type})
    body = assert_problem(response, status)
    assert str(uploads_dir()) not in body["detail"]  # the server's file names stay on the server


def test_when_a_real_video_is_verified_then_its_state_is_reported(server: LiveServer, sample_video: Path) -> None:
    response = server.client(make_key("moderate")).post("/v1/videos/verify", content=sample_video.read_bytes(),
                                                       headers={"content-type": "video/mp4"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["state"] == "absent" and report["ok"] is False  # an unsigned camera-style file
    assert report["c2pa"]["state"] == "absent"


@pytest.mark.slow
def test_when_a_real_video_is_released_then_a_signed_file_or_fail_closed(server: LiveServer,
                                                                         sample_video: Path) -> None:
    response = server.client(make_key("moderate"), timeout=300).post(
        "/v1/videos/release", content=sample_video.read_bytes(), headers={"content-type": "video/mp4"})
    if release_stages_available():
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "video/mp4"
        assert len(response.headers["x-videoguard-release-id"]) == 16
        assert response.headers["x-videoguard-provenance"] in ("trusted", "valid")
        assert response.content[4:8] == b"ftyp"
    else:
        body = assert_problem(response, 422)
        assert body["type"].endswith("blocked")
        assert body["decision"] == "error"
        assert any(v["decision"] == "error" for v in body["verdicts"])


def test_when_a_request_outlasts_its_timeout_then_504(sample_video: Path) -> None:
    with LiveServer(ApiSettings(warm_up=False, request_timeout_s=0.01)) as live:
        response = live.client(make_key("moderate")).post("/v1/videos/scan", content=sample_video.read_bytes(),
                                                         headers={"content-type": "video/mp4"})
    assert_problem(response, 504)


# ---------------------------------------------------------------------------- generation jobs
def test_when_the_job_queue_is_full_then_503_with_retry_after() -> None:
    # No workers: jobs stay queued, so the bound is hit deterministically.
    with LiveServer(ApiSettings(warm_up=False, job_workers=0, job_queue_size=2)) as live:
        client = live.client(make_key("generate"))
        accepted = [client.post("/v1/generations", json={"prompt": f"a kite {i}"}) for i in range(2)]
        refused = client.post("/v1/generations", json={"prompt": "one too many"})
    assert [r.status_code for r in accepted] == [202, 202]
    assert all(r.json()["status"] == "queued" for r in accepted)
    body = assert_problem(refused, 503)
    assert body["type"].endswith("queue-full")
    assert int(refused.headers["retry-after"]) >= 1


def test_when_another_key_asks_for_a_job_then_404_for_job_and_video(server: LiveServer) -> None:
    owner = server.client(make_key("generate"))
    stranger = server.client(make_key("generate", "moderate"))
    created = owner.post("/v1/generations", json={"prompt": "a red kite", "seed": 3})
    assert created.status_code == 202
    job_id = created.json()["id"]
    assert created.headers["location"] == f"/v1/generations/{job_id}"
    assert_problem(stranger.get(f"/v1/generations/{job_id}"), 404)
    assert_problem(stranger.get(f"/v1/generations/{job_id}/video"), 404)
    job = owner.get(f"/v1/generations/{job_id}")
    assert job.status_code == 200
    assert job.json()["id"] == job_id


def test_when_a_job_finishes_then_its_outcome_is_polled_by_the_owner(server: LiveServer) -> None:
    client = server.client(make_key("generate"))
    job_id = client.post("/v1/generations", json={"prompt": "a blue star moving left"}).json()["id"]
    deadline = time.monotonic() + 600  # a wait, not a timing: generation takes ~10 s quiet, minutes on a busy box
    while True:
        job = client.get(f"/v1/generations/{job_id}").json()
        if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert job["status"] in ("released", "blocked", "failed")
    video = client.get(f"/v1/generations/{job_id}/video")
    if job["status"] == "released":
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        assert job["release"]["provenance"] in ("trusted", "valid")
    else:
        assert_problem(video, 409)
        assert job["video_url"] is None
        if job["status"] == "failed":  # the model could not run (e.g. the bundled weights are not there yet)
            assert job["error"] and "Traceback" not in job["error"]
        else:
            assert job["decision"] == "block" and any(v["decision"] in ("block", "error") for v in job["verdicts"])
        if not prompt_stage_available():
            assert job["status"] == "blocked"
            assert job["verdicts"][0]["stage"] == "prompt" and job["verdicts"][0]["decision"] == "error"


# ---------------------------------------------------------------------------- logs
def test_when_a_prompt_is_checked_then_the_json_log_has_its_hash_not_its_text(server: LiveServer) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("guard.api.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    prompt = "a very distinctive prompt about a purple walrus 7d1f"
    try:
        server.client(make_key("moderate")).post("/v1/prompts/check", json={"prompt": prompt})
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    checks = [line for line in lines if line.get("route") == "/v1/prompts/check"]
    assert checks, lines
    assert checks[-1]["prompt_sha256"] == hashlib.sha256(prompt.encode()).hexdigest()
    assert checks[-1]["status"] == 200 and checks[-1]["decision"] in DECISIONS
    assert "walrus" not in stream.getvalue()


def test_when_an_unknown_route_is_called_then_404_problem(server: LiveServer) -> None:
    assert_problem(server.client().get("/v1/nothing-here"), 404)


def test_when_the_wrong_method_is_used_then_405_problem(server: LiveServer) -> None:
    assert_problem(server.client().get("/v1/prompts/check"), 405)


def test_when_an_upload_is_slower_than_its_timeout_then_408() -> None:
    def trickle() -> Iterator[bytes]:
        for _ in range(10):
            yield b"\x00" * 1024
            time.sleep(0.3)

    with LiveServer(ApiSettings(warm_up=False, upload_timeout_s=0.5)) as live:
        response = live.client(make_key("moderate")).post("/v1/videos/scan", content=trickle(),
                                                         headers={"content-type": "video/mp4"})
    assert_problem(response, 408)


def test_when_every_cpu_worker_slot_is_taken_then_503_busy_with_retry_after() -> None:
    with LiveServer(ApiSettings(warm_up=False, cpu_workers=1, cpu_max_pending=1)) as live:
        live.app.state.engine.prompt_pipeline()  # built first: checking the batch must be the slow part
        key = make_key("moderate")
        batch = {"prompts": [f"a red kite number {i} over a beach" for i in range(64)]}
        results: list[int] = []
        worker = threading.Thread(target=lambda: results.append(
            live.client(key).post("/v1/prompts/check-batch", json=batch).status_code))
        worker.start()
        deadline = time.monotonic() + 30
        while live.app.state.offloader.pending == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        refused = live.client(key).post("/v1/prompts/check", json={"prompt": "a cat"})
        worker.join(120)
    body = assert_problem(refused, 503)
    assert body["type"].endswith("busy") and refused.headers["retry-after"] == "1"
    assert results == [200]


def test_when_the_servers_configuration_is_unusable_then_500_names_no_server_path(
        server: LiveServer, sample_video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_text("not a certificate\n")  # a ConfigError on the server, whose message names this path
    monkeypatch.setenv("VIDEOGUARD_TRUST_ANCHORS", str(anchors))
    response = server.client(make_key("moderate")).post("/v1/videos/verify", content=sample_video.read_bytes(),
                                                       headers={"content-type": "video/mp4"})
    body = assert_problem(response, 500)
    assert str(tmp_path) not in body["detail"] and "server log" in body["detail"]
