"""The layout stage's outlines: upright templates, their placement along a track (where the scene draws the
object), the planner's outline head, and a pipeline directory whose transformer reads planned outlines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel

from generator.layout_planner import (
    SKETCH_BACKGROUND,
    LayoutPlanner,
    paint_sketch,
    place_silhouettes,
    scene_layout,
    scene_silhouette_targets,
)
from generator.pipeline_videoguard import VideoguardTextToVideoPipeline, resample_frames
from generator.scenes import SHAPES, SIZE, Scene, background_rgb, make_scene, render, silhouette_template
from generator.text_encoder import load_minilm

TINY_PLANNER = dict(hidden_dim=32, num_layers=1, num_heads=2)


@pytest.fixture(scope="module")
def minilm():
    return load_minilm()


def test_when_templates_are_drawn_then_each_shape_has_its_own_outline() -> None:
    templates = np.stack([silhouette_template(s, 32) for s in SHAPES])
    assert templates.min() >= 0.0 and templates.max() == 1.0
    areas = templates.sum(axis=(1, 2))
    assert len(set(np.round(areas).tolist())) == len(SHAPES)  # circle, square, triangle, star differ in area
    assert templates[:, 0, 0].max() == 0.0  # the corners stay empty: the shape fits inside the template


@pytest.mark.parametrize("seed", range(6))
def test_when_true_outlines_are_placed_then_they_cover_what_the_scene_draws(seed: int) -> None:
    scene = make_scene(20_000_000 + seed)
    tracks, present = scene_layout(scene)
    templates, _, angles = scene_silhouette_targets(scene, 32)
    coverage = place_silhouettes(templates[None], tracks[None], angles[None], present[None], SIZE)[0].numpy()
    drawn = render(scene).astype(int)
    empty = render(Scene(scene.seed, (), scene.background, scene.tone, scene.caption)).astype(int)
    obj = np.abs(drawn - empty).sum(-1) > 30
    placed = coverage > 0.5
    assert (obj & placed).sum() / (obj | placed).sum() > 0.8


def test_when_an_object_rotates_then_its_turn_grows_and_its_outline_turns() -> None:
    scene = make_scene(3, triple=("red", "triangle", "rotating"), two_objects=False)
    templates, turns, angles = scene_silhouette_targets(scene, 32)
    assert turns[0, 0] == 0 and turns[0, -1] == pytest.approx(0.75 * np.pi, rel=1e-4)
    tracks, present = scene_layout(scene)
    coverage = place_silhouettes(templates[None], tracks[None], angles[None], present[None], SIZE)[0]
    first, last = coverage[0] > 0.5, coverage[-1] > 0.5
    assert (first & last).sum() / (first | last).sum() < 0.9


def test_when_a_planner_has_an_outline_head_then_it_plans_templates_and_turns(minilm) -> None:
    torch.manual_seed(0)
    planner = LayoutPlanner(**TINY_PLANNER, silhouette_size=16).eval()
    templates, turns = planner.plan_outlines(*minilm, ["a red star rotating", "a blue box"])
    assert templates.shape == (2, 2, 16, 16) and turns.shape == (2, 2, 17)
    assert float(templates.min()) >= 0.0 and float(templates.max()) <= 1.0
    with pytest.raises(ValueError, match="outline head"):
        LayoutPlanner(**TINY_PLANNER).plan_outlines(*minilm, ["a red star"])


def test_when_frames_are_resampled_then_the_ends_stay_and_the_middle_is_linear() -> None:
    values = torch.arange(5.0).view(1, 1, 5, 1).expand(1, 2, 5, 3)
    out = resample_frames(values, 9)
    assert out.shape == (1, 2, 9, 3)
    torch.testing.assert_close(out[0, 0, :, 0], torch.arange(9.0) / 2)
    assert resample_frames(values[..., 0], 9).shape == (1, 2, 9)


def tiny_outline_pipeline(minilm) -> VideoguardTextToVideoPipeline:
    tokenizer, text_model = minilm
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8,
                                        in_channels=16 + 2 + 16, out_channels=16, text_dim=384, freq_dim=16,
                                        ffn_dim=32, num_layers=1, rope_max_seq_len=32)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(8, 8, 8, 8),
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        layers_per_block=1, norm_num_groups=4, shift_factor=0.0, scaling_factor=1.0)
    return VideoguardTextToVideoPipeline(transformer=transformer, vae=vae,
                                         scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                                         text_encoder=text_model, tokenizer=tokenizer,
                                         layout_planner=LayoutPlanner(**TINY_PLANNER, silhouette_size=16,
                                                                      predict_colour=True).eval(),
                                         default_num_frames=5, default_size=32, silhouette_gain=4.0)


def test_when_an_outline_conditioned_directory_is_loaded_then_it_plans_outlines_and_draws(tmp_path, minilm) -> None:
    tiny_outline_pipeline(minilm).save_pretrained(tmp_path)
    pipe = VideoguardTextToVideoPipeline.from_pretrained(str(tmp_path))
    pipe.set_progress_bar_config(disable=True)
    assert pipe.config.silhouette_gain == 4.0 and pipe.layout_channels == 18
    layout = pipe.plan_layout(["a red star moving left"], 5, (4, 4))
    assert layout.shape == (1, 18, 5, 4, 4) and float(layout[:, 2:].abs().sum()) > 0
    frames = pipe("a red star moving left", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).frames
    assert frames.shape == (1, 5, 32, 32, 3) and frames.dtype == np.uint8


def test_when_the_planner_has_no_outline_head_but_the_transformer_reads_outlines_then_value_error(minilm) -> None:
    pipe = tiny_outline_pipeline(minilm)
    pipe.layout_planner = LayoutPlanner(**TINY_PLANNER).eval()
    with pytest.raises(ValueError, match="outline head"):
        pipe("a red circle", num_inference_steps=1)


def test_when_a_true_layout_is_drawn_then_outlines_are_required_and_change_the_channels(minilm) -> None:
    pipe = tiny_outline_pipeline(minilm)
    scene = make_scene(5, triple=("red", "star", "left"), two_objects=False)
    tracks, present = scene_layout(scene)
    templates, _, angles = scene_silhouette_targets(scene, 16)
    with pytest.raises(ValueError, match="templates"):
        pipe.draw_layout(tracks[None], present[None], 5, (4, 4))
    star = pipe.draw_layout(tracks[None], present[None], 5, (4, 4), templates[None], angles[None])
    circle = torch.from_numpy(silhouette_template("circle", 16))[None, None].expand(1, 2, 16, 16)
    other = pipe.draw_layout(tracks[None], present[None], 5, (4, 4), circle, angles[None])
    assert star.shape == (1, 18, 5, 4, 4)
    torch.testing.assert_close(star[:, :2], other[:, :2])  # the same heatmaps
    assert not torch.allclose(star[:, 2:], other[:, 2:])  # another outline


def test_when_a_sketch_is_painted_then_objects_take_their_colour_over_grey_and_later_slots_win() -> None:
    coverage = torch.zeros(1, 2, 1, 8, 8)
    coverage[0, 0, 0, 2:6, 2:6] = 1.0
    coverage[0, 1, 0, 4:8, 4:8] = 1.0
    colours = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    frames = paint_sketch(coverage, colours)  # (1, 1, 3, 8, 8)
    assert frames.shape == (1, 1, 3, 8, 8)
    torch.testing.assert_close(frames[0, 0, :, 0, 0], torch.full((3,), SKETCH_BACKGROUND))
    torch.testing.assert_close(frames[0, 0, :, 3, 3], colours[0, 0])
    torch.testing.assert_close(frames[0, 0, :, 5, 5], colours[0, 1])  # the second object is drawn over the first


def test_when_sampling_starts_from_the_sketch_then_it_runs_fewer_steps_and_draws_another_clip(minilm) -> None:
    pipe = tiny_outline_pipeline(minilm)
    pipe.set_progress_bar_config(disable=True)
    calls = []
    pipe.transformer.register_forward_hook(lambda *_: calls.append(1))

    def run(strength: float) -> torch.Tensor:
        return pipe("a red star moving left", num_inference_steps=4, strength=strength, output_type="latent",
                    generator=torch.Generator().manual_seed(0)).frames

    from_noise = run(1.0)
    assert len(calls) == 4
    from_sketch = run(0.5)
    assert len(calls) == 4 + 2 and not torch.allclose(from_noise, from_sketch)
    run(0.1)  # fewer than one step's worth still runs the last step
    assert len(calls) == 4 + 2 + 1
    colours = pipe.layout_planner.plan_colours(*minilm, ["a red star"])
    assert colours.shape == (1, 2, 3) and float(colours.min()) >= 0.0 and float(colours.max()) <= 1.0


@pytest.mark.parametrize("strength", [0.0, 1.5, -0.2])
def test_when_strength_is_out_of_range_then_value_error(minilm, strength: float) -> None:
    pipe = tiny_outline_pipeline(minilm)
    with pytest.raises(ValueError, match="strength"):
        pipe("a red star", num_inference_steps=4, strength=strength)


def test_when_the_planner_cannot_sketch_then_strength_below_one_is_a_value_error(minilm) -> None:
    pipe = tiny_outline_pipeline(minilm)
    pipe.layout_planner = LayoutPlanner(**TINY_PLANNER, silhouette_size=16).eval()  # no colour head
    with pytest.raises(ValueError, match="colour heads"):
        pipe("a red star", num_inference_steps=4, strength=0.5)


def test_when_a_planner_has_a_background_head_then_the_sketch_takes_its_colour_and_the_objects_are_unchanged(
        minilm) -> None:
    tokenizer, text_model = minilm
    torch.manual_seed(0)
    plain = LayoutPlanner(**TINY_PLANNER, silhouette_size=16, predict_colour=True).eval()
    torch.manual_seed(0)
    with_background = LayoutPlanner(**TINY_PLANNER, silhouette_size=16, predict_colour=True,
                                    predict_background=True).eval()
    with_background.load_state_dict(plain.state_dict(), strict=False)
    captions = ["a red star moving left over a plain beige background", "a blue circle"]
    before, after = (p.plan_all(tokenizer, text_model, captions) for p in (plain, with_background))
    assert before.background is None and after.background.shape == (2, 3)
    torch.testing.assert_close(after.tracks, before.tracks)  # one more query leaves the object slots alone
    torch.testing.assert_close(after.colours, before.colours)
    coverage = torch.zeros(2, 2, 1, 8, 8)
    frames = paint_sketch(coverage, after.colours, after.background)  # (2, 1, 3, 8, 8)
    torch.testing.assert_close(frames[:, 0, :, 0, 0], after.background)


def test_when_scenes_differ_in_tone_then_their_background_means_differ() -> None:
    scenes = [make_scene(seed, triple=("red", "circle", "left"), two_objects=False) for seed in range(40)]
    means = {scene.tone: background_rgb(scene) for scene in scenes}
    assert len(means) > 3
    assert all(0.0 <= v <= 1.0 for rgb in means.values() for v in rgb)
    assert len({tuple(round(v, 2) for v in rgb) for rgb in means.values()}) == len(means)
