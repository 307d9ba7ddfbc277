"""The generation job queue: bounded, owned by the key that asked, results written atomically.

A job is queued in memory and run by a fixed number of worker threads; ``capacity`` bounds the
jobs queued or running together, and a submit past it raises ``QueueFull`` (the API answers 503 with
``Retry-After`` from the recent mean job time). Each job belongs to one API key: lookups by another
key find nothing, so a job id is no capability. The released file is written by the pipeline into
the owner's directory atomically (temporary file, then rename); finished jobs and their files are
forgotten after ``ttl_s``. The prompt is held only until the job runs.
"""

from __future__ import annotations

import math
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from guard.pipeline import Release
from guard.verdict import Decision, Verdict

FINISHED = frozenset({"released", "blocked", "failed"})


class QueueFull(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"job queue full; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass
class Job:
    id: str
    owner: str
    prompt: str | None
    seed: int
    num_inference_steps: int | None
    output: Path
    status: str = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    release: Release | None = None
    verdicts: tuple[Verdict, ...] = ()
    error: str | None = None

    @property
    def decision(self) -> Decision | None:
        if self.release is not None:
            return self.release.decision
        if self.status == "blocked":
            return Decision.BLOCK
        return None


class JobQueue:
    def __init__(self, run: Callable[[Job], None], *, workers: int, capacity: int, ttl_s: float,
                 root: Path, on_change: Callable[[int], None] | None = None) -> None:
        self._run = run
        self._capacity = capacity
        self._ttl_s = ttl_s
        self._root = root
        self._on_change = on_change or (lambda depth: None)
        self._jobs: dict[str, Job] = {}
        self._active = 0  # queued + running
        self._mean_s = 30.0  # a guess until the first job finishes
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._threads = [threading.Thread(target=self._work, name=f"videoguard-job-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------------ API side
    def submit(self, owner: str, prompt: str, seed: int, num_inference_steps: int | None) -> Job:
        self._sweep()
        with self._lock:
            if self._active >= self._capacity:
                raise QueueFull(max(1, math.ceil(self._mean_s)))
            job_id = secrets.token_hex(16)
            job = Job(job_id, owner, prompt, seed, num_inference_steps, self._root / owner / f"{job_id}.mp4")
            self._jobs[job_id] = job
            self._active += 1
            depth = self._active
        self._on_change(depth)
        self._queue.put(job)
        return job

    def get(self, job_id: str, owner: str) -> Job | None:
        """The job, only for the key that created it."""
        job = self._jobs.get(job_id)
        if job is None or not secrets.compare_digest(job.owner, owner):
            return None
        return job

    @property
    def depth(self) -> int:
        return self._active

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)

    # ------------------------------------------------------------------ worker side
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            job.status, job.started_at = "running", time.time()
            try:
                self._run(job)
            except Exception as exc:  # the runner maps known outcomes; anything else is a failed job
                job.status, job.error = "failed", f"internal error ({type(exc).__name__})"
            finally:
                job.prompt = None
                job.finished_at = time.time()
                with self._lock:
                    self._active -= 1
                    self._mean_s = 0.8 * self._mean_s + 0.2 * (job.finished_at - job.started_at)
                    depth = self._active
                self._on_change(depth)

    def _sweep(self) -> None:
        cutoff = time.time() - self._ttl_s
        with self._lock:
            stale = [j for j in self._jobs.values() if j.status in FINISHED and (j.finished_at or 0) < cutoff]
            for job in stale:
                del self._jobs[job.id]
        for job in stale:
            job.output.unlink(missing_ok=True)
