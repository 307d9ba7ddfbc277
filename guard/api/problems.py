"""Errors as RFC 9457 problem details (``application/problem+json``), never a stack trace.

Every failure the API reports goes through ``problem_response``: a stable ``type`` URI per kind of
problem, the HTTP ``title``, a one-line ``detail`` that names the bad value, the request id, and
extension members where they help (the verdicts of a blocked release, validation errors).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from guard.errors import ConfigError, VideoguardError
from guard.verdict import Blocked

log = logging.getLogger("guard.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:videoguard:problem:"


class ApiProblem(Exception):
    """Raised anywhere in a request to answer with a problem document."""

    def __init__(self, status: int, kind: str, detail: str, *, headers: Mapping[str, str] | None = None,
                 **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(request: Request, status: int, kind: str, detail: str, *,
                     headers: Mapping[str, str] | None = None, **extensions: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_BASE + kind, "title": _title(status), "status": status,
                            "detail": detail, "instance": request.url.path,
                            "request_id": getattr(request.state, "request_id", None)}
    body.update(extensions)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


_KIND_BY_STATUS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
                   405: "method-not-allowed", 406: "not-acceptable", 408: "request-timeout", 409: "conflict",
                   413: "too-large", 415: "unsupported-media", 422: "invalid-request", 429: "rate-limited",
                   500: "internal", 503: "unavailable", 504: "timeout"}


def _kind(status: int) -> str:
    return _KIND_BY_STATUS.get(status, "http-error")


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(request, exc.status, exc.kind, exc.detail, headers=exc.headers, **exc.extensions)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _title(exc.status_code)
        return problem_response(request, exc.status_code, _kind(exc.status_code), detail,
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")),
                   "type": str(err.get("type", ""))} for err in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"])
        return problem_response(request, 422, "invalid-request", f"{where}: {first['msg']}" if where
                                else first["msg"], errors=errors)

    @app.exception_handler(Blocked)
    async def _blocked(request: Request, exc: Blocked) -> JSONResponse:
        from guard.api.schemas import public_verdict

        policy = request.app.state.policy
        return problem_response(request, 422, "blocked", str(exc), stage=exc.verdict.stage,
                                decision=exc.verdict.decision.value,
                                verdicts=[public_verdict(v, policy).model_dump(mode="json") for v in exc.verdicts])

    @app.exception_handler(VideoguardError)
    async def _videoguard(request: Request, exc: VideoguardError) -> JSONResponse:
        status = exc.http_status
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        upload = getattr(request.state, "upload_path", None)
        if upload:
            detail = detail.replace(f"'{upload}'", "the upload").replace(upload, "the upload")
        if status >= 500:
            log.error("request failed", extra={"event": "error", "error": type(exc).__name__, "detail": detail})
        if isinstance(exc, ConfigError):  # the server's own set-up (keys, anchors, ledger): its paths stay in its log
            detail = "the server's configuration is unusable; see the server log for the request id"
        return problem_response(request, status, _kind(status), detail)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", extra={"event": "error", "error": type(exc).__name__})
        return problem_response(request, 500, "internal", "internal error; see the server log for the request id")
