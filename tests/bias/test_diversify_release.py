"""Diversification through the whole guarded flow: what the bias gate added to a people prompt is recorded in the
verdict, in the ledger record and in the signed C2PA safety assertion of the released file (issue 7 asks for all
three; the unit tests in test_gate.py and test_prompt_audit.py only see the verdict and a hand-written ledger)."""

from __future__ import annotations

from pathlib import Path

import pytest

from guard.assembly import build_pipeline
from guard.ledger import Ledger
from guard.manifest_store import ManifestStore
from guard.policy import load_policy
from guard.provenance import SAFETY_LABEL, assertion_data
from guard.verification import verify_video


@pytest.mark.slow
@pytest.mark.timeout(1200)  # one bundled-generator clip, signed and verified: 6.5 min at load ~12 on 2 cores
def test_when_people_prompt_is_diversified_then_added_words_reach_verdict_ledger_and_c2pa(tmp_path: Path) -> None:
    policy = load_policy(overrides={"bias": {"settings": {"diversify": {"enabled": True, "seed": 3}}}})
    store = ManifestStore(tmp_path / "manifests")
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    pipeline = build_pipeline(policy, ledger=ledger, store=store)
    prompt = "a doctor walking through a park"
    release = pipeline.generate(prompt, tmp_path / "clip.mp4", seed=0, num_inference_steps=2)

    added = release.verdicts[0].evidence["diversified"]
    assert added and set(added) <= {"gender", "skin_tone_ethnicity"}
    effective = release.verdicts[0].evidence["prompt"]
    assert effective != prompt and all(word in effective for word in added.values())

    record = next(r for r in ledger.rows("generate") if r["request_id"] == release.request_id)
    assert record["verdicts"][0]["evidence"]["diversified"] == added

    report = verify_video(release.path, policy, store)
    assert report.state == "trusted"
    safety = assertion_data(report.c2pa.manifest, SAFETY_LABEL)
    assert safety is not None and safety["diversified"] == [added]
