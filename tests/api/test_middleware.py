"""``guarded()`` around a real frame-returning callable (pans over scikit-image photographs).

The stages come from other modules; while any of them is missing the flow must fail closed (``Blocked``,
no file, and the model never runs when the prompt gate is missing). Once every factory exists the same
test must release a watermarked, signed, verifiable file: it is not skipped either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guard.errors import InputError
from guard.middleware import CallableGenerator, frames_to_clip, guarded, is_diffusers_pipeline
from guard.policy import default_policy
from guard.sample import photo_pan
from guard.stages import Clip
from guard.verdict import Blocked, Decision
from guard.verification import verify_video
from tests.api.conftest import factory_available, prompt_stage_available, release_stages_available

PHOTOS = ("astronaut", "coffee", "chelsea")


def photo_generator(calls: list[str]) -> Any:
    """A real model stand-in with a model's contract: prompt and seed in, (T, H, W, 3) uint8 frames out."""

    def generate(prompt: str, seed: int = 0) -> np.ndarray:
        calls.append(prompt)
        return photo_pan(frames=48, size=256, image=PHOTOS[seed % len(PHOTOS)])  # (48, 256, 256, 3) uint8

    return generate


def test_when_a_callable_is_guarded_then_released_or_blocked_by_the_missing_stage(tmp_path: Path) -> None:
    calls: list[str] = []
    safe = guarded(photo_generator(calls), fps=24.0)
    output = tmp_path / "kite.mp4"
    prompt = "a slow pan across a photograph of an astronaut"
    if prompt_stage_available() and release_stages_available():
        release = safe(prompt, output, seed=0)
        assert release.path == output and output.is_file()
        assert calls == [prompt]
        assert release.decision in (Decision.ALLOW, Decision.FLAG, Decision.REWRITE)
        report = verify_video(output, default_policy())
        assert report.c2pa.state in ("trusted", "valid")
        assert report.watermark.get("marked") and report.watermark.get("payload") == release.release_id
    else:
        with pytest.raises(Blocked) as caught:
            safe(prompt, output, seed=0)
        assert not output.exists()
        assert caught.value.verdict.decision is Decision.ERROR
        assert "not configured" in caught.value.verdict.reasons[0]
        if not prompt_stage_available():
            assert caught.value.verdict.stage == "prompt"
            assert calls == []  # the prompt is checked before the model runs


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        (np.zeros((4, 8, 8, 3), np.uint8), (4, 8, 8, 3)),
        (np.full((2, 6, 6, 3), 0.5, np.float32), (2, 6, 6, 3)),  # float in [0, 1]
        ([np.zeros((6, 6, 3), np.uint8)] * 3, (3, 6, 6, 3)),  # a list of frames
        (type("Out", (), {"frames": [np.zeros((5, 4, 4, 3), np.float32)]})(), (5, 4, 4, 3)),  # diffusers output
    ],
)
def test_when_frames_come_in_a_known_form_then_a_clip(value: Any, shape: tuple[int, ...]) -> None:
    clip = frames_to_clip(value, 24.0)
    assert clip.frames.shape == shape and clip.frames.dtype == np.uint8


def test_when_float_frames_are_given_then_they_are_scaled_to_uint8() -> None:
    clip = frames_to_clip(np.array([[[[0.0, 0.5, 1.0]]]], np.float32), 24.0)
    assert clip.frames[0, 0, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((4, 3, 8, 8), np.uint8), "(4, 3, 8, 8)"),  # channels first
        (np.zeros((8, 8, 3), np.uint8), "(8, 8, 3)"),  # one image, not a video
        (np.zeros((2, 4, 4, 3), np.int64), "int64"),
        ([], "no frames"),
        ("a video", "str"),
    ],
)
def test_when_frames_are_malformed_then_an_input_error_names_them(value: Any, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        frames_to_clip(value, 24.0)


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (lambda prompt: {"seed": None, "steps": None}, {"seed": None, "steps": None}),
        (lambda prompt, seed: {"seed": seed, "steps": None}, {"seed": 7, "steps": None}),
        (lambda prompt, **kw: {"seed": kw.get("seed"), "steps": kw.get("num_inference_steps")},
         {"seed": 7, "steps": 3}),
    ],
)
def test_when_a_callable_takes_some_keywords_then_only_those_are_passed(fn: Any, expected: dict) -> None:
    seen: dict[str, Any] = {}

    def wrapped(prompt: str, **kwargs: Any) -> np.ndarray:
        seen.update(fn(prompt, **kwargs))
        return np.zeros((2, 4, 4, 3), np.uint8)

    wrapped.__signature__ = __import__("inspect").signature(fn)  # type: ignore[attr-defined]
    clip = CallableGenerator(wrapped, fps=8.0)("a cat", seed=7, num_inference_steps=3)
    assert isinstance(clip, Clip) and clip.fps == 8.0
    assert seen == expected


def test_when_the_target_is_not_callable_then_an_input_error() -> None:
    with pytest.raises(InputError, match="callable"):
        guarded(42)


@pytest.mark.slow
def test_when_a_diffusers_pipeline_is_guarded_then_the_generator_stage_adapts_it() -> None:
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline()
    assert is_diffusers_pipeline(pipe) and not is_diffusers_pipeline(photo_generator([]))
    if factory_available("guard.generator_stage", "build_generator"):
        assert guarded(pipe).generator is not None  # the generator stage's adapter, not the callable path
        assert not isinstance(guarded(pipe).generator, CallableGenerator)
    else:
        assert guarded(pipe).generator is None  # fail closed: no adapter, no generation


def test_when_a_generator_stage_is_wrapped_then_its_clip_and_name_are_kept() -> None:
    class Stage:
        name = "my-model"

        def __call__(self, prompt: str, *, seed: int, num_inference_steps: int | None = None) -> Clip:
            return Clip(np.full((2, 4, 4, 3), seed, np.uint8), 10.0)  # (2, 4, 4, 3) uint8

    generator = CallableGenerator(Stage())
    clip = generator("a cat", seed=9)
    assert generator.name == "my-model" and clip.fps == 10.0 and int(clip.frames[0, 0, 0, 0]) == 9
