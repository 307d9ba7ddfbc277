"""The adapter runs any diffusers video pipeline (object or local directory) or a plain function behind
one call. Other families are built tiny from config with random weights: this tests the loading and
calling path, never quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from generator.adapters import as_video_generator, to_uint8_frames
from generator.text_encoder import minilm_path


def _tokenizer():  # a real tokenizer that ships in a package (no hub access in tests)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_path()))


def tiny_wan(directory: Path) -> Path:
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=tokenizer.vocab_size, d_model=16, d_kv=4, d_ff=16,
                                               num_layers=1, num_heads=2, relative_attention_num_buckets=8))
    vae = AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 1], num_res_blocks=1, temperal_downsample=[False],
                           latents_mean=[0.0] * 4, latents_std=[1.0] * 4, scale_factor_spatial=2,
                           scale_factor_temporal=1)
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                        in_channels=4, out_channels=4, text_dim=16, freq_dim=32, ffn_dim=32,
                                        num_layers=1, rope_max_seq_len=32)
    WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                scheduler=FlowMatchEulerDiscreteScheduler()).save_pretrained(directory)
    return directory


def tiny_cogvideox(directory: Path) -> Path:
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDDIMScheduler,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    text_encoder = T5EncoderModel(T5Config(vocab_size=tokenizer.vocab_size, d_model=32, d_kv=8, d_ff=32,
                                           num_layers=1, num_heads=2, relative_attention_num_buckets=8))
    transformer = CogVideoXTransformer3DModel(num_attention_heads=4, attention_head_dim=8, in_channels=4,
                                              out_channels=4, time_embed_dim=2, text_embed_dim=32, num_layers=1,
                                              sample_width=2, sample_height=2, sample_frames=9, patch_size=2,
                                              temporal_compression_ratio=4, max_text_seq_length=16)
    vae = AutoencoderKLCogVideoX(in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
                                 up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8),
                                 latent_channels=4, layers_per_block=1, norm_num_groups=2,
                                 temporal_compression_ratio=4)
    CogVideoXPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                      scheduler=CogVideoXDDIMScheduler()).save_pretrained(directory)
    return directory


FAMILIES = {
    "wan": (tiny_wan, dict(num_frames=5, height=16, width=16, max_sequence_length=16), 16.0),
    "cogvideox": (tiny_cogvideox, dict(num_frames=8, height=16, width=16, max_sequence_length=16), 8.0),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    build, kwargs, fps = FAMILIES[request.param]
    return build(tmp_path_factory.mktemp(request.param)), kwargs, fps


def test_when_a_tiny_pipeline_directory_is_given_then_frames_are_uint8_video_at_its_family_fps(family_dir) -> None:
    directory, kwargs, fps = family_dir
    generate = as_video_generator(str(directory), call_kwargs=kwargs)
    frames, got_fps = generate("a red circle moving left", seed=3, num_inference_steps=2)
    assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[1:] == (16, 16, 3)
    assert frames.shape[0] >= 2
    assert got_fps == fps


def test_when_the_same_seed_is_used_then_the_video_repeats_and_another_seed_changes_it(family_dir) -> None:
    directory, kwargs, _ = family_dir
    generate = as_video_generator(directory, call_kwargs=kwargs)
    a, _ = generate("a cat", seed=1, num_inference_steps=2)
    b, _ = generate("a cat", seed=1, num_inference_steps=2)
    c, _ = generate("a cat", seed=2, num_inference_steps=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_when_a_pipeline_object_is_given_then_it_is_used_directly(family_dir) -> None:
    from diffusers import DiffusionPipeline

    directory, kwargs, _ = family_dir
    pipe = DiffusionPipeline.from_pretrained(str(directory))
    generate = as_video_generator(pipe, call_kwargs=kwargs, fps=12.0)
    frames, fps = generate("a dog", seed=0, num_inference_steps=1)
    assert generate.pipeline is pipe and fps == 12.0 and frames.dtype == np.uint8


CALLABLE_RETURNS = {
    "uint8 array": lambda: np.zeros((4, 8, 8, 3), np.uint8),
    "float array": lambda: np.full((4, 8, 8, 3), 0.5, np.float32),
    "(frames, fps)": lambda: (np.zeros((4, 8, 8, 3), np.uint8), 24.0),
    "channels-first tensor": lambda: torch.rand(4, 3, 8, 8),
}


@pytest.mark.parametrize("kind", sorted(CALLABLE_RETURNS))
def test_when_a_plain_callable_returns_frames_then_they_become_uint8_thwc(kind: str) -> None:
    calls = []

    def fn(prompt: str, *, seed: int, num_inference_steps: int | None = None):
        calls.append((prompt, seed, num_inference_steps))
        return CALLABLE_RETURNS[kind]()

    frames, fps = as_video_generator(fn)("p", seed=5, num_inference_steps=3)
    assert frames.shape == (4, 8, 8, 3) and frames.dtype == np.uint8
    assert fps == (24.0 if kind == "(frames, fps)" else 8.0)
    assert calls == [("p", 5, 3)]


BAD_FRAMES = {
    "2-d": np.zeros((8, 8), np.uint8),
    "4 channels": np.zeros((2, 8, 8, 4), np.uint8),
    "int64": np.zeros((2, 8, 8, 3), np.int64),
    "empty list": [],
}


@pytest.mark.parametrize("kind", sorted(BAD_FRAMES))
def test_when_frames_are_malformed_then_value_error(kind: str) -> None:
    with pytest.raises(ValueError):
        to_uint8_frames(BAD_FRAMES[kind])


@pytest.mark.parametrize("model", ["org/some-hub-model", 42])
def test_when_model_is_not_a_directory_pipeline_or_callable_then_value_error_names_it(model, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="org/some-hub-model|int"):
        as_video_generator(model)
