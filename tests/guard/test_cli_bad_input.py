"""Bad input through the real ``videoguard`` command (a subprocess): a one-line error with the input-error exit
code, never an internal error, and no output file left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, home: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    if home is not None:
        full["VIDEOGUARD_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "guard.cli", *args], capture_output=True, text=True, env=full,
                          timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_when_output_is_a_directory_then_release_exits_2_even_with_force(tmp_path: Path, sample_video: Path) -> None:
    target = tmp_path / "out.mp4"
    target.mkdir()
    for force in ((), ("--force",)):
        result = run("release", str(sample_video), "-o", str(target), *force)
        assert_one_line_error(result, 2, "is a directory")
    assert target.is_dir() and not any(target.iterdir())
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # no temporary files left beside it


def test_when_output_parent_is_a_file_then_release_exits_2_and_writes_nothing(tmp_path: Path,
                                                                             sample_video: Path) -> None:
    parent = tmp_path / "not-a-dir"
    parent.write_bytes(b"keep me")
    result = run("release", str(sample_video), "-o", str(parent / "out.mp4"))
    assert_one_line_error(result, 2, "not a directory")
    assert parent.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-dir"]


def test_when_output_dir_is_new_and_tmpdir_on_another_filesystem_then_release_succeeds(
        tmp_path: Path, sample_video: Path) -> None:
    other = Path("/dev/shm")
    if not other.is_dir() or not os.access(other, os.W_OK) or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a writable /dev/shm on another filesystem than the test's temporary directory")
    output = tmp_path / "new" / "sub" / "out.mp4"
    result = run("release", str(sample_video), "-o", str(output), env={"TMPDIR": str(other)})
    assert result.returncode == 0, result.stderr
    assert output.is_file()
    assert sorted(p.name for p in output.parent.iterdir()) == ["out.mp4"]


def test_when_ledger_cannot_be_written_then_release_exits_2_and_releases_nothing(
        tmp_path: Path, sample_video: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "ledger.sqlite3.head").mkdir()  # the head file cannot be written (even by root): appends fail
    output = tmp_path / "out.mp4"
    result = run("release", str(sample_video), "-o", str(output), home=home)
    assert_one_line_error(result, 2, "ledger")
    assert not output.exists()  # a release the ledger does not record is not released
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


@pytest.mark.parametrize("content", [b"limits:\n  prompt_max_chars: 10\n# caf\xe9\n", None],
                         ids=["latin-1", "directory"])
def test_when_policy_file_is_not_utf8_or_a_directory_then_exit_2_one_line(tmp_path: Path,
                                                                          content: bytes | None) -> None:
    policy = tmp_path / "policy.yaml"
    if content is None:
        policy.mkdir()
    else:
        policy.write_bytes(content)
    result = run("--policy", str(policy), "policy", "show")
    assert_one_line_error(result, 2, str(policy))


def test_when_policy_names_an_unknown_encoder_preset_then_exit_2_before_release(tmp_path: Path,
                                                                              sample_video: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("output:\n  preset: nonsense\n")
    output = tmp_path / "out.mp4"
    result = run("--policy", str(policy), "release", str(sample_video), "-o", str(output))
    assert_one_line_error(result, 2, "output.preset")
    assert not output.exists()


def test_when_jsonl_prompt_is_a_lone_surrogate_then_exit_2_one_line(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "a red kite"}\n{"prompt": "a \\ud800 kite"}\n')  # valid JSON, not encodable text
    result = run("check-prompt", "--file", str(prompts), "--json")
    assert_one_line_error(result, 2, "Unicode")
    assert result.stdout == ""  # refused before any prompt is checked


@pytest.mark.parametrize("option", [("--steps", "0"), ("--seed", "-1"), ("--seed", str(2**70))])
def test_when_generate_gets_an_out_of_range_seed_or_steps_then_usage_error_not_blocked(
        tmp_path: Path, option: tuple[str, str]) -> None:
    output = tmp_path / "out.mp4"
    result = run("generate", "a red ball", "-o", str(output), *option)
    assert result.returncode == 2, result.stderr
    assert "blocked" not in result.stderr and "Traceback" not in result.stderr and option[0] in result.stderr
    assert not output.exists()


@pytest.mark.parametrize("content", [b"", b"\n  \n"], ids=["zero-bytes", "blank-lines"])
def test_when_prompt_file_holds_no_prompt_then_exit_2(tmp_path: Path, content: bytes) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_bytes(content)
    result = run("check-prompt", "--file", str(prompts))
    assert_one_line_error(result, 2, "no prompts")


def _expired_chain(directory: Path) -> tuple[Path, Path]:
    """A signing chain from the local development CA whose end-entity certificate expired yesterday."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from guard.certs import create_dev_ca

    create_dev_ca(directory)
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now - dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    chain, key_file = directory / "expired-chain.pem", directory / "expired.key"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + (directory / "ca.pem").read_bytes())
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return chain, key_file


