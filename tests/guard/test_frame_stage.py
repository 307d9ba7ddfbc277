"""The frame stage end to end with the real bundled models: benign photographs pass, a flash frame
is found and reported with its timestamp, k-of-n, face blur, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers.base import FACE
from classifiers.nudenet_detector import NudeNetClassifier
from guard.errors import InputError, PolicyError
from guard.frame_stage import build_frame_stage, scan_file
from guard.policy import Policy, load_policy
from guard.stages import Clip
from guard.verdict import Decision
from guard.video_io import read_video, write_mp4
from tests.classifiers.media import fitted, pan

FPS = 24.0
FLASH_AT = 157  # not on the 2-per-second grid (every 12th frame)


def _policy(settings: dict[str, Any] | None = None, thresholds: dict[str, Any] | None = None) -> Policy:
    frames: dict[str, Any] = {"settings": settings or {}}
    if thresholds:
        frames["thresholds"] = thresholds
    return load_policy(overrides={"frames": frames})


@pytest.fixture(scope="module")
def benign_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of camera pans over eight real photographs, H.264."""
    names = ("astronaut", "coffee", "chelsea", "rocket", "camera", "horse", "coins", "hubble_deep_field")
    frames = np.concatenate([pan(n, 36, 320, 180) for n in names])  # (288, 180, 320, 3)
    path = tmp_path_factory.mktemp("frames") / "benign.mp4"
    write_mp4(Clip(frames, FPS), path, crf=20, preset="ultrafast")
    return path


