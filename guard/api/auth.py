"""Authentication, scopes and rate limits as one FastAPI dependency per scope.

``Depends(require("moderate"))`` answers 401 without a valid key (missing, unknown or revoked), 403
when the key lacks the scope, and 429 with ``Retry-After`` when the key is over its rate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from guard.api.keys import ApiKey
from guard.api.problems import ApiProblem

API_KEY_HEADER = "X-API-Key"
api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                              description="An API key from `videoguard keys create --scope ...`.")


def require(scope: str) -> Callable[..., Awaitable[ApiKey]]:
    async def dependency(request: Request, presented: Annotated[str | None, Security(api_key_header)]) -> ApiKey:
        state = request.app.state
        if not presented:
            raise ApiProblem(401, "unauthorized", f"missing API key: send it in the {API_KEY_HEADER} header",
                             headers={"WWW-Authenticate": API_KEY_HEADER})
        key = state.keys.authenticate(presented)
        if key is None:
            raise ApiProblem(401, "unauthorized", "invalid or revoked API key",
                             headers={"WWW-Authenticate": API_KEY_HEADER})
        request.state.key_id = key.key_id
        if not key.allows(scope):
            raise ApiProblem(403, "forbidden", f"API key {key.key_id} lacks the '{scope}' scope")
        wait = state.limiter.acquire(key.key_id, key.rate_per_s or state.settings.default_rate_per_s)
        if wait:
            state.metrics.rate_limited.labels(scope=scope).inc()
            raise ApiProblem(429, "rate-limited", f"API key {key.key_id} is over its rate; retry in {wait} s",
                             headers={"Retry-After": str(wait)})
        return key

    dependency.__name__ = f"require_{scope}"
    return dependency