def test_when_signing_certificate_has_expired_then_config_error_exit_2_not_blocked(
        tmp_path: Path, sample_video: Path) -> None:
    chain, key = _expired_chain(tmp_path / "ca")
    output = tmp_path / "out.mp4"
    result = run("release", str(sample_video), "-o", str(output),
                 env={"VIDEOGUARD_SIGN_CERT": str(chain), "VIDEOGUARD_SIGN_KEY": str(key),
                      "VIDEOGUARD_TRUST_ANCHORS": str(tmp_path / "ca" / "ca.pem")})
    assert_one_line_error(result, 2, "expired")
    assert "blocked" not in result.stderr
    assert not output.exists()


def test_when_trust_anchors_file_holds_no_certificate_then_verify_exits_2_not_invalid(
        tmp_path: Path, sample_video: Path) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    result = run("verify", str(sample_video), env={"VIDEOGUARD_TRUST_ANCHORS": str(anchors)})
    assert_one_line_error(result, 2, "trust anchors")


@pytest.mark.parametrize("head", [b"", b"hello\n", b"12 not-a-hash extra\n"], ids=["empty", "one-word", "three-words"])
def test_when_ledger_head_file_is_garbled_then_ledger_verify_exits_4_not_internal_error(tmp_path: Path,
                                                                                        head: bytes) -> None:
    import json

    from guard.ledger import Ledger

    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.append("check_prompt", {"n": 1})
    ledger.head_path.write_bytes(head)
    result = run("ledger", "verify", "--json", home=tmp_path)
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    check = json.loads(result.stdout)
    assert check["ok"] is False and "head" in check["problem"]


def test_when_sample_output_parent_is_a_file_then_exit_2_one_line(tmp_path: Path) -> None:
    parent = tmp_path / "not-a-dir"
    parent.write_bytes(b"keep me")
    result = run("sample", "-o", str(parent / "sample.mp4"), "--seconds", "0.5", "--size", "64")
    assert_one_line_error(result, 2, "not a directory")
    assert parent.read_bytes() == b"keep me"


@pytest.mark.parametrize("situation", ["out-is-a-file", "report-exists"])
def test_when_audit_report_directory_is_unusable_then_refused_before_the_generator_loads(
        tmp_path: Path, situation: str) -> None:
    out = tmp_path / "report"
    if situation == "out-is-a-file":
        out.write_bytes(b"keep me")
    else:
        out.mkdir()
        (out / "report.json").write_text("{}")
    # a generator that does not exist: a check made only after the audit would never be reached
    result = run("audit", "bias", "--suite", "occupations", "-o", str(out), "--limit", "1", "--seeds", "1",
                 "--generator", str(tmp_path / "no-such-model"))
    assert result.returncode == 2, result.stderr
    assert "no-such-model" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert ("not a directory" if situation == "out-is-a-file" else "--force") in result.stderr
    assert result.stderr.startswith("videoguard: error: "), result.stderr  # the same prefix as every other command


def test_when_verify_is_given_a_directory_then_it_says_not_a_file_not_missing(tmp_path: Path) -> None:
    result = run("verify", str(tmp_path))
    assert_one_line_error(result, 2, "not a file")
    assert "not found" not in result.stderr


def test_when_release_is_terminated_mid_encode_then_no_temporary_files_are_left(tmp_path: Path) -> None:
    import signal
    import time

    from guard.sample import photo_pan
    from guard.stages import Clip
    from guard.video_io import write_mp4

    source = tmp_path / "long.mp4"
    write_mp4(Clip(photo_pan(frames=480, size=256), 24.0), source, crf=18, preset="ultrafast")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "guard.cli", "release", str(source), "-o", str(out_dir / "x.mp4")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    # until the encoder has started writing inside the release's temporary directory (mid-encode, not the instant
    # the directory is made: a signal inside tempfile's own set-up, between mkdtemp and its cleanup hook, is a
    # window no caller can close, and under load the test hit it once)
    while (not any(f for d in out_dir.iterdir() if d.is_dir() for f in d.iterdir()) and proc.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert list(out_dir.iterdir()) == []


def test_when_video_decodes_to_more_than_the_memory_limit_then_release_exits_2_and_verify_reads_its_start(
        tmp_path: Path, sample_video: Path) -> None:
    output = tmp_path / "out.mp4"
    assert run("release", str(sample_video), "-o", str(output), "--json").returncode == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text("limits:\n  video_max_decoded_bytes: 1000000\n")  # the sample: 48 frames of 256x256x3
    refused = tmp_path / "refused.mp4"
    result = run("--policy", str(policy), "release", str(sample_video), "-o", str(refused))
    assert_one_line_error(result, 2, "video_max_decoded_bytes")  # a release must hold (and mark) every frame
    assert not refused.exists()
    verified = run("--policy", str(policy), "verify", str(output), "--json")  # 5 of its 48 frames fit the budget
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["watermark"]["marked"] and report["watermark"]["frames_read"] == 5
