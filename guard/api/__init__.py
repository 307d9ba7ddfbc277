"""The moderation API: the layer as an HTTP service (FastAPI, started by ``videoguard serve``).

``create_app(settings)`` builds the application; ``server.run`` serves it with uvicorn. Routers live
in ``guard.api.routers`` (one per area); the OpenAPI schema generated from the typed models in
``guard.api.schemas`` is the contract.
"""

from guard.api.app import create_app
from guard.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
