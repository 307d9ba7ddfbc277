"""The committed bundled model loads like any diffusers pipeline and makes a 17x128x128 clip."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from generator.adapters import bundled_model_dir
from generator.pipeline_videoguard import VideoguardTextToVideoPipeline, video_noise


@pytest.fixture(scope="module")
def pipe() -> VideoguardTextToVideoPipeline:
    pipeline = VideoguardTextToVideoPipeline.from_pretrained(str(bundled_model_dir()))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def test_when_loaded_then_components_are_diffusers_classes_and_weights_are_small(pipe) -> None:
    assert type(pipe.transformer).__name__ == "WanTransformer3DModel"
    assert type(pipe.vae).__name__ == "AutoencoderKL"
    assert type(pipe.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"
    size = sum(p.stat().st_size for p in bundled_model_dir().rglob("*.safetensors"))
    assert size < 60 * 1024**2


def test_when_called_with_few_steps_then_a_17_frame_128_px_uint8_clip_comes_back_quickly(pipe) -> None:
    start = time.perf_counter()
    frames = pipe("a red circle moving left", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).frames
    assert frames.shape == (1, 17, 128, 128, 3) and frames.dtype == np.uint8
    assert time.perf_counter() - start < 60
    assert frames.std() > 1.0  # not a blank clip


def test_when_the_seed_repeats_then_the_clip_repeats(pipe) -> None:
    def run(seed: int) -> np.ndarray:  # latents: the decoder is deterministic, and decoding is the slow part
        return pipe("a blue square moving up", num_inference_steps=2, generator=torch.Generator().manual_seed(seed),
                    output_type="latent").frames.numpy()

    np.testing.assert_array_equal(run(4), run(4))
    assert not np.array_equal(run(4), run(5))


BAD_INPUTS = {
    "empty list prompt": (dict(prompt=[]), "`prompt`"),
    "height not a multiple": (dict(prompt="x", height=100), "`height` and `width`"),
    "zero steps": (dict(prompt="x", num_inference_steps=0), "`num_inference_steps`"),
    "zero frames": (dict(prompt="x", num_frames=0), "`num_frames`"),
    "negative guidance": (dict(prompt="x", guidance_scale=-2.0), "`guidance_scale`"),
    "unknown output type": (dict(prompt="x", output_type="gif"), "`output_type`"),
    "negative prompts mismatch": (dict(prompt=["a", "b"], negative_prompt=["c"]), "`negative_prompt`"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_when_inputs_are_bad_then_value_error_names_the_value(pipe, case: str) -> None:
    kwargs, message = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=message):
        pipe(**{"num_inference_steps": 1, **kwargs})


@pytest.mark.parametrize("correlation", [0.0, 0.5, 0.8])
def test_when_noise_is_correlated_then_frames_share_that_part_of_the_variance(correlation: float) -> None:
    noise = video_noise((4, 16, 17, 16, 16), correlation, torch.Generator().manual_seed(0))
    frames = noise.permute(2, 0, 1, 3, 4).reshape(17, -1)  # (T, everything else)
    between = torch.corrcoef(frames)[~torch.eye(17, dtype=torch.bool)].mean().item()
    assert abs(noise.var().item() - 1.0) < 0.03
    assert abs(between - correlation) < 0.03


def test_when_noise_correlation_is_out_of_range_then_value_error() -> None:
    with pytest.raises(ValueError, match="noise_correlation"):
        video_noise((1, 16, 17, 16, 16), 1.0, None)
