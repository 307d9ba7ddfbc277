"""The application factory: state, middleware, problem handlers and routers in one place.

``create_app`` wires one process's shared objects into ``app.state``: the policy, the lazily built
pipelines (``Engine``), the key store, the rate limiter, the bounded CPU pool, the job queue and the
metrics. Tests call it with their own ``ApiSettings``; ``videoguard serve`` calls it through
``guard.api.server.run``.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from guard import __version__
from guard.api.access import AccessMiddleware
from guard.api.batcher import PromptBatcher
from guard.api.engine import Engine, check_and_render
from guard.api.housekeeping import remove_stale_files
from guard.api.jobs import Job, JobQueue
from guard.api.keys import KeyStore
from guard.api.metrics import Metrics
from guard.api.offload import Offloader
from guard.api.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from guard.api.prompt_processes import PromptProcesses
from guard.api.ratelimit import RateLimiter
from guard.api.routers import generations, health, prompts, videos
from guard.api.settings import ApiSettings
from guard.errors import VideoguardError
from guard.paths import subdir
from guard.policy import Policy, load_policy
from guard.verdict import Blocked

log = logging.getLogger("guard.api")

DESCRIPTION = """Moderation, release, generation and verification of generative video.

Authenticate with an API key in the `X-API-Key` header (`videoguard keys create --scope moderate`).
Errors are RFC 9457 problem details (`application/problem+json`)."""


def _generation_runner(engine: Engine, metrics: Metrics) -> Any:
    def run(job: Job) -> None:
        try:
            job.release = engine.generation_pipeline().generate(job.prompt or "", job.output, seed=job.seed,
                                                                num_inference_steps=job.num_inference_steps)
            job.verdicts, job.status = job.release.verdicts, "released"
        except Blocked as exc:
            job.verdicts, job.status = tuple(exc.verdicts), "blocked"
        except VideoguardError as exc:
            job.status, job.error = "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        finally:
            metrics.jobs.labels(status=job.status).inc()
            log.info("job finished", extra={"event": "job", "job_id": job.id, "key_id": job.owner,
                                            "status": job.status})

    return run


def _problem_media_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Error responses are problem documents: document them under application/problem+json."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                json_body = content.get("application/json", {})
                if json_body.get("schema", {}).get("$ref", "").endswith("/Problem"):
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    return schema


def create_app(settings: ApiSettings | None = None, *, policy: Policy | None = None, generator: Any = None) -> FastAPI:
    """The API. ``generator`` overrides the configured model (a GeneratorStage or a diffusers pipeline)."""
    settings = settings or ApiSettings.from_env()
    policy = policy or load_policy(settings.policy_path)
    metrics = Metrics()
    engine = Engine(policy, generator=generator)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        remove_stale_files(subdir("api"), settings.job_ttl_s)
        if settings.warm_up:
            threading.Thread(target=_warm_up, name="videoguard-warm-up", daemon=True).start()
        yield
        app.state.jobs.close()
        app.state.offloader.shutdown()
        if processes is not None:
            processes.shutdown()

    def _warm_up() -> None:
        engine.warm_up()
        if processes is not None:
            try:
                processes.start()
            except Exception as exc:  # recorded for /readyz and the log; prompt checks then answer with errors
                log.error("prompt worker processes failed", extra={"event": "warm_up_failed", "error": str(exc)})

    app = FastAPI(title="videoguard", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.policy = policy
    app.state.engine = engine
    app.state.metrics = metrics
    app.state.keys = KeyStore()
    app.state.limiter = RateLimiter()
    app.state.offloader = Offloader(settings.cpu_workers, settings.cpu_max_pending)
    processes = PromptProcesses(policy, settings.prompt_processes, batch_timeout_s=settings.request_timeout_s,
                                on_discard=metrics.prompt_workers_replaced.inc) if settings.prompt_processes else None
    app.state.prompt_processes = processes
    app.state.prompt_batcher = PromptBatcher(
        processes or functools.partial(check_and_render, engine), app.state.offloader,
        window_ms=settings.prompt_batch_window_ms, max_batch=settings.prompt_batch_max,
        concurrency=settings.cpu_workers, max_queued=settings.cpu_max_pending,
        batch_timeout_s=settings.request_timeout_s, on_batch=metrics.prompt_batch_size.observe)
    app.state.jobs = JobQueue(_generation_runner(engine, metrics), workers=settings.job_workers,
                              capacity=settings.job_queue_size, ttl_s=settings.job_ttl_s, root=subdir("api") / "jobs",
                              on_change=metrics.queue_depth.set)
    install_problem_handlers(app)
    for router in (health.router, prompts.router, videos.router, generations.router):
        app.include_router(router)
    app.add_middleware(AccessMiddleware, metrics=metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            app.openapi_schema = _problem_media_types(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
