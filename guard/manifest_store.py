"""The local manifest repository: every signed manifest stored under its watermark payload.

When a file's embedded manifest is stripped (re-encoded, remuxed, screen-recorded), the watermark
still carries the payload; ``lookup(payload)`` returns the original credentials so ``verify`` can
report them as recovered through the watermark.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from guard.paths import manifest_store_dir


class ManifestStore:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else manifest_store_dir()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, payload_hex: str, suffix: str) -> Path:
        if not payload_hex or any(c not in "0123456789abcdef" for c in payload_hex):
            raise ValueError(f"payload must be lowercase hex, got {payload_hex!r}")
        return self.root / f"{payload_hex}{suffix}"

    def put(self, payload_hex: str, manifest: dict[str, Any], manifest_bytes: bytes) -> None:
        """Store the manifest JSON (as read back from the signed file) and its signed JUMBF bytes, atomically."""
        for suffix, data in ((".c2pa", manifest_bytes),
                             (".json", json.dumps(manifest, sort_keys=True, indent=1).encode("utf-8"))):
            target = self._path(payload_hex, suffix)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)

    def get(self, payload_hex: str) -> dict[str, Any] | None:
        path = self._path(payload_hex, ".json")
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def manifest_bytes(self, payload_hex: str) -> bytes | None:
        path = self._path(payload_hex, ".c2pa")
        return path.read_bytes() if path.exists() else None
