"""``verify``: what a file says about itself (C2PA), what its pixels say (watermark), and the
credentials recovered through the watermark from the manifest store when the manifest was stripped.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guard.errors import InputError
from guard.manifest_store import ManifestStore
from guard.policy import Policy
from guard.provenance import SAFETY_LABEL, SOFT_BINDING_LABEL, ProvenanceReport, assertion_data, verify_file
from guard.video_io import read_video


@dataclass(frozen=True)
class VerifyReport:
    path: str
    c2pa: ProvenanceReport
    watermark: dict[str, Any] = field(default_factory=dict)
    recovered: dict[str, Any] | None = None

    @property
    def state(self) -> str:
        """trusted / valid / invalid, or ``recovered`` (manifest absent, credentials found via the
        watermark), or ``absent`` (no credentials at all)."""
        if self.c2pa.state == "absent" and self.recovered is not None:
            return "recovered"
        return self.c2pa.state

    @property
    def ok(self) -> bool:
        return self.state in ("trusted", "valid", "recovered")

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "state": self.state, "ok": self.ok, "c2pa": self.c2pa.to_dict(),
                "watermark": self.watermark,
                "recovered": {"via": "watermark", **self.recovered} if self.recovered is not None else None}

    def summary_line(self) -> str:
        wm = self.watermark
        mark = (f"watermark found (payload {wm.get('payload')}, p={wm.get('p_value'):.2g})" if wm.get("marked")
                else f"no watermark ({wm.get('error') or 'p=' + format(wm.get('p_value', 1.0), '.2g')})")
        decision = (self.c2pa.safety or (self.recovered or {}).get("safety") or {}).get("decision", "unknown")
        codes = ", ".join(self.c2pa.failures) if self.c2pa.failures else ""
        return f"{self.state}: C2PA {self.c2pa.state}{' (' + codes + ')' if codes else ''}; {mark}; " \
               f"safety decision {decision}"


def _detect_watermark(path: Path, policy: Policy) -> dict[str, Any]:
    try:
        factory = importlib.import_module("guard.watermark_stage").build_watermark_stage
    except (ImportError, AttributeError) as exc:
        return {"marked": False, "error": f"watermark detector unavailable: {exc}"}
    # the mark is in every second and the detector reads at most MAX_FRAMES: decode no more than that, and within
    # the memory budget (a long or large file is verified on its first seconds instead of refused)
    clip = read_video(path, policy.limits, max_frames=importlib.import_module("watermark").detector.MAX_FRAMES,
                      prefix_ok=True)
    reading = factory(policy).detect(clip)
    return {"marked": reading.marked, "p_value": reading.p_value, "frames_read": len(clip.frames),
            "payload": reading.payload.hex() if reading.payload is not None else None,
            "mean_bit_confidence": (sum(reading.bit_confidence) / len(reading.bit_confidence)
                                    if reading.bit_confidence else None)}


def verify_video(path: str | Path, policy: Policy, store: ManifestStore | None = None) -> VerifyReport:
    path = Path(path)
    if not path.exists():
        raise InputError(f"file not found: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")
    c2pa_report = verify_file(path) if path.suffix.lower() in (".mp4", ".m4v", ".mov", ".avi") \
        else ProvenanceReport("absent", ("manifest.unsupportedFormat",))
    watermark = _detect_watermark(path, policy)
    recovered = None
    if c2pa_report.state == "absent" and watermark.get("marked") and watermark.get("payload"):
        stored = (store or ManifestStore()).get(watermark["payload"])
        if stored is not None:
            recovered = {"manifest_label": stored.get("label"), "title": stored.get("title"),
                         "safety": assertion_data(stored, SAFETY_LABEL),
                         "soft_binding": assertion_data(stored, SOFT_BINDING_LABEL),
                         "signature": stored.get("signature_info", {})}
    return VerifyReport(str(path), c2pa_report, watermark, recovered)

