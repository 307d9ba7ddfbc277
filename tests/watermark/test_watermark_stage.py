"""The guard integration: factory, settings validation, fail-closed embedding, detection as a WatermarkReading."""

from __future__ import annotations

import numpy as np
import pytest

from guard.errors import InputError, PolicyError
from guard.policy import load_policy
from guard.sample import photo_pan
from guard.stages import Clip, WatermarkReading, WatermarkStage
from guard.verdict import Decision
from guard.watermark_stage import build_watermark_stage

PAYLOAD = bytes.fromhex("fedcba9876543210")


def test_when_built_from_the_default_policy_then_it_is_a_watermark_stage() -> None:
    stage = build_watermark_stage(load_policy())
    assert isinstance(stage, WatermarkStage)
    assert stage.name == "watermark" and stage.algorithm == "io.videoguard.wm.v2"


def test_when_a_clip_is_embedded_then_detect_reads_the_payload_back() -> None:
    stage = build_watermark_stage(load_policy())
    verdict, marked = stage.embed(Clip(photo_pan(frames=36, size=192), 24.0), PAYLOAD)
    assert verdict.decision is Decision.ALLOW and verdict.evidence["psnr_db"] >= 42.0
    reading = stage.detect(marked)
    assert isinstance(reading, WatermarkReading)
    assert reading.marked and reading.payload == PAYLOAD and reading.p_value < 1e-6
    assert len(reading.bit_confidence) == 64


def test_when_a_private_key_is_set_then_the_public_detector_does_not_see_the_mark() -> None:
    private = build_watermark_stage(load_policy(overrides={"watermark": {"settings": {"key": "secret"}}}))
    _, marked = private.embed(Clip(photo_pan(frames=36, size=192), 24.0), PAYLOAD)
    assert private.algorithm.startswith("io.videoguard.wm.v2+key-")
    assert private.detect(marked).payload == PAYLOAD
    public = build_watermark_stage(load_policy()).detect(marked)
    assert not public.marked and public.payload is None


def test_when_the_frame_is_too_small_then_embed_raises_instead_of_skipping() -> None:
    stage = build_watermark_stage(load_policy())
    with pytest.raises(InputError, match="too small"):
        stage.embed(Clip(np.zeros((8, 48, 320, 3), np.uint8), 24.0), PAYLOAD)


def test_when_the_frames_the_carrier_marks_are_black_then_embed_raises_instead_of_releasing_unmarked() -> None:
    """A 1 s fade-in: v3 marks only the second's first two frames, and black frames have no room for a mark."""
    frames = photo_pan(frames=24, size=192)
    frames[:3] = 0
    v3 = build_watermark_stage(load_policy(overrides={"watermark": {"settings": {"format": "v3"}}}))
    with pytest.raises(InputError, match="no room"):
        v3.embed(Clip(frames, 24.0), PAYLOAD)
    verdict, _ = build_watermark_stage(load_policy()).embed(Clip(frames, 24.0), PAYLOAD)  # v2: the doublet's 8
    # frames reach past the black ones
    assert verdict.decision is Decision.ALLOW


@pytest.mark.parametrize("version, advice", [("v3", "format v2 or v1"), ("v2", "format v1 marks every frame"),
                                             ("v1", None)])
def test_when_no_marked_frame_has_room_then_the_error_names_a_format_that_marks_more_frames(
        version: str, advice: str | None) -> None:
    """The advice follows the configured format: v2 (the default) is told about v1, never about itself."""
    frames = photo_pan(frames=24, size=192)
    frames[:8] = 0  # the doublet's two slots (and the pulse's two frames) at 24 fps
    if version == "v1":
        frames[:] = 0
    stage = build_watermark_stage(load_policy(overrides={"watermark": {"settings": {"format": version}}}))
    with pytest.raises(InputError, match="no room") as raised:
        stage.embed(Clip(frames, 24.0), PAYLOAD)
    message = str(raised.value)
    assert f"format {version} " not in message.split("no room")[1]  # never advised to use what it already uses
    assert (advice in message) if advice else ("marks more frames" not in message)


@pytest.mark.parametrize("payload", [b"", bytes(7), bytes(9)])
def test_when_the_payload_has_the_wrong_size_then_embed_raises(payload: bytes) -> None:
    with pytest.raises(InputError, match="8 bytes"):
        build_watermark_stage(load_policy()).embed(Clip(np.zeros((2, 96, 96, 3), np.uint8), 24.0), payload)


@pytest.mark.parametrize("version, shape", [("v3", "pulse"), ("v2", "doublet"), ("v1", "manchester")])
def test_when_the_policy_names_a_format_then_its_carrier_is_drawn_and_its_id_recorded(version: str,
                                                                                     shape: str) -> None:
    import watermark

    stage = build_watermark_stage(load_policy(overrides={"watermark": {"settings": {"format": version}}}))
    frames = photo_pan(frames=36, size=192)
    verdict, marked = stage.embed(Clip(frames, 24.0), PAYLOAD)
    assert stage.algorithm == f"io.videoguard.wm.{version}" and verdict.evidence["algorithm"] == stage.algorithm
    assert np.array_equal(marked.frames, watermark.embed(frames, PAYLOAD, fps=24.0, carrier_shape=shape))
    assert stage.detect(marked).payload == PAYLOAD


@pytest.mark.parametrize("settings", [{"strength": 0}, {"strength": 100}, {"p_threshold": 2}, {"colour": 1},
                                      {"format": "v9"}])
def test_when_settings_are_invalid_then_building_raises_a_policy_error(settings: dict) -> None:
    with pytest.raises(PolicyError, match="watermark.settings"):
        build_watermark_stage(load_policy(overrides={"watermark": {"settings": settings}}))


def test_when_reinforced_twice_then_the_strength_escalates_from_the_third_embed_up_to_the_ceiling() -> None:
    policy = load_policy(overrides={"watermark": {"settings": {"escalate": 1.25, "max_strength": 3.0}}})
    stage = build_watermark_stage(policy)
    base = stage.settings.strength
    clip = Clip(photo_pan(frames=17, size=128), 8.0)
    hint, strengths, psnrs = None, [], []
    for _ in range(4):
        verdict, marked = stage.embed(clip, PAYLOAD, hint=hint)
        strengths.append(verdict.evidence["strength"])
        psnrs.append(verdict.evidence["psnr_db"])
        hint = stage.reinforce(clip, marked, marked, PAYLOAD, hint)
    assert strengths == [base, base, round(base * 1.25, 4), 3.0]  # 2.1, 2.1, 2.625, capped at 3.0 (not 3.28)
    assert psnrs[2] < psnrs[1] - 1.0 and psnrs[3] < psnrs[2]  # the stronger mark costs PSNR, as recorded