@pytest.fixture(scope="module")
def flash_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 frames (12.5 s) of a faceless pan with one frame of a face photograph at FLASH_AT."""
    frames = pan("rocket", 300)  # (300, 144, 256, 3)
    frames[FLASH_AT] = fitted("astronaut", 256, 144)
    path = tmp_path_factory.mktemp("frames") / "flash.mp4"
    write_mp4(Clip(frames, FPS), path, crf=18, preset="ultrafast")
    return path


def test_when_benign_photographs_then_allowed_with_evidence(benign_video: Path) -> None:
    verdict = scan_file(benign_video, load_policy())
    assert verdict.decision is Decision.ALLOW, verdict.reasons
    evidence = verdict.evidence
    assert evidence["total_frames"] == 288
    assert evidence["sampled_frames"] >= 2 * 12  # at least 2 per second
    assert {c["name"] for c in evidence["classifiers"]} == {"nudenet", "opennsfw"}
    assert {"sexual", "nudity", "nsfw"} <= set(verdict.scores)
    json.dumps(verdict.to_dict())


def test_when_file_is_sampled_from_yuv_planes_then_results_equal_the_scan_of_its_rgb_frames(
        benign_video: Path) -> None:
    policy = load_policy()
    streamed = scan_file(benign_video, policy)  # thumbnails from the YUV planes, RGB only for selected frames
    in_memory, _ = build_frame_stage(policy)(read_video(benign_video))  # every frame decoded to RGB first
    for key in ("sampled_frames", "sampling", "total_frames"):
        assert streamed.evidence[key] == in_memory.evidence[key], key
    assert streamed.scores == pytest.approx(in_memory.scores, abs=1e-6)
    assert streamed.decision is in_memory.decision


@pytest.mark.parametrize("names", [["nudenet", "opennsfw"], ["opennsfw", "faces_haar"]])
def test_when_engine_spreads_frames_over_workers_then_results_equal_one_call_per_model(names: list[str]) -> None:
    stage = build_frame_stage(_policy(settings={"classifiers": names}))
    assert stage.engine.workers >= 2  # the pool is in use, not the sequential path
    frames = np.stack([fitted(n, 256, 144) for n in ("astronaut", "coffee", "camera", "rocket", "chelsea")])
    outputs = stage.engine._run_all(frames)
    assert list(outputs) == names
    for classifier in stage.engine.classifiers:
        direct = classifier.classify(frames)
        for spread, whole in zip(outputs[classifier.name], direct, strict=True):
            assert dict(spread.scores) == pytest.approx(dict(whole.scores), abs=1e-5)
            assert [r.label for r in spread.regions] == [r.label for r in whole.regions]


def test_when_flash_frame_fires_a_classifier_then_verdict_reports_its_time(flash_video: Path) -> None:
    policy = _policy(thresholds={FACE: {"block": 0.5}})
    verdict = scan_file(flash_video, policy)
    assert verdict.decision is Decision.BLOCK
    offending = verdict.evidence["offending"]
    assert [o["frame"] for o in offending] == [FLASH_AT]
    assert offending[0]["category"] == FACE and offending[0]["classifier"] == "nudenet"
    assert offending[0]["t"] == pytest.approx(FLASH_AT / FPS, abs=0.01)
    assert f"frame {FLASH_AT}" in verdict.reasons[0]


def test_when_sampler_only_samples_on_the_clock_then_the_flash_frame_is_missed(flash_video: Path) -> None:
    policy = _policy(settings={"min_change": 1.0, "odd_min_change": 1.0}, thresholds={FACE: {"block": 0.5}})
    verdict = scan_file(flash_video, policy)
    assert verdict.decision is Decision.ALLOW  # the control: without change detection it slips through


@pytest.mark.parametrize(("k", "n", "decision"), [(1, 1, Decision.BLOCK), (1, 5, Decision.BLOCK),
                                                  (2, 3, Decision.FLAG)])
def test_when_k_of_n_rule_then_one_frame_blocks_only_if_k_is_one(flash_video: Path, k: int, n: int,
                                                                 decision: Decision) -> None:
    policy = _policy(settings={"k_of_n": {"default": {"k": 1, "n": 1}, FACE: {"k": k, "n": n}}},
                     thresholds={FACE: {"block": 0.5}})
    assert scan_file(flash_video, policy).decision is decision


def test_when_face_blur_on_then_faces_are_gone_and_decision_is_rewrite() -> None:
    clip = Clip(pan("astronaut", 17, 256, 256), FPS)  # the bundled generator's length: scanned whole
    verdict, released = build_frame_stage(_policy(settings={"face_blur": True}))(clip)
    assert verdict.decision is Decision.REWRITE
    assert verdict.evidence["blurred_frames"] == 17 and verdict.evidence["sampling"] == {"whole": 17}
    assert released.frames.shape == clip.frames.shape and not np.array_equal(released.frames, clip.frames)
    faces_after = [r.scores[FACE] for r in NudeNetClassifier().classify(released.frames)]
    assert max(faces_after) < 0.3


def test_when_face_blur_off_then_clip_is_returned_untouched() -> None:
    clip = Clip(pan("astronaut", 17, 256, 256), FPS)
    verdict, released = build_frame_stage(load_policy())(clip)
    assert verdict.decision is Decision.ALLOW and released is clip
    assert verdict.evidence["frames_with_faces"] == 17


def test_when_long_clip_in_memory_then_stage_samples_it(flash_video: Path) -> None:
    frames = pan("rocket", 120)
    frames[77] = fitted("astronaut", 256, 144)
    verdict, _ = build_frame_stage(_policy(thresholds={FACE: {"flag": 0.5}}))(Clip(frames, FPS))
    assert verdict.decision is Decision.FLAG
    assert [o["frame"] for o in verdict.evidence["offending"]] == [77]
    assert verdict.evidence["sampled_frames"] < 30


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_when_file_is_corrupt_then_input_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(InputError):
        scan_file(path, load_policy())


def test_when_file_is_missing_then_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        scan_file(tmp_path / "missing.mp4", load_policy())


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"classifiers": ["nope"]}, "unknown frame classifier"), ({"k_of_n": {"default": {"k": 3, "n": 2}}}, "k_of_n"),
     ({"sample_fps": 0}, "sample_fps"), ({"colour": "red"}, "colour"), ({"classifiers": []}, "classifiers")],
)
def test_when_frame_settings_invalid_then_policy_error_names_them(settings: dict, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        build_frame_stage(_policy(settings=settings))


@pytest.mark.parametrize(("min_nsfw", "decision"), [(0.10, Decision.FLAG), (0.0, Decision.BLOCK)])
def test_when_nudenet_fires_without_opennsfw_then_corroboration_decides(min_nsfw: float, decision: Decision) -> None:
    clip = Clip(np.stack([fitted("colorwheel", 256, 256)] * 17), FPS)  # NudeNet: "buttocks exposed" 0.83
    policy = _policy(settings={"corroborate": {"nudity": {"category": "nsfw", "min": min_nsfw}}})
    verdict, _ = build_frame_stage(policy)(clip)
    assert verdict.scores["nudity"] >= 0.6 and verdict.scores["nsfw"] < 0.1
    assert verdict.decision is decision


def _tiny_onnx(path: Path, bias: float) -> Path:
    """A real ONNX image classifier with 2 outputs whose values are ``bias`` plus a small term."""
    import torch

    torch.manual_seed(0)
    linear = torch.nn.Linear(3, 2)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.constant_(linear.bias, bias)
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), linear).eval()
    torch.onnx.export(model, torch.zeros(1, 3, 16, 16), str(path), dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    return path


@pytest.mark.parametrize(("bias", "outcome"), [(0.9, Decision.BLOCK), (3.0, ValueError)])
def test_when_pluggable_model_in_policy_then_it_scores_or_fails_closed(tmp_path: Path, bias: float,
                                                                       outcome: object) -> None:
    model = {"type": "onnx", "path": str(_tiny_onnx(tmp_path / f"m{bias}.onnx", bias)), "labels": ["safe", "gore"],
             "label_map": {"gore": "violence"}, "size": [16, 16], "output": "probabilities"}
    policy = _policy(settings={"classifiers": ["tiny_gore"], "models": {"tiny_gore": model}},
                     thresholds={"violence": {"block": 0.5}})
    stage = build_frame_stage(policy)
    clip = Clip(pan("coffee", 17, 64, 64), FPS)
    if outcome is ValueError:  # "probabilities" that are not: refuse rather than compare garbage
        with pytest.raises(ValueError, match="outside"):
            stage(clip)
        return
    verdict, _ = stage(clip)
    assert verdict.decision is outcome and verdict.scores["violence"] == pytest.approx(bias, abs=1e-4)
    assert "nudity" in verdict.evidence["unscored_thresholds"]


def test_when_file_is_short_then_scan_classifies_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "short.mp4"
    write_mp4(Clip(pan("chelsea", 17, 192, 128), 8.0), path, preset="ultrafast")  # the generator's 17 frames at 8 fps
    verdict = scan_file(path, load_policy())
    assert verdict.evidence["sampled_frames"] == verdict.evidence["total_frames"] == 17
    assert verdict.decision is Decision.ALLOW


def test_when_pluggable_model_file_is_corrupt_then_policy_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07 definitely not a protobuf graph" * 10)
    model = {"type": "onnx", "path": str(path), "labels": ["safe", "gore"]}
    with pytest.raises(PolicyError, match="failed to load"):
        build_frame_stage(_policy(settings={"classifiers": ["broken"], "models": {"broken": model}}))


def test_when_scan_exceeds_timeout_then_error_verdict(benign_video: Path) -> None:
    verdict = scan_file(benign_video, load_policy(overrides={"frames": {"timeout_s": 0.01}}))
    assert verdict.decision is Decision.ERROR and verdict.blocked
    assert "timeout_s" in verdict.reasons[0]
