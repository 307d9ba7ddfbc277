"""Single-prompt checks in worker processes: the prompt gate's Python runs beside the event loop, not under its GIL.

Why: a prompt check is about 1.7 ms of MiniLM (which releases the GIL) and about as much again of Python that holds
it (normalization, blocklist, presidio and spaCy, the bias lexicons, verdict merging, the ledger record and the
rendered body). In one process that Python, the other CPU worker's Python and the event loop (~1 ms a request)
take turns on one GIL, so at a steady 200 checks/s a request waits behind the others' Python even while a core
is idle. Each worker process here builds its own prompt gate once and answers whole batches from
``guard.api.batcher``; the server process keeps the HTTP layer, keys, rate limits, jobs and metrics. The ledger
is shared through SQLite, whose write lock keeps the hash chain linear across processes (``guard.ledger``), so a
check recorded by a worker is the same record the server would have written.

Design, chosen after a ``ProcessPoolExecutor`` version hung under load: every worker is started up front (no
on-demand spawning racing concurrent submits) and owns one duplex pipe; a caller takes an idle worker, sends it
the batch and waits for the reply. ``spawn``, not ``fork``: the server already runs onnxruntime and torch
threads. A worker exits when its pipe closes, so a killed server leaves no orphans; a worker that dies fails
only the batch it held (its requests get 503 with Retry-After, nothing is released) and is restarted for the next.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from guard.api.engine import CheckedPrompt, Engine, check_and_render
from guard.api.problems import ApiProblem
from guard.errors import one_line
from guard.policy import Policy

log = logging.getLogger("guard.api.prompt_processes")
_CONTEXT = multiprocessing.get_context("spawn")


def _serve(conn: Connection, policy_data: dict[str, Any]) -> None:
    """A worker process: build the prompt gate, say so, then answer batches until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server shuts us down
    try:
        engine = Engine(Policy.model_validate(policy_data))
    except Exception as exc:  # reported as one line through the pipe, not as a traceback on stderr
        conn.send(one_line(exc))
        return
    engine.warm_up(prompt_only=True)
    conn.send(engine.error)
    if engine.error is not None:
        return
    while True:
        try:
            prompts = conn.recv()
        except (EOFError, OSError):  # the server closed the pipe or died
            return
        try:
            reply: list[CheckedPrompt | Exception] | BaseException = check_and_render(engine, prompts)
        except Exception as exc:  # sent back whole: the batcher answers every request of the batch with it
            reply = exc
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # a reply that does not pickle (an odd exception): its message instead
            conn.send(RuntimeError(f"prompt worker could not return its result: {type(exc).__name__}: {exc}"))


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection


class PromptProcesses:
    """``check_and_render`` over ``processes`` worker processes, each with its own prompt gate."""

    def __init__(self, policy: Policy, processes: int, *, batch_timeout_s: float = 120.0,
                 start_timeout_s: float = 600.0, on_discard: Callable[[], None] | None = None) -> None:
        if processes < 1:
            raise ValueError("PromptProcesses needs at least one process")
        self._policy_data = policy.model_dump(mode="json")
        self._processes = processes
        self._batch_timeout_s = batch_timeout_s
        self._start_timeout_s = start_timeout_s
        self._on_discard = on_discard
        self._idle: queue.Queue[_Worker | None] = queue.Queue()  # None: a slot whose worker must be (re)started
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._workers: list[_Worker] = []
        self.ready = False  # every worker has built its gate (``/readyz`` waits for it)
        self.error: str | None = None

    def start(self) -> None:
        """Start every worker and wait until each has built its gate; raise (and keep ``error``) if one could not."""
        with self._lock:
            if self._started:
                return
            self._started = True
        first_error: Exception | None = None
        spawned: list[_Worker | Exception] = []
        for _ in range(self._processes):  # all start loading at once
            try:
                spawned.append(self._spawn())
            except Exception as exc:
                spawned.append(exc)
        for worker in spawned:
            try:
                if isinstance(worker, Exception):
                    raise worker
                self._await_ready(worker)
                self._idle.put(worker)
            except Exception as exc:
                first_error = first_error or exc
                self._idle.put(None)  # the slot stays: the next batch that takes it tries to start a worker again
        if first_error is not None:
            self.error = one_line(first_error)
            raise first_error
        self.ready = True

    def __call__(self, prompts: list[str]) -> list[CheckedPrompt | Exception]:
        """Check one batch in a worker process (called from a CPU-worker thread, which waits on the pipe)."""
        if not self._started:
            self.start()
        worker = self._idle.get()
        try:
            if worker is None:
                worker = self._spawn()
                self._await_ready(worker)
            worker.conn.send(prompts)
            if not worker.conn.poll(self._batch_timeout_s):  # hung: killed, so it cannot hold the slot for good
                self._discard(worker)
                worker = None
                raise ApiProblem(504, "timeout", f"prompt check took longer than {self._batch_timeout_s:g} s; "
                                 "its worker process was restarted")
            reply = worker.conn.recv()
        except (EOFError, OSError) as exc:
            self._discard(worker)
            worker = None
            raise ApiProblem(503, "unavailable", "a prompt worker process died during the check; it is being "
                             "restarted, retry", headers={"Retry-After": "5"}) from exc
        except BaseException:
            self._discard(worker)
            worker = None
            raise
        finally:
            self._idle.put(worker)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Close every pipe (a worker exits when its pipe closes) and wait briefly; kill what is left."""
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.conn.close()
        for worker in workers:
            worker.process.join(timeout_s)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout_s)

    def pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._workers if w.process.pid is not None]

    # ------------------------------------------------------------------ internals
    def _spawn(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("prompt worker processes are shut down")
            parent, child = _CONTEXT.Pipe(duplex=True)
            # daemon: multiprocessing terminates it when the server exits normally; EOF on the pipe covers the rest
            process = _CONTEXT.Process(target=_serve, args=(child, self._policy_data), daemon=True,
                                       name="videoguard-prompt-worker")
            process.start()
            child.close()  # only the worker holds its end, so the worker sees EOF when the server goes
            worker = _Worker(process, parent)
            self._workers.append(worker)
            return worker

    def _await_ready(self, worker: _Worker) -> None:
        try:
            if not worker.conn.poll(self._start_timeout_s):
                raise RuntimeError(f"prompt worker process not ready after {self._start_timeout_s:g} s")
            error = worker.conn.recv()
        except (EOFError, OSError) as exc:
            self._discard(worker)
            raise RuntimeError("prompt worker process exited while building its prompt gate") from exc
        except BaseException:
            self._discard(worker)
            raise
        if error is not None:
            self._discard(worker)
            raise RuntimeError(f"prompt worker process failed to build its prompt gate: {error}")

    def _discard(self, worker: _Worker | None) -> None:
        """Kill and forget ``worker``; once only (a worker that failed to start is discarded by ``_await_ready``
        and then reached again by ``__call__``'s handler, and must be counted once)."""
        with self._lock:
            if worker is None or worker not in self._workers:
                return
            self._workers.remove(worker)
        worker.conn.close()
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
        if self._on_discard is not None:
            self._on_discard()
        log.warning("prompt worker process discarded", extra={"event": "prompt_worker_discarded",
                                                               "exitcode": worker.process.exitcode})
