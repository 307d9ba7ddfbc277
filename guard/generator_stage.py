"""The generator stage: the bundled model, a user's diffusers pipeline or a plain function, behind the
``GeneratorStage`` protocol.

Why a thin wrapper: ``generator.adapters`` already turns any of these into ``(prompt, *, seed,
num_inference_steps) -> (frames, fps)``; this file adds only what belongs to ``guard``: reading the
policy (``generator.settings.model``, ``num_inference_steps``), resolving "bundled", turning bad
input into ``InputError`` and returning a ``Clip``. The model loads on first use (a pipeline built
only to release an uploaded video never pays for it), once, under a lock.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from guard.errors import InputError, PolicyError
from guard.policy import Policy
from guard.stages import Clip

BUNDLED = "bundled"


def _resolve(model: Any) -> Any:
    """"bundled" -> the committed pipeline directory; a string -> a checked local directory."""
    from generator.adapters import bundled_model_dir

    if model is None or model == BUNDLED:
        directory = bundled_model_dir()
        if not (directory / "model_index.json").is_file():
            raise PolicyError(f"the bundled generator is missing at {directory} (no model_index.json)")
        return directory
    if isinstance(model, (str, Path)):
        directory = Path(model).expanduser()
        if not (directory / "model_index.json").is_file():
            raise InputError(f"model {str(model)!r} is not a local diffusers pipeline directory (no model_index.json)")
        return directory
    return model


class AdaptedGenerator:
    """A ``GeneratorStage`` around ``generator.adapters.as_video_generator``."""

    def __init__(self, model: Any, *, default_steps: int | None = None) -> None:
        self._model = model
        self._default_steps = default_steps
        self._adapter: Any = None
        self._lock = threading.Lock()
        self.name = Path(model).name if isinstance(model, Path) else type(model).__name__
        if isinstance(model, Path) and model.resolve() == _resolve(None).resolve():
            self.name = "videoguard-bundled"

    def _get(self) -> Any:
        with self._lock:
            if self._adapter is None:
                from diffusers.utils import logging as diffusers_logging

                from generator.adapters import as_video_generator

                diffusers_logging.disable_progress_bar()  # the CLI shows its own progress; --json stays clean
                try:
                    self._adapter = as_video_generator(self._model)
                except ValueError as exc:
                    raise InputError(str(exc)) from exc
                pipeline = getattr(self._adapter, "pipeline", None)
                if pipeline is not None and hasattr(pipeline, "set_progress_bar_config"):
                    pipeline.set_progress_bar_config(disable=True)
            return self._adapter

    def __call__(self, prompt: str, *, seed: int, num_inference_steps: int | None = None) -> Clip:
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError("prompt must be a non-empty string")
        if not isinstance(seed, int) or seed < 0:
            raise InputError(f"seed must be a non-negative integer, got {seed!r}")
        steps = num_inference_steps if num_inference_steps is not None else self._default_steps
        if steps is not None and (not isinstance(steps, int) or steps < 1):
            raise InputError(f"num_inference_steps must be a positive integer, got {steps!r}")
        try:
            frames, fps = self._get()(prompt, seed=seed, num_inference_steps=steps)
        except ValueError as exc:
            raise InputError(f"generator {self.name}: {exc}") from exc
        return Clip(frames=frames, fps=fps)  # frames: (T, H, W, 3) uint8


def build_generator(policy: Policy, model: Any = None) -> AdaptedGenerator:
    """The generator the policy names (``generator.settings.model``), or ``model`` when given: "bundled",
    a local diffusers pipeline directory, a diffusers pipeline object or a callable returning frames."""
    settings = policy.generator.settings
    chosen = model if model is not None else settings.get("model", BUNDLED)
    steps = settings.get("num_inference_steps")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise PolicyError(f"generator.settings.num_inference_steps must be a positive integer or null, got {steps!r}")
    return AdaptedGenerator(_resolve(chosen), default_steps=steps)
