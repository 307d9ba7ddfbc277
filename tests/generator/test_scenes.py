"""Procedural scenes: deterministic from a seed, objects in frame, held-out triples never trained on."""

from __future__ import annotations

import numpy as np
import pytest

from generator.scenes import (
    COLOURS,
    HELD_OUT_TRIPLES,
    MOTIONS,
    NUM_FRAMES,
    REVERSED_MOTION,
    SHAPES,
    TRAIN_TRIPLES,
    caption_variant,
    held_out_prompts,
    make_scene,
    object_tracks,
    render,
)


@pytest.mark.parametrize("seed", [0, 1, 12345, 3_999_999])
def test_when_same_seed_then_same_clip_and_caption(seed: int) -> None:
    a, b = make_scene(seed), make_scene(seed)
    assert a == b
    np.testing.assert_array_equal(render(a), render(b))


def test_when_seeds_differ_then_clips_differ() -> None:
    clips = [render(make_scene(s)) for s in range(6)]
    for i in range(len(clips)):
        for j in range(i + 1, len(clips)):
            assert not np.array_equal(clips[i], clips[j])


def test_when_rendered_then_shape_is_17_frames_128_px_uint8() -> None:
    frames = render(make_scene(3))
    assert frames.shape == (NUM_FRAMES, 128, 128, 3) and frames.dtype == np.uint8


def test_when_split_then_train_and_held_out_are_disjoint_and_cover_all_triples() -> None:
    train = set(TRAIN_TRIPLES)
    assert not train & HELD_OUT_TRIPLES
    assert len(train | HELD_OUT_TRIPLES) == len(COLOURS) * len(SHAPES) * len(MOTIONS)
    assert 0.05 < len(HELD_OUT_TRIPLES) / len(train) < 0.25


def test_when_held_out_then_every_colour_shape_and_motion_is_still_trained() -> None:
    for index, vocabulary in enumerate((COLOURS, SHAPES, MOTIONS)):
        assert {t[index] for t in TRAIN_TRIPLES} == set(vocabulary)


def test_when_sampling_training_scenes_then_no_object_shows_a_held_out_triple() -> None:
    for seed in range(400):
        scene = make_scene(seed)
        for obj in scene.objects:
            assert (obj.colour, obj.shape, obj.motion) not in HELD_OUT_TRIPLES
        if any(o.motion == "growing" for o in scene.objects):
            assert caption_variant(scene, 0, reverse=True) is None


def _reversible_into_held_out() -> list[tuple[str, str, str]]:
    """Training triples whose clip, played backwards, would show a held-out triple."""
    out = []
    for colour, shape, motion in TRAIN_TRIPLES:
        backwards = REVERSED_MOTION.get(motion)
        if backwards is not None and (colour, shape, backwards) in HELD_OUT_TRIPLES:
            out.append((colour, shape, motion))
    return out


def test_when_listing_reversible_triples_then_some_reverse_into_held_out_ones() -> None:
    assert len(_reversible_into_held_out()) >= 5


@pytest.mark.parametrize("triple", _reversible_into_held_out()[:6])
def test_when_reversing_a_clip_whose_reverse_is_held_out_then_no_caption(triple: tuple[str, str, str]) -> None:
    scene = make_scene(7, triple=triple, two_objects=False)
    assert caption_variant(scene, 0, reverse=True) is None
    assert caption_variant(scene, 0, reverse=False) is not None


@pytest.mark.parametrize("seed", range(0, 60, 7))
def test_when_objects_move_then_they_stay_inside_the_frame(seed: int) -> None:
    scene = make_scene(seed)
    for obj, track in zip(scene.objects, object_tracks(scene), strict=True):
        for x, y, r, _ in track:
            reach = r * (1.25 if obj.shape == "star" else 1.15)
            assert min(x, y) - reach >= -1 and max(x, y) + reach <= 129


UNKNOWN_TRIPLES = [("red", "hexagon", "left"), ("teal", "circle", "left"), ("red", "circle", "sideways")]


@pytest.mark.parametrize("triple", UNKNOWN_TRIPLES)
def test_when_triple_is_unknown_then_value_error_names_it(triple: tuple[str, str, str]) -> None:
    with pytest.raises(ValueError, match="unknown"):
        make_scene(0, triple=triple)


def test_when_held_out_prompts_requested_then_only_held_out_triples_and_the_caption_names_them() -> None:
    prompts = held_out_prompts(60)
    assert len(prompts) == 60
    for caption, triple in prompts:
        assert triple in HELD_OUT_TRIPLES
        assert caption and isinstance(caption, str)
