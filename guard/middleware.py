"""``guarded(model)``: the whole layer around one generator, in-process, with no server.

Wrap any diffusers video pipeline, or any callable that returns frames, and call the result with a
prompt: the prompt is checked before the model runs, the frames after it; the caller gets a
``Release`` (a released, watermarked, signed MP4) or a ``Blocked`` exception carrying the verdicts.

    from guard.middleware import guarded
    safe = guarded(pipe)                                    # a diffusers pipeline or a callable
    release = safe("a red kite over a beach", "kite.mp4")   # or raises guard.verdict.Blocked

Diffusers objects go through ``guard.generator_stage.build_generator`` (the adapters that know each
pipeline's call signature and output). A plain callable is adapted here: it is called as
``fn(prompt)`` plus ``seed=`` / ``num_inference_steps=`` when its signature accepts them, and may
return a ``Clip``, a (T, H, W, 3) array (uint8, or float in [0, 1]), a list of frames or PIL images, or
an output object with ``.frames`` (diffusers' ``frames[0]`` convention for a batch).
"""

from __future__ import annotations

import importlib
import inspect
import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from guard.assembly import build_pipeline
from guard.errors import InputError
from guard.paths import subdir
from guard.pipeline import GuardedPipeline, Release
from guard.policy import Policy, default_policy
from guard.stages import Clip, GeneratorStage

DEFAULT_FPS = 24.0


# ---------------------------------------------------------------------------- frames from anything
def frames_to_clip(value: Any, fps: float) -> Clip:
    """Normalize what a generator returned into a ``Clip``; errors name the shape or type that was wrong."""
    if isinstance(value, Clip):
        return value
    if hasattr(value, "frames") and not isinstance(value, np.ndarray):  # a diffusers output object
        value = value.frames
        if isinstance(value, (list, tuple)) and value and _is_video(value[0]):
            value = value[0]  # (B, ...) batch convention: the first video
        elif isinstance(value, np.ndarray) and value.ndim == 5:
            value = value[0]
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        if not value:
            raise InputError("the generator returned no frames")
        value = np.stack([np.asarray(frame) for frame in value])
    if not isinstance(value, np.ndarray):
        raise InputError(f"the generator returned {type(value).__name__}; expected frames (T, H, W, 3)")
    frames = value  # (T, H, W, 3) expected
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"the generator returned frames of shape {frames.shape}; expected (T, H, W, 3)")
    if frames.dtype != np.uint8:
        if not np.issubdtype(frames.dtype, np.floating):
            raise InputError(f"the generator returned {frames.dtype} frames; expected uint8 or float in [0, 1]")
        frames = (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)  # (T, H, W, 3) uint8
    return Clip(np.ascontiguousarray(frames), fps)


def _is_video(item: Any) -> bool:
    shape = getattr(item, "shape", None)
    return (shape is not None and len(shape) == 4) or (isinstance(item, (list, tuple)) and bool(item)
                                                        and not np.isscalar(item[0]))


class CallableGenerator:
    """A ``GeneratorStage`` over any function that returns frames."""

    def __init__(self, fn: Callable[..., Any], *, fps: float = DEFAULT_FPS, name: str | None = None) -> None:
        if not callable(fn):
            raise InputError(f"guarded() needs a callable or a diffusers pipeline, got {type(fn).__name__}")
        if not (fps > 0 and math.isfinite(fps)):
            raise InputError(f"fps must be a positive number, got {fps}")
        self.fn = fn
        self.fps = float(fps)
        self.name = name or getattr(fn, "name", None) or getattr(fn, "__qualname__", None) or type(fn).__name__
        self._accepts = _accepted_keywords(fn)

    def __call__(self, prompt: str, *, seed: int, num_inference_steps: int | None = None) -> Clip:
        kwargs: dict[str, Any] = {}
        if "seed" in self._accepts:
            kwargs["seed"] = seed
        if num_inference_steps is not None and "num_inference_steps" in self._accepts:
            kwargs["num_inference_steps"] = num_inference_steps
        return frames_to_clip(self.fn(prompt, **kwargs), self.fps)


def _accepted_keywords(fn: Callable[..., Any]) -> frozenset[str]:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: pass the prompt only
        return frozenset()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return frozenset({"seed", "num_inference_steps"})
    return frozenset(p.name for p in parameters if p.kind is not inspect.Parameter.POSITIONAL_ONLY)


def is_diffusers_pipeline(obj: Any) -> bool:
    """True for a diffusers ``DiffusionPipeline`` (checked by class, without importing diffusers)."""
    return any(cls.__name__ == "DiffusionPipeline" and cls.__module__.startswith("diffusers")
               for cls in type(obj).__mro__)


def _diffusers_generator(pipe: Any, policy: Policy) -> GeneratorStage | None:
    """The generator stage's adapter for a diffusers pipeline; ``None`` (fail closed) when it is unavailable."""
    try:
        build_generator = importlib.import_module("guard.generator_stage").build_generator
    except (ImportError, AttributeError):
        return None
    return build_generator(policy, pipe)


def as_generator(target: Any, policy: Policy, *, fps: float | None = None) -> GeneratorStage | None:
    """Diffusers pipelines through the generator stage's adapters; every other callable (a ``GeneratorStage``
    too, so one that returns bare frames still works) through ``CallableGenerator``."""
    if is_diffusers_pipeline(target):
        return _diffusers_generator(target, policy)
    return CallableGenerator(target, fps=fps if fps is not None else policy.output.fps or DEFAULT_FPS)


# ---------------------------------------------------------------------------- the wrapper
class Guarded:
    """A generator behind the whole guarded flow; call it with a prompt (and an output path)."""

    def __init__(self, pipeline: GuardedPipeline, output_dir: Path | None = None) -> None:
        self.pipeline = pipeline
        self.output_dir = output_dir

    def __call__(self, prompt: str, output: str | Path | None = None, *, seed: int = 0,
                 num_inference_steps: int | None = None) -> Release:
        """Check the prompt, run the model, check the frames, watermark, sign, record; or raise ``Blocked``.

        Without ``output`` the file goes to ``output_dir`` (default ``$VIDEOGUARD_HOME/releases``).
        """
        if output is None:
            directory = self.output_dir or subdir("releases")
            output = directory / f"{uuid.uuid4().hex}.mp4"
        return self.pipeline.generate(prompt, output, seed=seed, num_inference_steps=num_inference_steps)

    @property
    def generator(self) -> GeneratorStage | None:
        return self.pipeline.generator


def guarded(pipeline_or_callable: Any, policy: Policy | None = None, *, fps: float | None = None,
            output_dir: str | Path | None = None) -> Guarded:
    """Wrap a diffusers video pipeline or a frame-returning callable in the guarded flow.

    ``policy`` defaults to the process policy (the shipped default plus ``$VIDEOGUARD_POLICY``); ``fps``
    is the frame rate of a callable's frames (default: the policy's output fps, else 24).
    Stages are built once here, so keep the returned object and call it many times.
    """
    policy = policy or default_policy()
    generator = as_generator(pipeline_or_callable, policy, fps=fps)
    pipeline = build_pipeline(policy, generator=generator, with_generator=False)
    return Guarded(pipeline, Path(output_dir) if output_dir is not None else None)


__all__ = ["CallableGenerator", "Guarded", "frames_to_clip", "guarded", "is_diffusers_pipeline"]
