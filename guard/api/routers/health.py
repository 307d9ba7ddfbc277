"""Liveness, readiness and Prometheus metrics (no key needed: they reveal no content)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from guard import __version__
from guard.api.routers.common import state
from guard.api.schemas import HealthOut, ReadyOut, StageStatus

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="Liveness: the process answers")
async def healthz() -> HealthOut:
    return HealthOut(status="ok", version=__version__)


@router.get("/readyz", response_model=ReadyOut, summary="Readiness: the stages are built (503 until then)",
            responses={503: {"model": ReadyOut, "description": "Stages not built yet, or the build failed"}})
async def readyz(request: Request) -> JSONResponse:
    engine = state(request).engine
    processes = state(request).prompt_processes
    ready = engine.ready and (processes is None or processes.ready)
    error = engine.error or (processes.error if processes is not None else None)
    states = engine.stage_states()
    for name, value in states.items():
        state(request).metrics.stages_loaded.labels(stage=name).set(1.0 if value == "loaded" else 0.0)
    body = ReadyOut(ready=ready, error=error,
                    stages=[StageStatus(name=name, state=value) for name, value in states.items()])  # type: ignore[arg-type]
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                             "description": "Prometheus text format"}})
async def metrics(request: Request) -> Response:
    return Response(generate_latest(state(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
