"""Property-based contract test: schemathesis generates requests from the OpenAPI schema and checks
every response against it (status codes, content types, headers, bodies, no 5xx), on a live server.

Bounded for CI: a few examples per operation and generation mode, authenticated with an admin key
(so generation, moderation and health are all reachable) at a rate no test reaches. The schemathesis
pytest plugin's lazy fixture loader does not run under pytest 9 (it reads ``node._nodeid``), so this
drives schemathesis' Python API with Hypothesis directly: one strategy per operation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.conftest import ServerProcess, make_key

MAX_EXAMPLES = 6
#: A body the schema allows (any bytes) is almost never a decodable video, so "schema-valid data is
#: accepted" cannot hold for uploads; their 415 problem documents are asserted in test_http.py.
UPLOADS = {"/v1/videos/scan", "/v1/videos/release", "/v1/videos/verify"}


@pytest.fixture(scope="module")
def contract_server() -> Iterator[ServerProcess]:
    """``videoguard serve`` in a child process, once ready (503 while warming up is a 5xx by design)."""
    with ServerProcess() as live:
        yield live


def _operations(schema: schemathesis.BaseSchema) -> list[schemathesis.APIOperation]:
    return [result.ok() for result in schema.get_all_operations()]


def _explore(operation: schemathesis.APIOperation, mode: GenerationMode, key: str) -> None:
    excluded = [positive_data_acceptance] if operation.path in UPLOADS else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def explore(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"X-API-Key": key}, timeout=60, excluded_checks=excluded)

    explore()


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_when_schemathesis_explores_the_api_then_every_response_matches_the_schema(contract_server: ServerProcess,
                                                                                   mode: GenerationMode) -> None:
    key = make_key("admin", rate=100000.0, name="schemathesis")
    schema = schemathesis.openapi.from_url(f"{contract_server.url}/openapi.json")
    operations = _operations(schema)
    assert len(operations) >= 11  # every endpoint is in the contract
    failures: list[str] = []
    for operation in operations:
        try:
            _explore(operation, mode, key)
        except Unsatisfiable:  # no negative case exists for an operation without inputs
            if mode is GenerationMode.POSITIVE or operation.body or operation.path_parameters or operation.query:
                failures.append(f"{operation.method.upper()} {operation.path}: no cases could be generated")
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
