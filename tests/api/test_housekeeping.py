"""Startup removal of stale scratch files (uploads, releases, job results) under $VIDEOGUARD_HOME/api."""

from __future__ import annotations

import os
import time
from pathlib import Path

from guard.api.housekeeping import remove_stale_files


def test_when_scratch_files_are_older_than_the_ttl_then_startup_removes_only_those(tmp_path: Path) -> None:
    old = tmp_path / "uploads" / "upload-old.mp4"
    fresh = tmp_path / "jobs" / "key" / "job.mp4"
    other = tmp_path / "keep.txt"  # outside the scratch directories
    for path in (old, fresh, other):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    stale = time.time() - 7200
    os.utime(old, (stale, stale))
    os.utime(other, (stale, stale))
    assert remove_stale_files(tmp_path, 3600) == 1
    assert not old.exists() and fresh.exists() and other.exists()
