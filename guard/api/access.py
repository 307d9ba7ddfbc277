"""One pure-ASGI middleware for every request: a request id, the access log line and the metrics.

Pure ASGI (not ``BaseHTTPMiddleware``) so request bodies stream through untouched and the per-request
cost stays in microseconds.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guard.api.metrics import Metrics

log = logging.getLogger("guard.api.access")

REQUEST_ID_HEADER = b"x-request-id"


class AccessMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status_box = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method=method, route=route, status=str(status_box[0])).inc()
            self.metrics.latency.labels(method=method, route=route).observe(elapsed)
            extra: dict[str, Any] = {"event": "request", "request_id": request_id, "method": method,
                                     "route": route, "status": status_box[0], "ms": round(elapsed * 1000, 2),
                                     "key_id": scope["state"].get("key_id"), **scope["state"].get("log", {})}
            if route not in ("/healthz", "/metrics"):
                log.info("request", extra=extra)
