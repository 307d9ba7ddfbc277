"""The moderation API: the layer as an HTTP service (FastAPI, started by ``videoguard serve``).

``create_app(settings)`` builds the application; ``server.run`` serves it with uvicorn. Routers live
in ``guard.api.routers`` (one per area); the OpenAPI schema generated from the typed models in
``guard.api.schemas`` is the contract.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiSettings", "create_app"]


def __getattr__(name: str) -> Any:
    """Import FastAPI only when the app is asked for: ``videoguard keys`` and other commands start fast."""
    if name == "create_app":
        from guard.api.app import create_app

        return create_app
    if name == "ApiSettings":
        from guard.api.settings import ApiSettings

        return ApiSettings
    raise AttributeError(name)
