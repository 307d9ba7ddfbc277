"""Test-wide settings: offline hub, all state in a temporary VIDEOGUARD_HOME, shared sample videos."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Derived model files (MiniLM's ONNX export, ~20 s to build) are shared by test sessions, not rebuilt per temp home.
os.environ.setdefault("VIDEOGUARD_MODEL_CACHE", os.path.join(tempfile.gettempdir(), "videoguard-test-model-cache"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from guard.sample import photo_pan  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _videoguard_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state directory for the session (the dev CA is made once); tests needing isolation use ``home``."""
    home = tmp_path_factory.mktemp("videoguard-home")
    os.environ["VIDEOGUARD_HOME"] = str(home)
    os.environ.pop("VIDEOGUARD_POLICY", None)
    return home


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, isolated state directory for this test."""
    path = tmp_path / "home"
    monkeypatch.setenv("VIDEOGUARD_HOME", str(path))
    return path


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-second 256x256 H.264 MP4 of a photo pan."""
    from guard.stages import Clip
    from guard.video_io import write_mp4

    path = tmp_path_factory.mktemp("videos") / "pan.mp4"
    write_mp4(Clip(photo_pan(), 24.0), path, crf=18, preset="ultrafast")
    return path
