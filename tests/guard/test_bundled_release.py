"""The bundled generator through the whole guarded flow: its clips are released, and the released file gives the
watermark back (the release's own check, and ``verify`` on the file).

Why this test exists: the generator's 17-frame 128x128 8 fps clips of speckle were once blocked at the release's
post-encode watermark check (p 8e-5 against 1e-6). It uses whatever weights are in generator/bundled.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.assembly import build_pipeline
from guard.ledger import Ledger
from guard.manifest_store import ManifestStore
from guard.policy import load_policy
from guard.verification import verify_video


@pytest.mark.slow
@pytest.mark.parametrize("prompt,seed", [("a red circle moving left", 0), ("a blue square moving right", 1)])
def test_when_the_bundled_generator_makes_a_clip_then_it_is_released_with_a_mark_that_reads_back(
        tmp_path: Path, prompt: str, seed: int) -> None:
    policy = load_policy()
    store = ManifestStore(tmp_path / "manifests")
    pipeline = build_pipeline(policy, ledger=Ledger(tmp_path / "ledger.sqlite3"), store=store)
    release = pipeline.generate(prompt, tmp_path / "clip.mp4", seed=seed)  # raises Blocked if the check fails
    stages = {v.stage: v for v in release.verdicts}
    assert stages["generator"].evidence["model"] == "videoguard-bundled"
    assert stages["watermark-check"].evidence["p_value"] < 1e-6
    assert stages["watermark"].evidence["psnr_db"] >= 42.0
    report = verify_video(release.path, policy, store)
    assert report.state == "trusted"
    assert report.watermark["marked"] and report.watermark["payload"] == release.release_id
