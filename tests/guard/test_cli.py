"""The CLI contract: exit codes, one-line errors, JSON on stdout. Runs the real command in a subprocess."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from guard.provenance import ProvenanceSigner, SoftBinding, build_manifest


def run(*args: str, home: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if home is not None:
        env["VIDEOGUARD_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "guard.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def _signed_copy(sample_video: Path, destination: Path) -> Path:
    manifest = build_manifest({"decision": "allow"}, SoftBinding("io.videoguard.wm.v1", "00" * 8, 0, 2),
                              title="t", claim_generator="videoguard")
    ProvenanceSigner.from_material().sign_file(sample_video, destination, manifest)
    return destination


def test_when_policy_show_then_prints_the_default_policy_yaml() -> None:
    result = run("policy", "show")
    assert result.returncode == 0
    assert "limits:" in result.stdout and "prompt_max_chars" in result.stdout


def test_when_policy_file_is_invalid_then_exit_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("limits:\n  prompt_max_chars: -5\n")
    result = run("--policy", str(bad), "policy", "show")
    assert result.returncode == 2
    assert "limits.prompt_max_chars" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [("bogus",), ("release",), ("check-prompt",), ("check-prompt", "a", "--file", "x")])
def test_when_usage_is_wrong_then_exit_2(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_when_ledger_is_tampered_then_ledger_verify_exits_4(tmp_path: Path) -> None:
    from guard.ledger import Ledger

    ledger = Ledger(tmp_path / "ledger.sqlite3")
    for i in range(3):
        ledger.append("check_prompt", {"n": i})
    assert run("ledger", "verify", home=tmp_path).returncode == 0
    conn = sqlite3.connect(ledger.path)
    conn.execute("UPDATE ledger SET record = '{\"n\": 7}' WHERE seq = 2")
    conn.commit()
    conn.close()
    result = run("ledger", "verify", "--json", home=tmp_path)
    assert result.returncode == 4
    assert json.loads(result.stdout)["first_bad_seq"] == 2


def test_when_video_is_corrupt_then_release_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(5000))
    result = run("release", str(corrupt), "-o", str(tmp_path / "out.mp4"))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_when_output_exists_then_refused_without_force(tmp_path: Path, sample_video: Path) -> None:
    existing = tmp_path / "out.mp4"
    existing.write_bytes(b"keep me")
    result = run("release", str(sample_video), "-o", str(existing))
    assert result.returncode == 2 and "--force" in result.stderr
    assert existing.read_bytes() == b"keep me"


def test_when_prompt_is_50000_characters_then_exit_2_one_line() -> None:
    result = run("check-prompt", "a" * 50_000)
    assert result.returncode == 2
    assert "over the limit" in result.stderr and "Traceback" not in result.stderr


def test_when_prompt_file_is_not_utf8_then_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "prompts.txt"
    path.write_bytes(b"\xff\xfe\x00bad")
    result = run("check-prompt", "--file", str(path))
    assert result.returncode == 2 and "UTF-8" in result.stderr


def test_when_signed_file_is_verified_then_trusted_and_after_one_mdat_byte_invalid(
        tmp_path: Path, sample_video: Path) -> None:
    signed = _signed_copy(sample_video, tmp_path / "signed.mp4")
    result = run("verify", str(signed), "--json")
    report = json.loads(result.stdout)
    assert report["c2pa"]["state"] == "trusted", result.stderr
    data = bytearray(signed.read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + 500] ^= 0x01
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    result = run("verify", str(tampered), "--json")
    assert result.returncode == 4
    report = json.loads(result.stdout)
    assert report["state"] == "invalid"
    assert "assertion.bmffHash.mismatch" in report["c2pa"]["failures"]


def test_when_file_has_no_credentials_and_no_mark_then_verify_exits_4(sample_video: Path) -> None:
    result = run("verify", str(sample_video), "--json")
    assert result.returncode == 4
    assert json.loads(result.stdout)["state"] == "absent"


def test_when_check_prompt_prints_json_then_only_the_rewritten_prompt_is_shown() -> None:
    result = run("check-prompt", "a red ball bouncing, mail me at alice@example.com", "--json")
    verdict = json.loads(result.stdout.splitlines()[0])
    assert {"decision", "categories", "reasons"} <= verdict.keys()
    assert "alice@example.com" not in result.stdout  # only the rewritten prompt is shown, the address redacted
    text = json.dumps(verdict["evidence"])
    assert '"original"' not in text and '"normalized"' not in text and "an email address" in text
