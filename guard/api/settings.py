"""Server settings: limits, pools and timeouts of the HTTP layer (the policy holds everything else).

Every field can be set from the environment as ``VIDEOGUARD_API_<FIELD>`` (upper case), so a
deployment configures the server without code; tests build an ``ApiSettings`` directly.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from guard.errors import ConfigError

ENV_PREFIX = "VIDEOGUARD_API_"


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy_path: str | None = None
    #: Upload cap in bytes; ``None`` uses the policy's ``limits.video_max_bytes``.
    max_upload_bytes: int | None = Field(default=None, gt=0)
    #: Seconds a client may take to send an upload before it gets 408.
    upload_timeout_s: float = Field(default=300.0, gt=0)
    #: Seconds a synchronous request (prompt check, scan, release, verify) may take before 504.
    request_timeout_s: float = Field(default=120.0, gt=0)
    #: Threads for CPU-bound work of synchronous requests, and how many requests may wait for them.
    cpu_workers: int = Field(default=2, ge=1)
    cpu_max_pending: int = Field(default=64, ge=1)
    #: Concurrent single-prompt checks are checked together (``guard.api.batcher``): at most this many per
    #: batch (1 turns batching off) ...
    prompt_batch_max: int = Field(default=16, ge=1)
    #: ... and a free worker waits this many milliseconds for more prompts before starting a partial batch
    #: (0: start at once; prompts that arrive while the workers are busy are batched anyway).
    prompt_batch_window_ms: float = Field(default=2.0, ge=0, le=1000)
    #: Worker processes for single-prompt checks, each with its own prompt gate (``guard.api.prompt_processes``:
    #: the gate's Python then does not wait for the event loop's GIL; open-loop p99 at 200 checks/s on 2 cores
    #: fell from 45-51 ms to 29-32 ms, benchmarks/RESULTS.md); 0 checks in the server's CPU threads.
    prompt_processes: int = Field(default=2, ge=0)
    #: Generation jobs: worker threads (0 holds jobs queued, for maintenance) and queue capacity.
    job_workers: int = Field(default=1, ge=0)
    job_queue_size: int = Field(default=8, ge=1)
    #: Finished jobs (and their files) are forgotten after this many seconds.
    job_ttl_s: float = Field(default=3600.0, gt=0)
    #: Requests per second for keys created without ``--rate``; the bucket holds one second's worth.
    default_rate_per_s: float = Field(default=20.0, gt=0)
    #: Build the pipelines in a background thread at startup (``/readyz`` turns 200 when done).
    warm_up: bool = True
    #: ``sys.setswitchinterval`` for the serving process, in milliseconds (``None``: Python's 5 ms). A CPU
    #: worker running the gate's Python parts holds the GIL up to this long while the event loop waits.
    switch_interval_ms: float | None = Field(default=None, gt=0, le=100)
    #: numpy's BLAS threads in the serving process (``None``: the library's default, one per core). The BLAS calls on
    #: the serving path are small (watermark detection's 48 x 1024 products); with a second thread OpenBLAS spins
    #: against the other requests' work: detect's median went from 25 to 73-80 ms with one core busy elsewhere,
    #: 25 ms at one thread (256x256, 48 frames; benchmarks/RESULTS.md, issue 6, eleventh session).
    blas_threads: int | None = Field(default=1, ge=1)

    @classmethod
    def from_env(cls, **overrides: Any) -> ApiSettings:
        """Fields from ``VIDEOGUARD_API_*`` variables, then ``overrides`` (the CLI's flags)."""
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = os.environ.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"invalid API setting {ENV_PREFIX}{where.upper()}: {first['msg']}") from exc
