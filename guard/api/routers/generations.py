"""Generation as an asynchronous job: create (202), poll, fetch the video.

Jobs belong to the key that created them: another key gets 404 for the job and its video, the same
answer as for an id that never existed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse

from guard.api.auth import require
from guard.api.jobs import Job, QueueFull
from guard.api.keys import ApiKey
from guard.api.problems import ApiProblem
from guard.api.routers.common import AUTH, note, problems, state
from guard.api.schemas import GenerateRequest, JobOut, ReleaseOut, public_verdict
from guard.errors import InputError, InputTooLarge
from guard.policy import Policy

router = APIRouter(prefix="/v1/generations", tags=["generations"])
GenerateKey = Annotated[ApiKey, Depends(require("generate"))]



def _validate_prompt(prompt: str, policy: Policy) -> None:
    """The pipeline's own checks, early: a bad prompt is a 400/413 now, not a failed job later."""
    if not prompt.strip():
        raise InputError("prompt is empty")
    if len(prompt) > policy.limits.prompt_max_chars:
        raise InputTooLarge(f"prompt is {len(prompt)} characters, over the limit of {policy.limits.prompt_max_chars}")


def job_out(job: Job, policy: Policy, video_url: str) -> JobOut:
    release = job.release
    return JobOut(id=job.id, status=job.status, created_at=job.created_at,  # type: ignore[arg-type]
                  started_at=job.started_at, finished_at=job.finished_at, decision=job.decision,
                  release=ReleaseOut(release_id=release.release_id, request_id=release.request_id,
                                     decision=release.decision, provenance=release.provenance_state,
                                     ledger_seq=release.ledger_seq) if release is not None else None,
                  verdicts=[public_verdict(v, policy) for v in job.verdicts], error=job.error,
                  video_url=video_url if job.status == "released" else None)


def _owned(request: Request, job_id: str, key: ApiKey) -> Job:
    job = state(request).jobs.get(job_id, key.key_id)
    if job is None:
        raise ApiProblem(404, "not-found", f"no generation job {job_id} for this key")
    return job


@router.post("", status_code=202, response_model=JobOut, summary="Start a generation job",
             responses=problems(400, *AUTH, 413, 422, 503))
async def create_job(request: Request, response: Response, body: GenerateRequest,
                     key: GenerateKey) -> JobOut:
    app = state(request)
    _validate_prompt(body.prompt, app.policy)
    try:
        job = app.jobs.submit(key.key_id, body.prompt, body.seed, body.num_inference_steps)
    except QueueFull as exc:
        app.metrics.queue_full.inc()
        raise ApiProblem(503, "queue-full", str(exc), headers={"Retry-After": str(exc.retry_after_s)}) from exc
    note(request, job_id=job.id)
    url = str(request.url_for("job_video", job_id=job.id).path)
    response.headers["Location"] = str(request.url_for("get_job", job_id=job.id).path)
    return job_out(job, app.policy, url)


@router.get("/{job_id}", response_model=JobOut, summary="Poll a generation job",
            responses=problems(*AUTH, 404, 422))
async def get_job(request: Request, job_id: str, key: GenerateKey) -> JobOut:
    job = _owned(request, job_id, key)
    return job_out(job, state(request).policy, str(request.url_for("job_video", job_id=job.id).path))


@router.get("/{job_id}/video", response_class=FileResponse, summary="Fetch a released generation",
            responses={200: {"content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "The released, watermarked, signed MP4"},
                       **problems(*AUTH, 404, 409, 422)})
async def job_video(request: Request, job_id: str, key: GenerateKey) -> FileResponse:
    job = _owned(request, job_id, key)
    if job.status != "released" or job.release is None:
        raise ApiProblem(409, "not-ready", f"job {job_id} is {job.status}; the video exists only once released")
    if not job.output.is_file():
        raise ApiProblem(404, "not-found", f"the video of job {job_id} has expired")
    return FileResponse(job.output, media_type="video/mp4", filename=f"{job.release.release_id}.mp4",
                        headers={"X-Videoguard-Release-Id": job.release.release_id})
