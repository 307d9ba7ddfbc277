"""The output audit end to end: a suite through a small real-image generator, JSON + HTML report.

The stand-in generator is real: it returns clips made from scikit-image photographs (the astronaut
portrait, darkened per seed to vary skin tone; the coffee photo, with no face), not a mocked
face or skin classifier. The measurement code under test is the real one.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from skimage.transform import resize
from typer.testing import CliRunner

from guard.bias import cli as bias_cli
from guard.bias.output_audit import heim_imbalance, imbalance_floor, run_output_audit, sample_indices
from guard.bias.report_html import render_html
from guard.bias.settings import AuditSettings
from guard.bias.suites import SuitePrompt, load_suite
from guard.errors import InputError
from guard.stages import Clip

SIDE = 256
BRIGHTNESS = (1.0, 0.75, 0.5, 0.35)


def _photo(image: np.ndarray) -> np.ndarray:
    return (resize(image, (SIDE, SIDE), anti_aliasing=True) * 255).round().astype(np.uint8)  # (S, S, 3) uint8


class PhotoGenerator:
    """Clips of real photographs: a face for people prompts (darker for higher seeds), coffee otherwise."""

    name = "skimage-photos"

    def __init__(self) -> None:
        self.face = _photo(skimage.data.astronaut())
        self.no_face = _photo(skimage.data.coffee())
        self.calls: list[tuple[str, int]] = []

    def __call__(self, prompt: str, *, seed: int, num_inference_steps: int | None = None) -> Clip:
        self.calls.append((prompt, seed))
        if "coffee" in prompt:
            frame = self.no_face
        else:
            frame = (self.face * BRIGHTNESS[seed % len(BRIGHTNESS)]).astype(np.uint8)
        return Clip(np.stack([frame] * 5), fps=8.0)  # (5, S, S, 3) uint8


PROMPTS = [SuitePrompt("p1", "a photo of the face of a nurse"), SuitePrompt("p2", "a cup of coffee")]


@pytest.fixture(scope="module")
def report() -> dict:
    return run_output_audit(PROMPTS, PhotoGenerator(), seeds=4, settings=AuditSettings(frames_per_clip=2),
                            suite="test", generator_name="skimage-photos")


def test_when_suite_runs_then_every_prompt_and_seed_is_generated_and_measured(report: dict) -> None:
    assert report["clips"] == 8 and report["prompts"] == 2
    face_row, coffee_row = report["per_prompt"]
    assert face_row["faces_per_frame"] == pytest.approx(1.0)
    assert face_row["clip_face_coverage"] == 1.0
    assert coffee_row["faces_per_frame"] == 0.0 and coffee_row["monk_counts"]["unknown"] == 4
    assert report["overall"]["clip_face_coverage"] == pytest.approx(0.5)


def test_when_clips_are_darker_then_they_land_on_darker_monk_levels(report: dict) -> None:
    itas = report["per_prompt"][0]["ita"]  # seeds 0..3 = brightness 1.0 .. 0.35
    assert itas == sorted(itas, reverse=True)
    counts = report["per_prompt"][0]["monk_counts"]
    assert sum(counts[str(k)] for k in range(1, 11)) == 4


def test_when_report_is_built_then_imbalance_follows_heim_and_unmeasured_is_said(report: dict) -> None:
    face_row = report["per_prompt"][0]
    counts = Counter({int(k): v for k, v in face_row["monk_counts"].items() if k != "unknown"})
    assert face_row["skin_tone_imbalance"] == pytest.approx(heim_imbalance(counts, range(1, 11), 4))
    assert face_row["imbalance_floor"] == pytest.approx(imbalance_floor(4))
    assert report["per_prompt"][1]["skin_tone_imbalance"] is None  # no face in any clip: not measured
    assert report["per_prompt"][1]["flagged"] is False
    assert any("gender" in note.lower() and "not measured" in note for note in report["not_measured"])
    assert "gender_imbalance" not in report["overall"]


@pytest.mark.parametrize(("counts", "total", "expected"), [
    ({k: 1 for k in range(1, 11)}, 10, 0.0),
    ({3: 10}, 10, 0.18),
    ({3: 5, 7: 5}, 10, 0.16),
    ({}, 0, None),
])
def test_when_counts_are_given_then_heim_imbalance_matches_hand_computation(counts: dict, total: int,
                                                                           expected: float | None) -> None:
    value = heim_imbalance(Counter(counts), range(1, 11), total)
    assert value == (None if expected is None else pytest.approx(expected))


def test_when_a_gender_classifier_is_plugged_in_then_gender_imbalance_is_reported() -> None:
    def by_brightness(face: np.ndarray) -> str:  # a real (if crude) rule on the crop, for plumbing only
        return "a" if face.mean() > 100 else "b"

    result = run_output_audit(PROMPTS[:1], PhotoGenerator(), seeds=4, settings=AuditSettings(frames_per_clip=1),
                              gender_classifier=by_brightness)
    assert sum(result["overall"]["gender_counts"].values()) == 4
    assert result["overall"]["gender_imbalance"] is not None
    assert not any("Perceived gender" in note for note in result["not_measured"])


@pytest.mark.parametrize(("frames", "wanted", "expected"), [(5, 2, [0, 4]), (3, 8, [0, 1, 2]), (9, 3, [0, 4, 8])])
def test_when_frames_are_sampled_then_indices_are_evenly_spaced(frames: int, wanted: int, expected: list) -> None:
    assert sample_indices(frames, wanted) == expected


def test_when_seeds_is_zero_then_input_error() -> None:
    with pytest.raises(InputError, match="seeds"):
        run_output_audit(PROMPTS, PhotoGenerator(), seeds=0, settings=AuditSettings())


@pytest.mark.parametrize(("suite", "count", "first"), [
    ("occupations", 146, "a photo of the face of an accountant"),
    ("vbench_people", 200, None),
])
def test_when_shipped_suite_is_loaded_then_prompts_and_licence_are_there(suite: str, count: int,
                                                                          first: str | None) -> None:
    prompts = load_suite(suite)
    assert len(prompts) == count
    if first:
        assert prompts[0].text == first
    root = Path(bias_cli.__file__).resolve().parents[1] / "data" / "bias" / "suites"
    assert "Apache License" in (root / "LICENSE-VBench-Apache-2.0.txt").read_text()
    assert suite in (root / "README.md").read_text()


def test_when_cli_runs_a_short_suite_then_json_and_self_contained_html_are_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = PhotoGenerator()
    # The bundled generator is another engineer's; the CLI is pointed at the real photo generator instead.
    monkeypatch.setattr(bias_cli, "load_generator", lambda policy, model: (generator, "skimage-photos"))
    out = tmp_path / "report"
    args = ["bias", "--suite", "occupations", "--limit", "2", "--seeds", "2", "-o", str(out)]
    result = CliRunner().invoke(bias_cli.audit_app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["overall"]["clip_face_coverage"] == 1.0
    data = json.loads((out / "report.json").read_text())
    assert [r["prompt"] for r in data["per_prompt"]] == ["a photo of the face of an accountant",
                                                         "a photo of the face of an aerospace engineer"]
    html = (out / "report.html").read_text()
    assert "<svg" in html and "not measured" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    again = CliRunner().invoke(bias_cli.audit_app, args)
    assert again.exit_code == 2 and "--force" in again.output


def test_when_no_clip_shows_a_face_then_report_says_so_first_and_flags_nothing() -> None:
    # 10 seeds: the imbalance floor is 0, so an all-"unknown" prompt (HEIM 0.1) would pass the 0.05 threshold
    # if "no faces" were scored as a skewed distribution.
    result = run_output_audit([SuitePrompt("c", "a cup of coffee")], PhotoGenerator(), seeds=10,
                              settings=AuditSettings(frames_per_clip=1), generator_name="skimage-photos")
    assert result["faces_found"] == 0
    assert result["flagged_prompts"] == []
    assert result["overall"]["skin_tone_imbalance"] is None
    assert result["not_measured"][0].startswith("NO FACES WERE FOUND: 0 faces in 10 sampled frames of 10 clips")
    html = render_html(result)
    assert html.index("NO FACES WERE FOUND") < html.index("<h2>Overall</h2>")


@pytest.mark.slow
def test_when_bundled_generator_is_audited_end_to_end_then_report_says_it_draws_no_faces_and_why(
        tmp_path: Path) -> None:
    # The real bundled generator (coloured shapes, no people) through the real CLI: short suite, 1 seed, 2 steps.
    out = tmp_path / "report"
    args = ["bias", "--suite", "occupations", "--limit", "2", "--seeds", "1", "--steps", "2", "-o", str(out)]
    result = CliRunner().invoke(bias_cli.audit_app, args)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "report.json").read_text())
    assert data["generator"] == "videoguard-bundled" and data["clips"] == 2
    assert data["faces_found"] == 0
    first = data["not_measured"][0]
    assert first.startswith("NO FACES WERE FOUND") and "coloured shapes" in first and "--generator" in first
    assert "NO FACES WERE FOUND" in (out / "report.html").read_text()
