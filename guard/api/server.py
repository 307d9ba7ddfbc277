"""``videoguard serve``: the API on uvicorn, one process, JSON logs."""

from __future__ import annotations

import os
import sys

import uvicorn
from threadpoolctl import threadpool_limits

from guard.api.app import create_app
from guard.api.logs import configure_logging
from guard.api.settings import ApiSettings


def configure_process(settings: ApiSettings) -> None:
    """Process-wide knobs of the serving process: the interpreter's switch interval and numpy's BLAS threads."""
    if settings.switch_interval_ms is not None:
        sys.setswitchinterval(settings.switch_interval_ms / 1000.0)
    if settings.blas_threads is not None:
        threadpool_limits(limits=settings.blas_threads, user_api="blas")  # for the process's life (see the setting)


def run(host: str = "127.0.0.1", port: int = 8080, policy_path: str | os.PathLike[str] | None = None) -> None:
    configure_logging(os.environ.get("VIDEOGUARD_LOG_LEVEL", "INFO"))
    settings = ApiSettings.from_env(policy_path=str(policy_path) if policy_path is not None else None)
    configure_process(settings)
    app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, timeout_keep_alive=30,
                timeout_graceful_shutdown=10)
