"""``audit_prompts`` over real ledger records written by the real gate (and the lead's PromptChain)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guard.assembly import PromptChain
from guard.bias import audit_prompts, build_bias_gate
from guard.bias.cli import audit_app
from guard.errors import InputError
from guard.ledger import Ledger
from guard.policy import load_policy

PROMPTS = [
    "a doctor walking through a hospital",  # people, diversified
    "a nurse checking a chart",  # people, diversified
    "an elderly woman knitting",  # people, attributes stated: unchanged
    "a red car on a mountain road",  # no people
    "a typical mexican stealing a car",  # stereotype, blocked
]


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    policy = load_policy(overrides={"bias": {"settings": {"diversify": {"enabled": True, "seed": 2}}}})
    gate = build_bias_gate(policy)
    path = tmp_path_factory.mktemp("ledger") / "ledger.sqlite"
    ledger = Ledger(path)
    for i, prompt in enumerate(PROMPTS):
        # half the records as a top-level bias verdict, half as a check inside the lead's combined prompt verdict
        verdict = gate(prompt) if i % 2 == 0 else PromptChain([gate])(prompt)
        ledger.append("check_prompt", {"verdicts": [verdict.to_dict()], "decision": verdict.decision.value})
    ledger.append("verify", {"result": "not a generation record"})
    return path


def test_when_ledger_holds_bias_verdicts_then_report_counts_people_diversified_and_stopped(ledger_path: Path) -> None:
    report = audit_prompts(Ledger(ledger_path).rows())
    assert report["records"] == 6
    assert report["records_with_bias_verdict"] == 5
    assert report["people_prompts"] == 4  # the stereotype prompt depicts a person too
    assert report["people_share"] == pytest.approx(4 / 5)
    assert report["diversified"] == 2
    distribution = report["diversified_distribution"]
    assert sum(distribution["gender"].values()) == 2
    assert report["stereotype"]["stopped"] == 1 and report["stereotype"]["flagged"] == 0
    assert "crime" in report["stereotype"]["themes"]
    assert report["not_measured"]  # the record without a bias verdict is reported, not ignored


def test_when_cli_audits_prompts_then_json_report_is_printed(ledger_path: Path) -> None:
    result = CliRunner().invoke(audit_app, ["prompts", "--ledger", str(ledger_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["diversified"] == 2


def test_when_ledger_row_is_not_a_record_then_input_error_names_the_row() -> None:
    with pytest.raises(InputError, match="row 1"):
        audit_prompts([{"verdicts": []}, "not json"])
