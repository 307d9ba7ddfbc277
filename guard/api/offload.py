"""CPU-bound work off the event loop: a bounded thread pool with admission control and timeouts.

The event loop only moves bytes; checks, scans, releases and verifications run in ``workers``
threads. At most ``max_pending`` calls may be running or waiting: past that the request is refused
with 503 and ``Retry-After`` instead of queueing without bound. A call that exceeds the request
timeout answers 504; its thread finishes in the background and its result is discarded.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from guard.api.problems import ApiProblem

T = TypeVar("T")


class Offloader:
    def __init__(self, workers: int, max_pending: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="videoguard-cpu")
        self._max_pending = max_pending
        self._pending = 0
        self._lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float, **kwargs: Any) -> T:
        with self._lock:
            if self._pending >= self._max_pending:
                raise ApiProblem(503, "busy", f"server busy: {self._pending} requests waiting for a worker",
                                 headers={"Retry-After": "1"})
            self._pending += 1
        future = asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except TimeoutError as exc:
            raise ApiProblem(504, "timeout", f"request took longer than {timeout_s:g} s") from exc

    def _release(self, future: asyncio.Future[Any]) -> None:
        with self._lock:
            self._pending -= 1
        if not future.cancelled():
            future.exception()  # retrieved here so a timed-out call's error is not reported as unhandled

    @property
    def pending(self) -> int:
        return self._pending

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
