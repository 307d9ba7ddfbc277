"""A real server for the API tests: uvicorn on 127.0.0.1 with a free port, in a background thread.

Each ``LiveServer`` serves its own app (own settings, limiter, job queue, metrics) against the
session's ``$VIDEOGUARD_HOME``; tests talk plain HTTP to it with httpx.
"""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from guard.api import ApiSettings, create_app
from guard.api.keys import KeyStore


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, settings: ApiSettings | None = None, **app_kwargs: Any) -> None:
        # In-thread prompt checks unless a test asks for worker processes (tests/api/test_prompt_processes.py):
        # the processes each load the prompt gate, seconds per server.
        self.app = create_app(settings or ApiSettings(warm_up=False, prompt_processes=0), **app_kwargs)
        self.port = free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None, access_log=False,
                                lifespan="on", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 60.0), **kwargs)


class ServerProcess:
    """``videoguard serve`` in a child process: the real entry point, isolated from the test's threads."""

    def __init__(self, **env: str) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "guard.cli", "serve", "--host", "127.0.0.1",
                                      "--port", str(self.port)], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"videoguard serve exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("videoguard serve did not become ready in 180 s")

    def __exit__(self, *_: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_key(*scopes: str, rate: float | None = 1000.0, name: str = "test") -> str:
    """A fresh key in the server's store (the same file ``videoguard keys create`` writes)."""
    _, secret = KeyStore().create(scopes, name=name, rate_per_s=rate)
    return secret


def factory_available(module: str, name: str) -> bool:
    try:
        return callable(getattr(importlib.import_module(module), name))
    except (ImportError, AttributeError):
        return False


def release_stages_available() -> bool:
    """True once the frame and watermark stages exist: then releases must succeed, not fail closed."""
    return factory_available("guard.frame_stage", "build_frame_stage") and factory_available(
        "guard.watermark_stage", "build_watermark_stage")


def prompt_stage_available() -> bool:
    return factory_available("guard.prompt_filter", "build_prompt_filter")


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer() as live:
        yield live


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The RFC 9457 shape every error must have."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:videoguard:problem:")
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body
