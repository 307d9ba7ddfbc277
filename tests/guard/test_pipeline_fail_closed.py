"""The pipeline fails closed: whichever stage raises, times out or is missing, nothing is released.

Failures are injected by wrapping one real stage at a time; the others are the real stages built by
``guard.assembly.build_pipeline``. The generator is a real (if simple) text-to-video callable that
pans over a scikit-image photograph, so these tests do not wait for the diffusion model.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from guard.assembly import build_pipeline
from guard.errors import InputError, InputTooLarge
from guard.ledger import Ledger
from guard.manifest_store import ManifestStore
from guard.pipeline import GuardedPipeline
from guard.policy import load_policy
from guard.sample import photo_pan
from guard.stages import Clip
from guard.verdict import Blocked, Decision
from guard.watermark_stage import build_watermark_stage


class PhotoPanGenerator:
    """A real, deterministic frame source: a pan over a photo (no people-free guarantee needed)."""

    name = "photo-pan"

    def __call__(self, prompt: str, *, seed: int, num_inference_steps: int | None = None) -> Clip:
        return Clip(photo_pan(frames=24, size=128, image="coffee"), 12.0)


class Exploding:
    """Wraps a stage so that calling it raises, as a crashing model or classifier would."""

    def __init__(self, inner: Any, method: str = "__call__") -> None:
        self.inner, self.method = inner, method
        self.name = getattr(inner, "name", "exploding")
        self.algorithm = getattr(inner, "algorithm", "x")

    def _boom(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected failure")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._boom() if self.method == "__call__" else self.inner(*args, **kwargs)

    def embed(self, *args: Any, **kwargs: Any) -> Any:
        return self._boom() if self.method == "embed" else self.inner.embed(*args, **kwargs)

    def detect(self, *args: Any, **kwargs: Any) -> Any:
        return self._boom() if self.method == "detect" else self.inner.detect(*args, **kwargs)

    def sign_file(self, *args: Any, **kwargs: Any) -> Any:
        return self._boom() if self.method == "sign_file" else self.inner.sign_file(*args, **kwargs)


class Sleeping(Exploding):
    def _boom(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(5)
        return None


@pytest.fixture(scope="module")
def real_pipeline(tmp_path_factory: pytest.TempPathFactory) -> GuardedPipeline:
    root = tmp_path_factory.mktemp("pipeline")
    return build_pipeline(load_policy(), generator=PhotoPanGenerator(), ledger=Ledger(root / "ledger.sqlite3"),
                          store=ManifestStore(root / "manifests"))


def _assert_nothing_released(out_dir: Path, pipeline: GuardedPipeline, stage: str) -> None:
    assert list(out_dir.iterdir()) == [], f"files left behind: {list(out_dir.iterdir())}"
    last = list(pipeline.ledger.rows())[-1]
    assert last["decision"] == "block"
    assert any(v["stage"] == stage and v["decision"] == "error" for v in last["verdicts"])


def test_when_every_stage_works_then_a_signed_marked_file_is_released(real_pipeline: GuardedPipeline,
                                                                      tmp_path: Path) -> None:
    release = real_pipeline.generate("a cup of coffee on a table", tmp_path / "out.mp4", seed=3)
    assert release.path.exists() and release.provenance_state == "trusted"
    assert [v.stage for v in release.verdicts][:3] == ["prompt", "generator", "frames"]
    assert "watermark-check" in [v.stage for v in release.verdicts]
    assert real_pipeline.store.get(release.release_id) is not None
    assert real_pipeline.ledger.verify().ok


@pytest.mark.parametrize("stage,method", [
    ("prompt", "__call__"), ("generator", "__call__"), ("frames", "__call__"),
    ("watermark", "embed"), ("watermark", "detect"), ("signer", "sign_file"),
])
def test_when_a_stage_raises_then_nothing_is_released(real_pipeline: GuardedPipeline, tmp_path: Path,
                                                      stage: str, method: str) -> None:
    broken = replace(real_pipeline, **{stage: Exploding(getattr(real_pipeline, stage), method)})
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(Blocked) as info:
        broken.generate("a cup of coffee on a table", out_dir / "clip.mp4")
    assert "injected failure" in " ".join(info.value.verdict.reasons)
    expected_stage = {"signer": "provenance", "watermark": "watermark"}.get(stage, stage)
    if method == "detect":
        expected_stage = "watermark-check"
    _assert_nothing_released(out_dir, broken, expected_stage)


@pytest.mark.parametrize("stage", ["prompt", "generator", "frames", "watermark", "signer"])
def test_when_a_required_stage_is_missing_then_release_is_refused(real_pipeline: GuardedPipeline,
                                                                  tmp_path: Path, stage: str) -> None:
    broken = replace(real_pipeline, **{stage: None})
    with pytest.raises(Blocked) as info:
        broken.generate("a cup of coffee on a table", tmp_path / "clip.mp4")
    assert "required" in " ".join(info.value.verdict.reasons) or info.value.verdict.decision is Decision.ERROR
    assert not (tmp_path / "clip.mp4").exists()


def test_when_a_stage_times_out_then_release_is_blocked(real_pipeline: GuardedPipeline, tmp_path: Path) -> None:
    policy = load_policy(overrides={"frames": {"timeout_s": 0.5}})
    slow = replace(real_pipeline, policy=policy, frames=Sleeping(real_pipeline.frames))
    with pytest.raises(Blocked) as info:
        slow.generate("a cup of coffee on a table", tmp_path / "clip.mp4")
    assert "timed out" in " ".join(info.value.verdict.reasons)
    assert not (tmp_path / "clip.mp4").exists()


@pytest.mark.parametrize("prompt,error", [("", InputError), ("   ", InputError), ("x" * 50_000, InputTooLarge)])
def test_when_prompt_is_empty_or_huge_then_input_error_before_any_stage(real_pipeline: GuardedPipeline,
                                                                        tmp_path: Path, prompt: str,
                                                                        error: type[Exception]) -> None:
    with pytest.raises(error):
        real_pipeline.generate(prompt, tmp_path / "clip.mp4")
    assert not (tmp_path / "clip.mp4").exists()


def test_when_ledger_stores_a_request_then_prompt_text_is_absent(real_pipeline: GuardedPipeline) -> None:
    secret = "a cup of coffee with the secret word zanzibar"
    real_pipeline.check_prompt(secret)
    assert "zanzibar" not in str(list(real_pipeline.ledger.rows())[-1])


class OtherKeyEmbedder:
    """A real watermark stage that embeds with one key while the release check reads with another: the encoded
    file never gives the payload back, whatever the closed loop re-embeds (a misconfigured or broken embedder)."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.writer = build_watermark_stage(load_policy(overrides={"watermark": {"settings": {"key": "other"}}}))
        self.name, self.algorithm = reader.name, reader.algorithm
        self.embeds = 0

    def embed(self, *args: Any, **kwargs: Any) -> Any:
        self.embeds += 1
        return self.writer.embed(*args, **kwargs)

    def reinforce(self, *args: Any, **kwargs: Any) -> Any:
        return self.writer.reinforce(*args, **kwargs)

    def detect(self, clip: Clip) -> Any:
        return self.reader.detect(clip)


def test_when_the_mark_never_reads_back_then_every_attempt_is_used_and_nothing_is_released(
        real_pipeline: GuardedPipeline, tmp_path: Path) -> None:
    stage = OtherKeyEmbedder(real_pipeline.watermark)
    broken = replace(real_pipeline, watermark=stage)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(Blocked):
        broken.generate("a cup of coffee on a table", out_dir / "clip.mp4")
    assert stage.embeds == load_policy().watermark.settings["attempts"] == 4
    _assert_nothing_released(out_dir, broken, "watermark-check")
