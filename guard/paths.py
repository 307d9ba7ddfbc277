"""Where all state lives: one directory, ``$VIDEOGUARD_HOME`` or the XDG data directory.

Keys and certificates, the ledger, API keys, the manifest store and caches all sit under it;
nothing is written to the current directory unasked.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

from guard.errors import InputError


def home() -> Path:
    """The state directory, created with mode 0700 on first use."""
    root = Path(os.environ.get("VIDEOGUARD_HOME") or user_data_dir("videoguard", appauthor=False))
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def subdir(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def ledger_path() -> Path:
    return home() / "ledger.sqlite3"


def keys_dir() -> Path:
    return subdir("keys")


def manifest_store_dir() -> Path:
    return subdir("manifests")


def writable_base(directory: Path, what: str) -> Path:
    """The nearest existing directory at or above ``directory``, which must be a writable directory (``InputError``
    naming ``what`` otherwise). Why: outputs are checked before any work runs, and their temporary files go in this
    directory, on the output's filesystem, so the final rename is atomic."""
    base = directory
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise InputError(f"cannot write {what}: {base} is not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {what}: {base} is not writable")
    return base
