"""API keys (hashed store, scopes, revocation), the ``videoguard keys`` commands and the rate limiter."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guard.api.keys import KeyStore, hash_key
from guard.api.keys_cli import keys_app
from guard.api.ratelimit import RateLimiter
from guard.errors import InputError


def test_when_a_key_is_created_then_only_its_hash_is_stored(home: Path) -> None:
    store = KeyStore()
    record, secret = store.create(["moderate", "generate"], name="ci")
    raw = store.path.read_bytes() + (store.path.with_name(store.path.name + "-wal").read_bytes()
                                     if store.path.with_name(store.path.name + "-wal").exists() else b"")
    assert secret.encode() not in raw
    rows = sqlite3.connect(store.path).execute("SELECT key_sha256 FROM api_keys").fetchall()
    assert rows == [(hashlib.sha256(secret.encode()).hexdigest(),)] == [(hash_key(secret),)]
    assert store.authenticate(secret) == record
    assert record.allows("moderate") and record.allows("generate") and not record.allows("admin")


@pytest.mark.parametrize(
    ("presented", "found"),
    [
        ("correct", True),
        ("", False),
        ("vg_0000000000000000_" + "A" * 43, False),  # well-formed, unknown
        ("not-a-key", False),
        ("tampered", False),  # the right key with its last character changed
    ],
)
def test_when_a_key_is_presented_then_only_the_exact_active_key_authenticates(home: Path, presented: str,
                                                                             found: bool) -> None:
    store = KeyStore()
    _, secret = store.create(["moderate"])
    value = {"correct": secret, "tampered": secret[:-1] + ("A" if secret[-1] != "A" else "B")}.get(presented, presented)
    assert (store.authenticate(value) is not None) is found


def test_when_a_key_is_revoked_then_it_no_longer_authenticates(home: Path) -> None:
    store = KeyStore()
    record, secret = store.create(["admin"])
    store.revoke(record.key_id)
    assert store.authenticate(secret) is None
    assert store.get(record.key_id).revoked_at is not None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("scopes", "rate", "message"),
    [([], None, "at least one"), (["root"], None, "unknown scope 'root'"), (["moderate"], 0.0, "--rate")],
)
def test_when_a_key_request_is_bad_then_an_input_error_names_it(home: Path, scopes: list[str], rate: float | None,
                                                                message: str) -> None:
    with pytest.raises(InputError, match=message):
        KeyStore().create(scopes, rate_per_s=rate)


def test_when_the_cli_creates_lists_and_revokes_then_the_key_is_printed_once(home: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(keys_app, ["create", "--scope", "moderate", "--scope", "generate", "--name", "ci",
                                       "--rate", "5", "--json"])
    assert created.exit_code == 0, created.output
    data = json.loads(created.stdout)
    assert data["scopes"] == ["generate", "moderate"] and data["rate_per_s"] == 5.0
    listed = runner.invoke(keys_app, ["list", "--json"])
    assert data["key_id"] in listed.stdout and data["key"] not in listed.stdout
    revoked = runner.invoke(keys_app, ["revoke", data["key_id"]])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert KeyStore().authenticate(data["key"]) is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("rate", "burst_allowed", "wait"),
    [(1.0, 1, 1), (5.0, 5, 1), (0.25, 1, 4), (0.5, 1, 2)],
)
def test_when_a_bucket_empties_then_retry_after_is_the_refill_time(rate: float, burst_allowed: int, wait: int) -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert [limiter.acquire("k", rate) for _ in range(burst_allowed)] == [0] * burst_allowed
    assert limiter.acquire("k", rate) == wait
    assert limiter.acquire("other", rate) == 0  # buckets are per key
    clock.now += wait
    assert limiter.acquire("k", rate) == 0

