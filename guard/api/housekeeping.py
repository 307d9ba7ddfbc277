"""Startup clean-up of the API's scratch files.

Uploads are deleted when their request ends and released files when their response is sent, but a
crash, a kill or a request that timed out (its release finishes in the background) can leave files
behind; job results outlive their in-memory job after a restart. At startup anything older than the
job TTL under ``$VIDEOGUARD_HOME/api`` is removed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger("guard.api")

SCRATCH_DIRS = ("uploads", "releases", "jobs")


def remove_stale_files(root: Path, max_age_s: float) -> int:
    """Delete regular files under ``root/{uploads,releases,jobs}`` not modified for ``max_age_s``; count them."""
    cutoff = time.time() - max_age_s
    removed = 0
    for name in SCRATCH_DIRS:
        directory = root / name
        if not directory.is_dir():
            continue
        for path in directory.rglob("*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:  # raced with a request that is deleting it
                continue
    if removed:
        log.info("removed stale scratch files", extra={"event": "housekeeping", "removed": removed})
    return removed
