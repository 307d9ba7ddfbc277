"""guard.generator_stage: the policy's model (bundled by default) behind the GeneratorStage protocol,
with bad input turned into one-line InputErrors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from guard.errors import InputError, PolicyError
from guard.generator_stage import build_generator
from guard.policy import default_policy, load_policy
from guard.stages import Clip, GeneratorStage


def moving_square(prompt: str, *, seed: int, num_inference_steps: int | None = None) -> np.ndarray:
    frames = np.zeros((5, 32, 32, 3), np.uint8)  # (T, H, W, 3)
    for t in range(5):
        frames[t, 10:20, 2 + 4 * t : 12 + 4 * t] = (255, 0, 0)
    return frames


def test_when_no_model_is_named_then_the_bundled_generator_is_chosen() -> None:
    stage = build_generator(default_policy())
    assert isinstance(stage, GeneratorStage)
    assert stage.name == "videoguard-bundled"


def test_when_a_callable_is_given_then_calls_return_a_clip() -> None:
    stage = build_generator(default_policy(), moving_square)
    clip = stage("a red square moving right", seed=0)
    assert isinstance(clip, Clip) and clip.frames.shape == (5, 32, 32, 3) and clip.fps == 8.0


@pytest.mark.parametrize("model", ["/nonexistent/pipeline", "org/hub-model"])
def test_when_model_path_is_not_a_pipeline_directory_then_input_error_names_it(model: str) -> None:
    with pytest.raises(InputError, match="not a local diffusers pipeline directory"):
        build_generator(default_policy(), model)


BAD_CALLS = {
    "empty prompt": ("", {"seed": 0}),
    "negative seed": ("a cat", {"seed": -1}),
    "float seed": ("a cat", {"seed": 1.5}),
    "zero steps": ("a cat", {"seed": 0, "num_inference_steps": 0}),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_when_call_arguments_are_bad_then_input_error(case: str) -> None:
    prompt, kwargs = BAD_CALLS[case]
    with pytest.raises(InputError):
        build_generator(default_policy(), moving_square)(prompt, **kwargs)


def test_when_policy_steps_are_invalid_then_policy_error(tmp_path: Path) -> None:
    policy = load_policy(overrides={"generator": {"settings": {"model": "bundled", "num_inference_steps": -3}}})
    with pytest.raises(PolicyError, match="num_inference_steps"):
        build_generator(policy)


def test_when_policy_sets_steps_then_they_reach_the_model() -> None:
    seen = []

    def fn(prompt: str, *, seed: int, num_inference_steps: int | None = None) -> np.ndarray:
        seen.append(num_inference_steps)
        return moving_square(prompt, seed=seed)

    policy = load_policy(overrides={"generator": {"settings": {"num_inference_steps": 3}}})
    build_generator(policy, fn)("a cat", seed=0)
    build_generator(policy, fn)("a cat", seed=0, num_inference_steps=7)
    assert seen == [3, 7]
