"""The pipelines of one server process, built once, lazily, and shared by every request.

Three views over one set of stages: the prompt gate alone (cheap: what prompt checks need), the
release pipeline (frames, watermark, signer) and the generation pipeline (the same plus the model).
Each is built on first use or by the startup warm-up thread, under a lock, so ``/healthz`` answers at
once and models load exactly once. A stage whose factory is unavailable stays missing and the
pipeline fails closed, as everywhere else.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import logging
import threading
from typing import Any

from guard.api.schemas import public_verdict_json
from guard.assembly import build_pipeline, build_prompt_stage
from guard.errors import InputError, one_line
from guard.ledger import Ledger
from guard.pipeline import GuardedPipeline
from guard.policy import Policy
from guard.verdict import Decision, Verdict

log = logging.getLogger("guard.api.engine")

STAGE_NAMES = ("prompt", "frames", "watermark", "signer", "generator")


def _generator_factory() -> Any:
    try:
        return importlib.import_module("guard.generator_stage").build_generator
    except (ImportError, AttributeError):
        return None


class Engine:
    def __init__(self, policy: Policy, *, generator: Any = None) -> None:
        self.policy = policy
        self._generator_override = generator
        self._lock = threading.RLock()
        self._ledger: Ledger | None = None
        self._prompt: GuardedPipeline | None = None
        self._release: GuardedPipeline | None = None
        self._generation: GuardedPipeline | None = None
        self.error: str | None = None

    def ledger(self) -> Ledger:
        with self._lock:
            if self._ledger is None:
                self._ledger = Ledger()
            return self._ledger

    def prompt_pipeline(self) -> GuardedPipeline:
        if self._prompt is None:
            with self._lock:
                if self._prompt is None:
                    self._prompt = GuardedPipeline(self.policy, prompt=build_prompt_stage(self.policy),
                                                   ledger=self.ledger())
        return self._prompt

    def release_pipeline(self) -> GuardedPipeline:
        if self._release is None:
            with self._lock:
                if self._release is None:
                    built = build_pipeline(self.policy, with_generator=False, ledger=self.ledger())
                    self._release = dataclasses.replace(built, prompt=self.prompt_pipeline().prompt)
        return self._release

    def generation_pipeline(self) -> GuardedPipeline:
        if self._generation is None:
            base = self.release_pipeline()
            with self._lock:
                if self._generation is None:
                    generator = self._generator_override
                    if generator is None or not hasattr(generator, "name"):
                        factory = _generator_factory()
                        if factory is None:
                            generator = None
                        elif generator is None:
                            generator = factory(self.policy)
                        else:
                            generator = factory(self.policy, generator)
                    self._generation = dataclasses.replace(base, generator=generator)
        return self._generation

    def warm_up(self, *, prompt_only: bool = False) -> None:
        """Build everything (or only the prompt gate); record (not raise) a failure so ``/readyz`` can report it."""
        try:
            self.prompt_pipeline()
            if not prompt_only:
                self.release_pipeline()
                self.generation_pipeline()
            # The models are now loaded for the life of the process. Moving their millions of Python objects
            # out of the collector's view stops each full collection from walking them all, which otherwise
            # stalls the event loop and the workers for hundreds of milliseconds every minute or so.
            gc.collect()
            gc.freeze()
        except Exception as exc:
            self.error = one_line(exc)
            log.error("warm-up failed", extra={"event": "warm_up_failed", "error": self.error})

    @property
    def ready(self) -> bool:
        return self._prompt is not None and self._release is not None

    def stage_states(self) -> dict[str, str]:
        """``loaded`` / ``missing`` (built, factory unavailable: fails closed) / ``not_loaded`` (not built yet)."""
        states = dict.fromkeys(STAGE_NAMES, "not_loaded")
        if self._prompt is not None:
            states["prompt"] = "loaded" if self._prompt.prompt is not None else "missing"
        if self._release is not None:
            for name in ("frames", "watermark", "signer"):
                states[name] = "loaded" if getattr(self._release, name) is not None else "missing"
        if self._generation is not None:
            states["generator"] = "loaded" if self._generation.generator is not None else "missing"
        return states


def check_each_prompt(engine: Engine, prompts: list[str]) -> list[Verdict | Exception]:
    """Per prompt its verdict (recorded in the ledger), or the ``InputError`` that prompt alone must answer.

    What the API's prompt batcher runs in a CPU worker: the valid prompts go through one batched
    ``check_prompts`` call, so an invalid prompt never fails the others checked with it.
    """
    pipeline = engine.prompt_pipeline()
    results: list[Verdict | Exception | None] = [None] * len(prompts)
    valid: list[int] = []
    for index, prompt in enumerate(prompts):
        try:
            pipeline.validate_prompt(prompt)
            valid.append(index)
        except InputError as exc:
            results[index] = exc
    for index, verdict in zip(valid, pipeline.check_prompts([prompts[i] for i in valid]), strict=True):
        results[index] = verdict
    return [r if r is not None else RuntimeError("prompt not checked") for r in results]


@dataclasses.dataclass(frozen=True)
class CheckedPrompt:
    """A single-prompt check's decision and its response body, rendered where it was checked.

    Not the verdict itself: this crosses from a prompt worker process (``guard.api.prompt_processes``), and the
    server needs only the decision (logs, metrics) and the bytes it sends.
    """

    decision: Decision
    body: bytes  # ``VerdictOut`` as JSON


def check_and_render(engine: Engine, prompts: list[str]) -> list[CheckedPrompt | Exception]:
    """``check_each_prompt``, each verdict also rendered as its response body.

    Why here: the renderer walks the whole verdict (~100 nested dicts), which on the event loop delayed every
    other request's I/O; in the worker it runs beside the batch it belongs to.
    """
    return [r if isinstance(r, Exception) else CheckedPrompt(r.decision, public_verdict_json(r, engine.policy))
            for r in check_each_prompt(engine, prompts)]
