"""C2PA provenance with c2pa-python: sign released MP4s and verify any file, offline.

Every released file carries ``c2pa.actions.v2`` (``c2pa.created`` with digitalSourceType
trainedAlgorithmicMedia, and ``c2pa.watermarked`` when a watermark was applied), our own
``io.videoguard.safety`` assertion with the verdict summary (the prompt's SHA-256, never its text
unless the policy says so), and the watermark's ``c2pa.soft-binding`` assertion. Verification never
fetches a remote manifest and reports trusted / valid / invalid / absent with the status codes.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from guard import __version__
from guard.certs import SigningMaterial, load_signing_material, trust_anchors_pem
from guard.errors import ConfigError, InputError, UnsupportedMedia

SAFETY_LABEL = "io.videoguard.safety"
SOFT_BINDING_LABEL = "c2pa.soft-binding"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
UNTRUSTED_ONLY = frozenset({"signingCredential.untrusted"})
MIME_BY_SUFFIX = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".avi": "video/x-msvideo"}

SignCallback = Callable[[bytes], bytes]  # DER ECDSA P-256 signature over the given bytes


@dataclass(frozen=True)
class SoftBinding:
    """The watermark binding written into the manifest: algorithm id and the payload per timespan."""

    algorithm: str
    payload_hex: str
    start_s: float
    end_s: float

    def assertion(self) -> dict[str, Any]:
        return {
            "label": SOFT_BINDING_LABEL,
            "data": {
                "alg": self.algorithm,
                # The spec's block value is the binding value encoded as base64.
                # Timespans are integer milliseconds from the start of the media.
                "blocks": [{"scope": {"timespan": {"start": round(self.start_s * 1000),
                                                   "end": round(self.end_s * 1000)}},
                            "value": base64.b64encode(bytes.fromhex(self.payload_hex)).decode("ascii")}],
            },
        }


def build_manifest(safety: Mapping[str, Any], soft_binding: SoftBinding | None, *, title: str,
                   claim_generator: str) -> dict[str, Any]:
    """The manifest definition for one release."""
    actions: list[dict[str, Any]] = [{"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                                      "softwareAgent": {"name": claim_generator, "version": __version__}}]
    assertions: list[dict[str, Any]] = [{"label": SAFETY_LABEL, "data": dict(safety)}]
    if soft_binding is not None:
        actions.append({"action": "c2pa.watermarked",
                        "parameters": {"alg": soft_binding.algorithm}})
        assertions.append(soft_binding.assertion())
    assertions.insert(0, {"label": "c2pa.actions.v2", "data": {"actions": actions}})
    return {
        "claim_generator_info": [{"name": claim_generator, "version": __version__}],
        "title": title,
        "format": "video/mp4",
        "assertions": assertions,
    }


class ProvenanceSigner:
    """Signs MP4s with a key held in memory (local CA or configured chain) or behind a callback (KMS/HSM)."""

    def __init__(self, chain_pem: bytes, sign: SignCallback) -> None:
        self._chain_pem = chain_pem.decode("ascii")
        self._sign = sign

    @classmethod
    def from_material(cls, material: SigningMaterial | None = None) -> ProvenanceSigner:
        material = material or load_signing_material()
        try:
            key = serialization.load_pem_private_key(material.key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"unreadable signing key: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError("signing key must be an EC P-256 key (ES256)")
        return cls(material.chain_pem, lambda data: key.sign(data, ec.ECDSA(hashes.SHA256())))

    @classmethod
    def from_callback(cls, chain_pem: bytes, sign: SignCallback) -> ProvenanceSigner:
        """Keep the key in a KMS: ``sign(data) -> DER ECDSA P-256 signature``."""
        return cls(chain_pem, sign)

    def sign_file(self, source: Path, destination: Path, manifest: Mapping[str, Any]) -> bytes:
        """Write ``source`` with the manifest embedded to ``destination`` atomically; return the manifest bytes."""
        mime = MIME_BY_SUFFIX.get(source.suffix.lower())
        if mime is None:
            raise UnsupportedMedia(f"C2PA signing supports MP4/MOV/AVI, not {source.suffix or 'no extension'}")
        try:
            signer = c2pa.Signer.from_callback(self._sign, c2pa.C2paSigningAlg.ES256, self._chain_pem, None)
        except c2pa.C2paError as exc:
            raise ConfigError(f"signing certificate rejected: {exc}") from exc
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part" + source.suffix,
                                        dir=destination.parent)
        try:
            with os.fdopen(fd, "w+b") as dst, source.open("rb") as src, signer:
                builder = c2pa.Builder.from_json(json.dumps(manifest))
                manifest_bytes = builder.sign(signer, mime, src, dst)
            os.replace(tmp_name, destination)
        except c2pa.C2paError as exc:
            Path(tmp_name).unlink(missing_ok=True)
            message = str(exc).splitlines()[0]
            if "certificate" in message.lower() or "signature" in message.lower():
                raise ConfigError(f"signing failed (wrong certificate or key?): {message}") from exc
            raise
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return manifest_bytes


@dataclass(frozen=True)
class ProvenanceReport:
    """``state`` is one of trusted / valid / invalid / absent (C2PA's Trusted, Valid, Invalid, no manifest)."""

    state: str
    codes: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def safety(self) -> dict[str, Any]:
        return assertion_data(self.manifest, SAFETY_LABEL) or {}

    @property
    def soft_binding(self) -> dict[str, Any]:
        return assertion_data(self.manifest, SOFT_BINDING_LABEL) or {}

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "codes": list(self.codes), "failures": list(self.failures),
                "safety": self.safety, "soft_binding": self.soft_binding,
                "title": self.manifest.get("title"), "signature": self.manifest.get("signature_info", {})}


