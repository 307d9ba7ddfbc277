"""One calling convention for every text-to-video model: ``(prompt, *, seed, num_inference_steps=None)
-> (frames (T, H, W, 3) uint8, fps)``.

Why: the guarded flow must treat the bundled model and a user's Wan, CogVideoX, LTX-Video or
HunyuanVideo pipeline the same way, so the checks after generation never depend on a model family.
Diffusers pipelines differ in what they return (float arrays, tensors, lists of PIL images, with or
without a batch axis) and in their frame rate; this module normalises both. A local directory is
loaded with ``from_pretrained``; hub ids are refused (the layer runs offline).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEFAULT_FPS = 8.0
FAMILY_FPS: dict[str, float] = {  # frame rates the model families were trained at
    "WanPipeline": 16.0,
    "CogVideoXPipeline": 8.0,
    "LTXPipeline": 24.0,
    "HunyuanVideoPipeline": 15.0,
    "VideoguardTextToVideoPipeline": 8.0,
}


def to_uint8_frames(frames: Any) -> np.ndarray:
    """Whatever a pipeline returned for ONE video -> (T, H, W, 3) uint8 RGB.

    Accepts (T, H, W, 3) or (T, 3, H, W) arrays/tensors, uint8 or float in [0, 1], and lists of
    PIL images or arrays."""
    if isinstance(frames, (list, tuple)):
        if not frames:
            raise ValueError("the model returned no frames")
        frames = np.stack([np.asarray(f) for f in frames])
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().float().cpu().numpy()
    arr = np.asarray(frames)
    if arr.ndim != 4:
        raise ValueError(f"expected one video of 4 dims (T, H, W, 3) or (T, 3, H, W), got shape {arr.shape}")
    if arr.shape[-1] != 3 and arr.shape[1] == 3:
        arr = arr.transpose(0, 2, 3, 1)  # (T, 3, H, W) -> (T, H, W, 3)
    if arr.shape[-1] != 3:
        raise ValueError(f"expected 3 colour channels, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"expected uint8 or float frames, got {arr.dtype}")
    return np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)


def _first_video(output: Any) -> Any:
    """The first video of a pipeline output (``.frames[0]``, a tuple's first item, or the array)."""
    frames = getattr(output, "frames", None)
    if frames is None and isinstance(output, tuple):
        frames = output[0]
    if frames is None:
        frames = output
    if isinstance(frames, (np.ndarray, torch.Tensor)) and frames.ndim == 5:
        return frames[0]  # (B, T, ...) -> (T, ...)
    if isinstance(frames, list) and frames and isinstance(frames[0], (list, np.ndarray, torch.Tensor)):
        first = frames[0]
        if isinstance(first, list) or getattr(first, "ndim", 0) == 4:
            return first
    return frames


def load_pipeline(path: str | Path) -> Any:
    """Load a diffusers pipeline from a local directory (its ``model_index.json`` names the class)."""
    directory = Path(path).expanduser()
    index = directory / "model_index.json"
    if not index.is_file():
        raise ValueError(f"model {str(path)!r} is not a local diffusers pipeline directory (no model_index.json)")
    class_name = json.loads(index.read_text()).get("_class_name")
    if class_name == "VideoguardTextToVideoPipeline":
        from generator.pipeline_videoguard import VideoguardTextToVideoPipeline

        return VideoguardTextToVideoPipeline.from_pretrained(str(directory))
    from diffusers import DiffusionPipeline

    return DiffusionPipeline.from_pretrained(str(directory))


class DiffusersVideoGenerator:
    """A diffusers video pipeline behind the common call. ``call_kwargs`` are passed on every call
    (e.g. ``num_frames``, ``height``, ``width``, ``guidance_scale``)."""

    def __init__(self, pipeline: Any, *, fps: float | None = None, call_kwargs: dict[str, Any] | None = None) -> None:
        if not callable(pipeline):
            raise ValueError(f"pipeline {type(pipeline).__name__} is not callable")
        self.pipeline = pipeline
        self.name = type(pipeline).__name__
        config = getattr(pipeline, "config", {}) or {}
        config_fps = config.get("fps") if hasattr(config, "get") else None
        self.fps = float(fps or config_fps or FAMILY_FPS.get(self.name, DEFAULT_FPS))
        self.call_kwargs = dict(call_kwargs or {})
        params = inspect.signature(pipeline.__call__).parameters
        self._accepts = set(params)

    def __call__(self, prompt: str, *, seed: int, num_inference_steps: int | None = None) -> tuple[np.ndarray, float]:
        kwargs: dict[str, Any] = dict(self.call_kwargs)
        kwargs["generator"] = torch.Generator().manual_seed(int(seed))
        if num_inference_steps is not None:
            kwargs["num_inference_steps"] = int(num_inference_steps)
        if "output_type" in self._accepts:
            kwargs.setdefault("output_type", "np")
        output = self.pipeline(prompt=prompt, **kwargs)
        return to_uint8_frames(_first_video(output)), self.fps


class CallableVideoGenerator:
    """A plain function ``fn(prompt, seed=..., num_inference_steps=...)`` returning frames, a
    ``(frames, fps)`` pair, or an object with ``.frames`` and ``.fps``."""

    def __init__(self, fn: Callable[..., Any], *, fps: float | None = None, name: str | None = None) -> None:
        self.fn = fn
        self.fps = float(fps or DEFAULT_FPS)
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, prompt: str, *, seed: int, num_inference_steps: int | None = None) -> tuple[np.ndarray, float]:
        out = self.fn(prompt, seed=seed, num_inference_steps=num_inference_steps)
        fps = self.fps
        if isinstance(out, tuple) and len(out) == 2 and np.isscalar(out[1]):
            out, fps = out[0], float(out[1])
        elif hasattr(out, "frames") and hasattr(out, "fps"):
            out, fps = out.frames, float(out.fps)
        return to_uint8_frames(out), fps


def as_video_generator(
    model: Any, *, fps: float | None = None, call_kwargs: dict[str, Any] | None = None
) -> DiffusersVideoGenerator | CallableVideoGenerator:
    """Adapt ``model``: a local pipeline directory (str or Path), a diffusers pipeline object, or a
    plain callable."""
    if isinstance(model, (str, Path)):
        return DiffusersVideoGenerator(load_pipeline(model), fps=fps, call_kwargs=call_kwargs)
    from diffusers import DiffusionPipeline

    if isinstance(model, DiffusionPipeline):
        return DiffusersVideoGenerator(model, fps=fps, call_kwargs=call_kwargs)
    if callable(model):
        if call_kwargs:
            raise ValueError("call_kwargs apply to diffusers pipelines only, not to a plain callable")
        return CallableVideoGenerator(model, fps=fps)
    raise ValueError(f"model must be a directory path, a diffusers pipeline or a callable, got {type(model).__name__}")


def bundled_model_dir() -> Path:
    """The pipeline directory committed in this package."""
    return Path(__file__).resolve().parent / "bundled"
