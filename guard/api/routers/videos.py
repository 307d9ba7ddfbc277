"""Uploaded videos: scan (frame classifiers), release (scan, watermark, sign, return the file) and
verify (C2PA state, watermark, credentials recovered through the watermark).

Every upload is streamed to disk under the size limit (``guard.api.uploads``) and probed before any
stage runs, so a corrupt or oversized file is a 4xx problem document. The work runs in the bounded
thread pool with the request timeout.
"""

from __future__ import annotations

import importlib
import uuid
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from guard.api.auth import require
from guard.api.engine import Engine
from guard.api.routers.common import AUTH, note, problems, state
from guard.api.schemas import VerdictOut, VerifyOut, public_verdict
from guard.api.uploads import VIDEO_BODY, received_video
from guard.paths import subdir
from guard.pipeline import Release
from guard.policy import Policy
from guard.verdict import Decision, Verdict
from guard.verification import verify_video
from guard.video_io import probe_fps

router = APIRouter(prefix="/v1/videos", tags=["videos"], dependencies=[Depends(require("moderate"))])

UPLOAD_ERRORS = (400, *AUTH, 408, 413, 415, 503, 504)


def upload_limit(request: Request) -> int:
    app = state(request)
    return app.settings.max_upload_bytes or app.policy.limits.video_max_bytes


def _scan(engine: Engine, path: Path) -> Verdict:
    """The frame classifiers over the file, streamed, with the process's one frame stage."""
    probe_fps(path, engine.policy.limits)
    stage = engine.release_pipeline().frames
    try:
        scan_file = importlib.import_module("guard.frame_stage").scan_file
    except (ImportError, AttributeError) as exc:  # fail closed: no classifier, no pass
        return Verdict("frames", Decision.ERROR, reasons=(f"frame classifiers unavailable: {exc}",))
    if stage is None:
        return Verdict("frames", Decision.ERROR, reasons=("frame stage not configured",))
    return scan_file(path, engine.policy, stage=stage)


def _release(request: Request, path: Path, output: Path) -> Release:
    probe_fps(path, state(request).policy.limits)
    return state(request).engine.release_pipeline().release(path, output)


def _verify(path: Path, policy: Policy) -> VerifyOut:
    probe_fps(path, policy.limits)
    data = verify_video(path, policy).to_dict()
    data.pop("path", None)  # the server's temporary file name means nothing to the caller
    return VerifyOut.model_validate(data)


@router.post("/scan", response_model=VerdictOut, summary="Run the frame classifiers over an uploaded video",
             openapi_extra={"requestBody": VIDEO_BODY}, responses=problems(*UPLOAD_ERRORS))
async def scan(request: Request) -> VerdictOut:
    app = state(request)
    async with received_video(request, upload_limit(request), app.settings.upload_timeout_s, app.metrics) as path:
        verdict = await app.offloader.run(_scan, app.engine, path, timeout_s=app.settings.request_timeout_s)
    app.metrics.verdicts.labels(endpoint="scan", decision=verdict.decision.value).inc()
    note(request, decision=verdict.decision.value)
    return public_verdict(verdict, app.policy)


@router.post("/release", summary="Scan, watermark and sign an uploaded video; answers with the released MP4",
             openapi_extra={"requestBody": VIDEO_BODY}, response_class=FileResponse,
             responses={200: {"content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
                              "description": "The released MP4; X-Videoguard-* headers carry the release id, "
                                             "decision and provenance state.",
                              "headers": {"X-Videoguard-Release-Id": {"schema": {"type": "string"}},
                                          "X-Videoguard-Decision": {"schema": {"type": "string"}}}},
                        **problems(*UPLOAD_ERRORS, 422)})
async def release(request: Request) -> FileResponse:
    app = state(request)
    output = subdir("api") / "releases" / f"{uuid.uuid4().hex}.mp4"
    output.parent.mkdir(exist_ok=True, mode=0o700)
    async with received_video(request, upload_limit(request), app.settings.upload_timeout_s, app.metrics) as path:
        try:
            result = await app.offloader.run(_release, request, path, output, timeout_s=app.settings.request_timeout_s)
        except Exception:
            app.metrics.verdicts.labels(endpoint="release", decision="block").inc()
            raise
    app.metrics.verdicts.labels(endpoint="release", decision=result.decision.value).inc()
    note(request, decision=result.decision.value, release_id=result.release_id)
    headers = {"X-Videoguard-Release-Id": result.release_id, "X-Videoguard-Request-Id": result.request_id,
               "X-Videoguard-Decision": result.decision.value, "X-Videoguard-Provenance": result.provenance_state,
               "X-Videoguard-Ledger-Seq": str(result.ledger_seq),
               "X-Videoguard-Stages": ",".join(f"{v.stage}={v.decision.value}" for v in result.verdicts)}
    return FileResponse(output, media_type="video/mp4", headers=headers, filename=f"{result.release_id}.mp4",
                        background=BackgroundTask(output.unlink, missing_ok=True))


@router.post("/verify", response_model=VerifyOut, summary="Verify an uploaded video's credentials and watermark",
             openapi_extra={"requestBody": VIDEO_BODY}, responses=problems(*UPLOAD_ERRORS))
async def verify(request: Request) -> VerifyOut:
    app = state(request)
    async with received_video(request, upload_limit(request), app.settings.upload_timeout_s, app.metrics) as path:
        report = await app.offloader.run(_verify, path, app.policy, timeout_s=app.settings.request_timeout_s)
    note(request, state=report.state)
    return report
