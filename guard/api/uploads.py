"""Uploads streamed to disk with the size limit enforced while the bytes arrive.

The body is never held in memory: chunks from ``request.stream()`` go straight to a temporary file
under ``$VIDEOGUARD_HOME/api/uploads`` and the count is checked on every chunk, so an oversized
upload is refused (413) as soon as it crosses the limit, and a declared ``Content-Length`` over the
limit is refused before a byte is read. The file is probed (container, stream, resolution,
duration) before any stage sees it, so a corrupt upload is a 4xx, not a stage error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import Request

from guard.api.metrics import Metrics
from guard.api.problems import ApiProblem
from guard.paths import subdir

#: Content types accepted for uploads, and the suffix the stored file gets (the readers go by suffix).
SUFFIX_BY_TYPE = {"video/mp4": ".mp4", "application/octet-stream": ".mp4", "video/quicktime": ".mov",
                  "video/x-msvideo": ".avi", "video/webm": ".webm", "video/x-matroska": ".mkv"}
VIDEO_BODY = {"required": True, "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                            for t in SUFFIX_BY_TYPE},
              "description": "The video file as the raw request body (curl --data-binary @clip.mp4)."}


def uploads_dir() -> Path:
    path = subdir("api") / "uploads"
    path.mkdir(exist_ok=True, mode=0o700)
    return path


def _suffix(request: Request) -> str:
    content_type = (request.headers.get("content-type") or "application/octet-stream").split(";")[0].strip().lower()
    suffix = SUFFIX_BY_TYPE.get(content_type)
    if suffix is None:
        raise ApiProblem(415, "unsupported-media",
                         f"content type {content_type!r} is not a video; use one of {', '.join(SUFFIX_BY_TYPE)}")
    return suffix


async def _receive(request: Request, out: int, limit: int, metrics: Metrics) -> int:
    total = 0
    async for chunk in request.stream():
        if not chunk:
            continue
        total += len(chunk)
        if total > limit:
            metrics.uploads_rejected.inc()
            raise ApiProblem(413, "too-large", f"upload is over the limit of {limit} bytes")
        os.write(out, chunk)
    return total


@contextlib.asynccontextmanager
async def received_video(request: Request, limit: int, timeout_s: float, metrics: Metrics) -> AsyncIterator[Path]:
    """``async with received_video(...) as path``: the upload on disk, deleted afterwards."""
    suffix = _suffix(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        metrics.uploads_rejected.inc()
        raise ApiProblem(413, "too-large", f"upload of {declared} bytes is over the limit of {limit} bytes")
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=uploads_dir())
    path = Path(name)
    request.state.upload_path = name  # error messages name "the upload", not the server's file
    try:
        try:
            total = await asyncio.wait_for(_receive(request, fd, limit, metrics), timeout_s)
        except TimeoutError as exc:
            raise ApiProblem(408, "request-timeout", f"upload not received within {timeout_s:g} s") from exc
        finally:
            os.close(fd)
        if total == 0:
            raise ApiProblem(400, "bad-request", "the request body is empty: send the video as the body")
        metrics.upload_bytes.inc(total)
        yield path
    finally:
        path.unlink(missing_ok=True)
