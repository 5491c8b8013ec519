"""Schema fuzzing: schemathesis generates requests from the /openapi.json of a running `mastertape serve`
(valid and invalid bodies, paths, query strings; with a valid key) and checks every answer: no 5xx, the
status code is one the operation declares, and the body and headers match the declared schema.

Bounded: at most MAX_EXAMPLES generated cases per operation (some 15 operations), no shrinking, no
example database; a run takes one to two minutes on two cores.
"""

from __future__ import annotations

import secrets

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks as st_checks

from tests.integration import server_process

MAX_EXAMPLES = 25
KEY = "mt_" + secrets.token_urlsafe(24)

#: what every answer must satisfy
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    # no workers: jobs stay queued (the answers, not the audio, are under test); a high in-flight limit so
    # that uploads are accepted rather than all answered 429
    with server_process.running(
        data_dir,
        workers=0,
        MASTERTAPE_API_KEY=KEY,
        MASTERTAPE_MAX_JOBS_IN_FLIGHT_PER_KEY="100000",
        MASTERTAPE_MAX_UPLOAD_BYTES=str(2**20),
    ) as server:
        yield server


@pytest.fixture(scope="module")
def api_schema(fuzzed_server):
    return schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_match_its_schema(case, fuzzed_server):
    case.call_and_validate(headers={"X-API-Key": KEY}, checks=CHECKS, timeout=60)


def test_server_still_healthy_after_fuzzing(fuzzed_server):
    import httpx

    assert httpx.get(f"{fuzzed_server.url}/healthz", timeout=10).status_code == 200
    assert "Traceback" not in fuzzed_server.log(), fuzzed_server.log()[-3000:]


def test_operation_ids_are_unique_and_the_schema_builds_without_warnings(tmp_path):
    """GET and HEAD of the same route (/files/{token}, /) must not share an operation id (FastAPI warns
    "Duplicate Operation ID", and clients generated from the schema break)."""
    import warnings

    from mastertape.api.app import create_app
    from mastertape.config import Settings

    app = create_app(Settings(data_dir=tmp_path / "data", workers=1))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            spec = app.openapi()
    finally:
        app.state.rt.close()
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)), sorted(ids)
    assert "head" not in spec["paths"].get("/files/{token}", {})
