"""Process-wide settings of the serving process (``guard.api.server.configure_process``), checked in a fresh
interpreter each, since they change the whole process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_PROBE = (
    "import json, threadpoolctl\n"
    "from guard.api.server import configure_process\n"
    "from guard.api.settings import ApiSettings\n"
    "configure_process(ApiSettings.from_env())\n"
    "print(json.dumps([i['num_threads'] for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas']))\n"
)


def _blas_threads(env_value: str | None) -> list[int]:
    env = {k: v for k, v in os.environ.items() if k != "VIDEOGUARD_API_BLAS_THREADS"}
    env["OMP_NUM_THREADS"] = "2"  # the library default the setting must override
    env["OPENBLAS_NUM_THREADS"] = "2"
    if env_value is not None:
        env["VIDEOGUARD_API_BLAS_THREADS"] = env_value
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("env_value", "expected"), [(None, 1), ("2", 2)])
def test_when_the_server_configures_its_process_then_numpy_blas_runs_the_set_number_of_threads(
        env_value: str | None, expected: int) -> None:
    threads = _blas_threads(env_value)
    assert threads and all(n == expected for n in threads), threads
