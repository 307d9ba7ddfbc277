"""A local development CA and an ES256 signing certificate, made on first use.

c2pa-rs accepts an end-entity certificate only with KeyUsage digitalSignature (critical), an EKU
(emailProtection works without extra trust settings), SubjectKeyIdentifier and
AuthorityKeyIdentifier, chained to a CA; see ../shared/docs/stack-notes.md. Production users point
``VIDEOGUARD_SIGN_CERT`` / ``VIDEOGUARD_SIGN_KEY`` / ``VIDEOGUARD_TRUST_ANCHORS`` at their own chain,
or pass a callback signer so the key can stay in a KMS.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from guard.errors import ConfigError
from guard.paths import keys_dir

CA_CERT, CA_KEY = "ca.pem", "ca.key"
SIGN_CERT, SIGN_KEY = "signer.pem", "signer.key"


@dataclass(frozen=True)
class SigningMaterial:
    """PEM chain (end-entity first, then CA), the private key PEM, and the trust anchors PEM."""

    chain_pem: bytes
    key_pem: bytes
    trust_anchors_pem: bytes


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def create_dev_ca(directory: Path) -> None:
    """Create a root CA and an ES256 end-entity certificate in ``directory`` (keys mode 0600)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "videoguard local"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "videoguard local development CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ee_key = ec.generate_private_key(ec.SECP256R1())
    ee_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "videoguard local"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "videoguard signer")])
    ee_cert = (
        x509.CertificateBuilder().subject_name(ee_name).issuer_name(ca_name)
        .public_key(ee_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ee_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_private(directory / CA_KEY, _key_pem(ca_key))
    _write_private(directory / SIGN_KEY, _key_pem(ee_key))
    _write_public(directory / CA_CERT, ca_cert.public_bytes(serialization.Encoding.PEM))
    # The signer certificate is written last: its presence marks a complete set.
    _write_public(directory / SIGN_CERT, ee_cert.public_bytes(serialization.Encoding.PEM))


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from exc


def _read_anchors(path: str | Path) -> bytes:
    """The trust anchors file, refused when it holds no PEM certificate: c2pa would otherwise report every file,
    however well signed, as invalid."""
    data = _read(path, "trust anchors")
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ConfigError(f"trust anchors {path} hold no readable PEM certificate") from exc
    return data


def load_signing_material() -> SigningMaterial:
    """The configured chain and key, or the local development CA (created on first use)."""
    cert_env, key_env = os.environ.get("VIDEOGUARD_SIGN_CERT"), os.environ.get("VIDEOGUARD_SIGN_KEY")
    anchors_env = os.environ.get("VIDEOGUARD_TRUST_ANCHORS")
    if cert_env or key_env:
        if not (cert_env and key_env):
            raise ConfigError("set both VIDEOGUARD_SIGN_CERT (chain PEM) and VIDEOGUARD_SIGN_KEY (key PEM)")
        chain = _read(cert_env, "certificate chain")
        key = _read(key_env, "signing key")
        anchors = _read_anchors(anchors_env) if anchors_env else b""
        _check_pair(chain, key)
        return SigningMaterial(chain, key, anchors)
    directory = keys_dir()
    if not (directory / SIGN_CERT).exists():
        create_dev_ca(directory)
    chain = (directory / SIGN_CERT).read_bytes() + (directory / CA_CERT).read_bytes()
    anchors = _read_anchors(anchors_env) if anchors_env else (directory / CA_CERT).read_bytes()
    return SigningMaterial(chain, (directory / SIGN_KEY).read_bytes(), anchors)


def trust_anchors_pem() -> bytes:
    """The anchors verification trusts: ``$VIDEOGUARD_TRUST_ANCHORS`` or the local development CA."""
    anchors_env = os.environ.get("VIDEOGUARD_TRUST_ANCHORS")
    if anchors_env:
        return _read_anchors(anchors_env)
    ca = keys_dir() / CA_CERT
    return ca.read_bytes() if ca.exists() else b""


def _check_pair(chain_pem: bytes, key_pem: bytes) -> None:
    """Refuse a key that does not match the chain's first certificate, with a one-line error."""
    try:
        cert = x509.load_pem_x509_certificates(chain_pem)[0]
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, IndexError) as exc:
        raise ConfigError(f"unreadable certificate or key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError("signing key must be an EC P-256 key (ES256)")
    now = dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc < now:  # c2pa refuses to sign with it: say so before any stage runs
        raise ConfigError(f"signing certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if cert.not_valid_before_utc > now:
        raise ConfigError(f"signing certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    cert_public = cert.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    key_public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    if cert_public != key_public:
        raise ConfigError("signing key does not match the certificate (wrong certificate for this key)")
