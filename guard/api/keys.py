"""API keys: scopes, per-key rate, stored as SHA-256 hashes in SQLite under ``$VIDEOGUARD_HOME``.

A key is ``vg_<key_id>_<secret>`` with a 256-bit random secret, shown once at creation. Only its
SHA-256 is stored: a key of that entropy needs no slow hash, and lookup by hash means the secret is
never compared byte by byte against stored secrets (``compare_digest`` guards the final check).
Revocation is a timestamp; every request reads the row, so a revoked key stops working at once,
also when another process (the CLI) revoked it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from guard.errors import InputError
from guard.paths import home

SCOPES = ("moderate", "generate", "admin")
KEY_PREFIX = "vg_"
_KEY_RE = re.compile(r"^vg_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    key_sha256 TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    rate_per_s REAL,
    created_at REAL NOT NULL,
    revoked_at REAL
)
"""


def keys_db_path() -> Path:
    return home() / "api_keys.sqlite3"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scopes: frozenset[str]
    rate_per_s: float | None
    created_at: float
    revoked_at: float | None = None

    def allows(self, scope: str) -> bool:
        """``admin`` includes every scope."""
        return scope in self.scopes or "admin" in self.scopes

    def to_dict(self) -> dict[str, object]:
        return {"key_id": self.key_id, "name": self.name, "scopes": sorted(self.scopes),
                "rate_per_s": self.rate_per_s, "created_at": self.created_at, "revoked_at": self.revoked_at}


def _validate_scopes(scopes: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(scopes)
    if not chosen:
        raise InputError(f"give at least one --scope (one of {', '.join(SCOPES)})")
    unknown = sorted(chosen - set(SCOPES))
    if unknown:
        raise InputError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    return chosen


class KeyStore:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else keys_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(_SCHEMA)
        self.path.chmod(0o600)

    def create(self, scopes: Iterable[str], *, name: str = "", rate_per_s: float | None = None) -> tuple[ApiKey, str]:
        """A new key: the record, and the secret key string (returned once, never stored)."""
        chosen = _validate_scopes(scopes)
        if rate_per_s is not None and not rate_per_s > 0:
            raise InputError(f"--rate must be a positive number of requests per second, got {rate_per_s}")
        key_id = secrets.token_hex(8)
        secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(key_id, name or key_id, chosen, rate_per_s, time.time())
        with self._lock:
            self._conn.execute(
                "INSERT INTO api_keys (key_id, key_sha256, name, scopes, rate_per_s, created_at) VALUES (?,?,?,?,?,?)",
                (key_id, hash_key(secret), record.name, ",".join(sorted(chosen)), rate_per_s, record.created_at))
        return record, secret

    def revoke(self, key_id: str) -> ApiKey:
        with self._lock:
            cursor = self._conn.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                                        (time.time(), key_id))
        record = self.get(key_id)
        if record is None:
            raise InputError(f"no API key with id {key_id!r}")
        if cursor.rowcount == 0 and record.revoked_at is None:  # pragma: no cover - raced with a delete
            raise InputError(f"could not revoke {key_id!r}")
        return record

    def get(self, key_id: str) -> ApiKey | None:
        with self._lock:
            row = self._conn.execute("SELECT key_id, name, scopes, rate_per_s, created_at, revoked_at "
                                     "FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        return _record(row) if row else None

    def list(self) -> list[ApiKey]:
        with self._lock:
            rows = self._conn.execute("SELECT key_id, name, scopes, rate_per_s, created_at, revoked_at "
                                      "FROM api_keys ORDER BY created_at").fetchall()
        return [_record(row) for row in rows]

    def authenticate(self, presented: str) -> ApiKey | None:
        """The active key whose hash matches ``presented``, else ``None`` (unknown, malformed or revoked)."""
        if not _KEY_RE.match(presented):
            return None
        digest = hash_key(presented)
        with self._lock:
            row = self._conn.execute("SELECT key_id, name, scopes, rate_per_s, created_at, revoked_at, key_sha256 "
                                     "FROM api_keys WHERE key_sha256 = ?", (digest,)).fetchone()
        if row is None or not secrets.compare_digest(row[6], digest):
            return None
        record = _record(row[:6])
        return None if record.revoked_at is not None else record

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _record(row: tuple) -> ApiKey:  # type: ignore[type-arg]
    key_id, name, scopes, rate, created, revoked = row
    return ApiKey(key_id, name, frozenset(s for s in scopes.split(",") if s), rate, created, revoked)
