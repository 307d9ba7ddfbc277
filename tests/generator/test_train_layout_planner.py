"""The planner's training script resumes: stopped and rerun, it ends with the weights of an uninterrupted run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from generator import train_layout_planner

TINY_RUN = ["--scenes", "12", "--val-scenes", "4", "--steps", "4", "--batch", "8", "--held-out-prompts", "0",
            "--silhouette-size", "8", "--colour-head", "--background-head"]


def train(monkeypatch: pytest.MonkeyPatch, out: Path, *extra: str) -> None:
    monkeypatch.setattr(sys, "argv", ["train_layout_planner", *TINY_RUN, "--out", str(out), *extra])
    train_layout_planner.main()


def test_when_training_is_stopped_and_rerun_then_it_ends_with_the_uninterrupted_weights(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    train(monkeypatch, tmp_path / "straight")
    train(monkeypatch, tmp_path / "resumed", "--stop-after", "2")
    halfway = load_file(tmp_path / "resumed" / "diffusion_pytorch_model.safetensors")
    assert torch.load(tmp_path / "resumed" / "ckpt.pt", weights_only=False)["step"] == 2
    train(monkeypatch, tmp_path / "resumed")
    straight = load_file(tmp_path / "straight" / "diffusion_pytorch_model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "diffusion_pytorch_model.safetensors")
    assert straight.keys() == resumed.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=0)
    assert any(not torch.equal(halfway[name], straight[name]) for name in straight)  # steps 3-4 did train
