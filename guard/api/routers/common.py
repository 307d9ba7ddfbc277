"""What the routers share: app-state accessors and the documented error responses."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from guard.api.schemas import Problem

_DESCRIPTIONS = {400: "Bad input", 401: "Missing, unknown or revoked API key", 403: "The key lacks the scope",
                 404: "Not found (or not yours)", 408: "Upload too slow", 409: "Not ready yet",
                 413: "Too large", 415: "Not a readable video", 422: "Invalid request or blocked",
                 429: "Over the key's rate (see Retry-After)", 500: "Internal error",
                 503: "Busy or queue full (see Retry-After)", 504: "Request timed out"}

AUTH = (401, 403, 429)


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Error responses documented as problem details (moved to application/problem+json in the schema)."""
    return {code: {"model": Problem, "description": _DESCRIPTIONS.get(code, "Error")} for code in (*codes, 500)}


def state(request: Request) -> Any:
    return request.app.state


def note(request: Request, **fields: Any) -> None:
    """Facts for this request's access-log line (never prompt text unless the policy allows)."""
    request.state.log = {**getattr(request.state, "log", {}), **fields}
