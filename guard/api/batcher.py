"""Micro-batching of concurrent prompt checks: many HTTP requests, one batched call of the prompt gate.

A prompt check is mostly one MiniLM forward pass and a few rule checks. Run one request at a time, the
model call per prompt costs about as much as a batch of several prompts (short prompts leave a batch of 16
mostly fixed overhead), and every check pays a ledger transaction. So the requests that arrive while the
CPU workers are busy are gathered and checked together through ``GuardedPipeline.check_prompts`` (the prompt
gate's ``check_batch`` and one ledger transaction), which gives each request the verdict it would get
alone.

Scheduling, all on the event loop (no locks): a request joins the queue. When fewer than ``concurrency``
batches are running, a batch starts at once if ``max_batch`` prompts are waiting, else after ``window_ms``
(a free worker waits that long for company; 0 = start at once). When a batch finishes and prompts are
waiting, the next batch starts immediately: those prompts have already waited a whole batch. So under a
light load a prompt waits at most ``window_ms``, and under a heavy load batches grow by themselves
(up to ``max_batch``) while latency stays near two batch times. Past ``max_queued`` waiting prompts the
request is refused with 503 and Retry-After, as the CPU pool does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from guard.api.offload import Offloader
from guard.api.problems import ApiProblem

R = TypeVar("R")


class PromptBatcher(Generic[R]):
    #: ``run(prompts) -> results``: per prompt its result (the API's: a verdict and its rendered response), or the
    #: exception to raise for that prompt alone.
    def __init__(self, run: Callable[[list[str]], Sequence[R | Exception]], offloader: Offloader, *,
                 window_ms: float, max_batch: int, concurrency: int, max_queued: int, batch_timeout_s: float,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self._run = run
        self._offloader = offloader
        self._window_s = window_ms / 1000.0
        self._max_batch = max_batch
        self._concurrency = concurrency
        self._max_queued = max_queued
        self._batch_timeout_s = batch_timeout_s
        self._on_batch = on_batch
        self._queue: list[tuple[str, asyncio.Future[R]]] = []
        self._running = 0
        self._timer: asyncio.TimerHandle | None = None

    async def check(self, prompt: str, *, timeout_s: float) -> R:
        """The run's result for ``prompt`` (the prompt gate's verdict, recorded in the ledger), checked with its
        neighbours."""
        if len(self._queue) >= self._max_queued:
            raise ApiProblem(503, "busy", f"server busy: {len(self._queue)} prompts waiting for a check",
                             headers={"Retry-After": "1"})
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((prompt, future))
        self._schedule()
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except TimeoutError as exc:
            raise ApiProblem(504, "timeout", f"request took longer than {timeout_s:g} s") from exc

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _schedule(self) -> None:
        if not self._queue or self._running >= self._concurrency:
            return  # a running batch starts the next one when it finishes
        if len(self._queue) >= self._max_batch or self._window_s <= 0:
            self._start()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._window_s, self._window_closed)

    def _window_closed(self) -> None:
        self._timer = None
        if self._queue and self._running < self._concurrency:
            self._start()

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
        self._running += 1
        asyncio.get_running_loop().create_task(self._run_batch(batch))

    async def _run_batch(self, batch: list[tuple[str, asyncio.Future[R]]]) -> None:
        try:
            if self._on_batch is not None:
                self._on_batch(len(batch))
            results = await self._offloader.run(self._run, [p for p, _ in batch], timeout_s=self._batch_timeout_s)
            if len(results) != len(batch):
                raise RuntimeError(f"prompt batch returned {len(results)} results for {len(batch)} prompts")
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue  # its request already timed out
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        except Exception as exc:  # the whole batch failed (busy pool, timeout, a bug): every request gets it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        finally:
            self._running -= 1
            if self._queue and self._running < self._concurrency:
                self._start()
            for _, future in batch:
                if future.done() and not future.cancelled():
                    future.exception()  # retrieved: a timed-out request's error is not reported as unhandled
