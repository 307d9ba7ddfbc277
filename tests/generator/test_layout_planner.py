"""The layout planner: output shapes, heatmaps where the tracks say, save/load, and a layout-conditioned pipeline
directory that loads with ``from_pretrained`` like any diffusers pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel

from generator.layout_planner import LayoutPlanner, layout_heatmaps, planner_inputs, scene_layout, track_motion
from generator.pipeline_videoguard import VideoguardTextToVideoPipeline
from generator.scenes import SIZE, make_scene, object_tracks
from generator.text_encoder import load_minilm
from generator.train_transformer import regain_inputs, widen_input

TINY_PLANNER = dict(hidden_dim=32, num_layers=1, num_heads=2)


@pytest.fixture(scope="module")
def minilm():
    return load_minilm()


def tiny_planner(seed: int = 0) -> LayoutPlanner:
    torch.manual_seed(seed)
    return LayoutPlanner(**TINY_PLANNER).eval()


def test_when_captions_are_planned_then_tracks_are_per_object_and_frame_inside_the_frame(minilm) -> None:
    tokenizer, text_model = minilm
    captions = ["a red circle moving left", "a blue square rising upward and a green star standing still"]
    tracks, present = tiny_planner().plan(tokenizer, text_model, captions)
    assert tracks.shape == (2, 2, 17, 3)
    assert present.shape == (2, 2) and bool((present[:, 0] == 1).all())
    assert float(tracks.min()) >= 0.0 and float(tracks.max()) <= 1.0


def test_when_captions_are_padded_differently_then_the_plan_is_the_same(minilm) -> None:
    tokenizer, text_model = minilm
    planner = tiny_planner()
    features, mask = planner_inputs(tokenizer, text_model, ["a red circle moving left"])
    length = int(mask.sum())
    full, _ = planner(features, mask)
    trimmed, _ = planner(features[:, :length], mask[:, :length])
    torch.testing.assert_close(full, trimmed, atol=1e-5, rtol=1e-5)


def test_when_saved_and_loaded_then_the_planner_gives_the_same_plan(tmp_path, minilm) -> None:
    tokenizer, text_model = minilm
    planner = tiny_planner(seed=3)
    planner.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").exists() and (tmp_path / "diffusion_pytorch_model.safetensors").exists()
    loaded = LayoutPlanner.from_pretrained(tmp_path).eval()
    assert json.loads((tmp_path / "config.json").read_text())["hidden_dim"] == TINY_PLANNER["hidden_dim"]
    captions = ["a purple triangle sinking down"]
    torch.testing.assert_close(planner.plan(tokenizer, text_model, captions), loaded.plan(tokenizer, text_model,
                                                                                          captions))


def test_when_a_scene_is_drawn_as_heatmaps_then_each_blob_peaks_at_its_objects_latent_pixel() -> None:
    scene = make_scene(5, two_objects=True)
    tracks, present = scene_layout(scene)
    assert present.tolist() == [1.0, 1.0]
    maps = layout_heatmaps(tracks[None], present[None], 16)  # (1, 2, 17, 16, 16)
    assert maps.shape == (1, 2, 17, 16, 16)
    for k in range(2):
        for t in (0, 16):
            peak = int(maps[0, k, t].argmax())
            x, y = tracks[k, t, 0] * 16, tracks[k, t, 1] * 16
            assert abs(peak % 16 + 0.5 - float(x)) <= 1.0 and abs(peak // 16 + 0.5 - float(y)) <= 1.0
    absent = layout_heatmaps(tracks[None], torch.tensor([[1.0, 0.0]]), 16)
    assert float(absent[0, 1].abs().max()) == 0.0


@pytest.mark.parametrize("motion", ["left", "down-right", "growing", "bouncing", "static"])
def test_when_a_true_track_is_read_then_its_motion_is_the_scenes(motion: str) -> None:
    scene = make_scene(11, triple=("red", "square", motion), two_objects=False)
    tracks, _ = scene_layout(scene)
    assert track_motion(tracks[0]) == motion
    assert float(tracks[0, 0, 2]) == pytest.approx(object_tracks(scene)[0][0][2] / SIZE)  # fractions of the width


def test_when_patch_embedding_is_widened_then_the_model_ignores_the_new_channels_until_trained() -> None:
    config = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=4,
                  text_dim=384, freq_dim=16, ffn_dim=32, num_layers=1, rope_max_seq_len=32)
    torch.manual_seed(0)
    plain = WanTransformer3DModel(**config).eval()
    wide = WanTransformer3DModel(**dict(config, in_channels=6)).eval()
    wide.load_state_dict(widen_input(plain.state_dict(), 6))
    x, text, t = torch.randn(1, 4, 3, 8, 8), torch.randn(1, 5, 384), torch.tensor([500.0])
    with torch.no_grad():
        want = plain(x, t, text, return_dict=False)[0]
        got = wide(torch.cat([x, torch.rand(1, 2, 3, 8, 8)], dim=1), t, text, return_dict=False)[0]
    torch.testing.assert_close(got, want)


def test_when_the_outline_gain_changes_then_the_regained_model_computes_the_same() -> None:
    config = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=6, out_channels=4,
                  text_dim=384, freq_dim=16, ffn_dim=32, num_layers=1, rope_max_seq_len=32)
    torch.manual_seed(0)
    model = WanTransformer3DModel(**config).eval()
    regained = WanTransformer3DModel(**config).eval()
    regained.load_state_dict(regain_inputs(model.state_dict(), 2, 4.0, 16.0))
    x, cond = torch.randn(1, 4, 3, 8, 8), torch.randn(1, 2, 3, 8, 8)
    text, t = torch.randn(1, 5, 384), torch.tensor([9.0])
    with torch.no_grad():
        want = model(torch.cat([x, 4.0 * cond], dim=1), t, text, return_dict=False)[0]
        got = regained(torch.cat([x, 16.0 * cond], dim=1), t, text, return_dict=False)[0]
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(regained.patch_embedding.weight[:, 4:], model.patch_embedding.weight[:, 4:])


def tiny_layout_pipeline(minilm) -> VideoguardTextToVideoPipeline:
    tokenizer, text_model = minilm
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8,
                                        in_channels=16 + 2, out_channels=16, text_dim=384, freq_dim=16, ffn_dim=32,
                                        num_layers=1, rope_max_seq_len=32)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(8, 8, 8, 8),
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        layers_per_block=1, norm_num_groups=4, shift_factor=0.0, scaling_factor=1.0)
    return VideoguardTextToVideoPipeline(transformer=transformer, vae=vae,
                                         scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                                         text_encoder=text_model, tokenizer=tokenizer, layout_planner=tiny_planner(),
                                         default_num_frames=5, default_size=32)


def test_when_a_layout_conditioned_directory_is_loaded_then_it_plans_and_draws(tmp_path, minilm) -> None:
    tiny_layout_pipeline(minilm).save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["layout_planner"] == ["generator.layout_planner", "LayoutPlanner"]
    pipe = VideoguardTextToVideoPipeline.from_pretrained(str(tmp_path))
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe.layout_planner, LayoutPlanner) and pipe.layout_channels == 2
    frames = pipe("a red circle moving left", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).frames
    assert frames.shape == (1, 5, 32, 32, 3) and frames.dtype == np.uint8


def test_when_the_layout_changes_then_the_layout_conditioned_clip_changes(minilm) -> None:
    pipe = tiny_layout_pipeline(minilm)
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():  # the zero-initialised-like tiny model must read the layout channels at all
        pipe.transformer.patch_embedding.weight[:, 16:] = 1.0

    def run(layout: torch.Tensor) -> torch.Tensor:
        return pipe("a red circle", num_inference_steps=2, generator=torch.Generator().manual_seed(1),
                    output_type="latent", layout=layout).frames

    left = torch.zeros(1, 2, 5, 4, 4)
    left[0, 0, :, 1, 0] = 1.0
    right = torch.zeros(1, 2, 5, 4, 4)
    right[0, 0, :, 1, 3] = 1.0
    assert not torch.allclose(run(left), run(right))
    torch.testing.assert_close(run(left), run(left))


def test_when_the_transformer_reads_a_layout_but_there_is_no_planner_then_value_error(minilm) -> None:
    pipe = tiny_layout_pipeline(minilm)
    pipe.layout_planner = None
    with pytest.raises(ValueError, match="layout_planner"):
        pipe("a red circle", num_inference_steps=1)
    with pytest.raises(ValueError, match="`layout`"):
        pipe("a red circle", num_inference_steps=1, layout=torch.zeros(1, 2, 5, 8, 8))
