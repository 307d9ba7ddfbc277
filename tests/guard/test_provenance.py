from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from guard.certs import CA_CERT, SIGN_KEY, create_dev_ca, load_signing_material
from guard.errors import ConfigError
from guard.paths import keys_dir
from guard.provenance import ProvenanceSigner, SoftBinding, build_manifest, verify_file

SAFETY = {"schema": "videoguard.safety/1", "decision": "allow", "prompt_sha256": "ab" * 32}


def _sign(source: Path, destination: Path, signer: ProvenanceSigner | None = None) -> bytes:
    manifest = build_manifest(SAFETY, SoftBinding("io.videoguard.wm.v1", "0011223344556677", 0.0, 2.0),
                              title="test", claim_generator="videoguard")
    return (signer or ProvenanceSigner.from_material()).sign_file(source, destination, manifest)


def _mdat_offset(data: bytes) -> int:
    offset = 0
    while offset < len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        if data[offset + 4:offset + 8] == b"mdat":
            return offset
        offset += size
    raise AssertionError("no mdat box")


def test_when_first_used_then_dev_ca_is_created_with_private_keys_0600(home: Path) -> None:
    load_signing_material()
    for name in ("ca.key", SIGN_KEY):
        mode = stat.S_IMODE(os.stat(keys_dir() / name).st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"


def test_when_signed_then_verify_reports_trusted_with_our_assertions(tmp_path: Path, sample_video: Path) -> None:
    signed = tmp_path / "signed.mp4"
    _sign(sample_video, signed)
    report = verify_file(signed)
    assert report.state == "trusted"
    assert "signingCredential.trusted" in report.codes
    assert report.safety["prompt_sha256"] == "ab" * 32
    assert report.soft_binding["alg"] == "io.videoguard.wm.v1"
    labels = [a["label"] for a in report.manifest["assertions"]]
    assert "c2pa.actions.v2" in labels
    actions = next(a for a in report.manifest["assertions"] if a["label"] == "c2pa.actions.v2")["data"]["actions"]
    assert actions[0]["action"] == "c2pa.created"
    assert actions[0]["digitalSourceType"].endswith("trainedAlgorithmicMedia")
    assert any(a["action"] == "c2pa.watermarked" for a in actions)


def test_when_one_mdat_byte_changes_then_verify_reports_invalid(tmp_path: Path, sample_video: Path) -> None:
    signed = tmp_path / "signed.mp4"
    _sign(sample_video, signed)
    data = bytearray(signed.read_bytes())
    data[_mdat_offset(bytes(data)) + 100] ^= 0xFF
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    report = verify_file(tampered)
    assert report.state == "invalid"
    assert any("mismatch" in code for code in report.failures)


def test_when_verified_against_another_ca_then_valid_but_not_trusted(tmp_path: Path, sample_video: Path) -> None:
    signed = tmp_path / "signed.mp4"
    _sign(sample_video, signed)
    create_dev_ca(tmp_path / "other")
    report = verify_file(signed, anchors_pem=(tmp_path / "other" / CA_CERT).read_bytes())
    assert report.state == "valid"
    assert "signingCredential.untrusted" in report.failures


def test_when_file_has_no_manifest_then_absent(sample_video: Path) -> None:
    assert verify_file(sample_video).state == "absent"


def test_when_key_does_not_match_certificate_then_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    create_dev_ca(tmp_path / "a")
    create_dev_ca(tmp_path / "b")
    monkeypatch.setenv("VIDEOGUARD_SIGN_CERT", str(tmp_path / "a" / "signer.pem"))
    monkeypatch.setenv("VIDEOGUARD_SIGN_KEY", str(tmp_path / "b" / SIGN_KEY))
    with pytest.raises(ConfigError, match="does not match"):
        load_signing_material()


def test_when_certificate_lacks_a_ca_then_signing_fails_with_config_error_and_no_file(
        tmp_path: Path, sample_video: Path) -> None:
    create_dev_ca(tmp_path / "c")
    material = load_signing_material()
    lone_cert = (tmp_path / "c" / "signer.pem").read_bytes()  # a chain without its CA, wrong for our key
    signer = ProvenanceSigner.from_callback(lone_cert, lambda data: b"")
    with pytest.raises(ConfigError):
        _sign(sample_video, tmp_path / "out.mp4", signer)
    assert not (tmp_path / "out.mp4").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["c"]
    assert material.chain_pem


def test_when_callback_signer_is_used_then_key_stays_outside_c2pa(tmp_path: Path, sample_video: Path) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    material = load_signing_material()
    key = serialization.load_pem_private_key(material.key_pem, password=None)
    calls: list[int] = []

    def kms_sign(data: bytes) -> bytes:
        calls.append(len(data))
        return key.sign(data, ec.ECDSA(hashes.SHA256()))

    signed = tmp_path / "kms.mp4"
    _sign(sample_video, signed, ProvenanceSigner.from_callback(material.chain_pem, kms_sign))
    assert calls and verify_file(signed).state == "trusted"