def assertion_data(manifest: Mapping[str, Any], label: str) -> dict[str, Any] | None:
    """The ``data`` of the first assertion labelled ``label`` in a manifest read back by c2pa."""
    for assertion in manifest.get("assertions", []):
        if assertion.get("label") == label:
            return assertion.get("data")
    return None


def _reader_context(anchors_pem: bytes) -> c2pa.Context:
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "verify_trust": bool(anchors_pem)}}
    if anchors_pem:
        settings["trust"] = {"user_anchors": anchors_pem.decode("ascii")}
    return c2pa.Context.from_dict(settings)


def verify_file(path: str | os.PathLike[str], anchors_pem: bytes | None = None) -> ProvenanceReport:
    """Read and validate the embedded manifest offline against ``anchors_pem`` (default: the configured anchors)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"file not found: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")
    mime = MIME_BY_SUFFIX.get(path.suffix.lower())
    if mime is None:
        raise UnsupportedMedia(f"C2PA verification supports MP4/MOV/AVI, not {path.suffix or 'no extension'}")
    anchors = trust_anchors_pem() if anchors_pem is None else anchors_pem
    try:
        with path.open("rb") as stream:
            reader = c2pa.Reader.try_create(mime, stream, None, _reader_context(anchors))
            if reader is None:
                return ProvenanceReport("absent", ("manifest.notFound",))
            with reader:
                state = (reader.get_validation_state() or "Invalid").lower()
                results = reader.get_validation_results() or {}
                manifest = reader.get_active_manifest() or {}
    except c2pa.C2paError as exc:
        message = str(exc).splitlines()[0]
        if "ManifestNotFound" in type(exc).__name__ or "not found" in message.lower():
            return ProvenanceReport("absent", ("manifest.notFound",))
        return ProvenanceReport("invalid", ("manifest.unreadable",), (message,))
    active = results.get("activeManifest", {})
    codes = tuple(item["code"] for item in active.get("success", []) + active.get("informational", []))
    failures = tuple(item["code"] for item in active.get("failure", []))
    if any(code not in UNTRUSTED_ONLY for code in failures):
        state = "invalid"  # a hash or signature failure is never reported as merely untrusted
    return ProvenanceReport(state, codes, failures, manifest)
