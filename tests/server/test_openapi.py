"""docs/openapi.yaml against a live server: served as-is, and schemathesis finds no 5xx, no non-JSON error.

Bounded: ``EXAMPLES`` cases per operation and generation mode (well under a minute on 2 cores).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from tests.helpers.server import REPO, RunningServer, serve_models

EXAMPLES = 25
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@pytest.fixture(scope="module")
def server(model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("openapi")
    running = serve_models(
        [
            {"name": "half_plus_two", "base_path": str(model_root / "half_plus_two")},
            {"name": "two_versions", "base_path": str(model_root / "two_versions"), "labels": {"stable": 123}},
        ],
        tmp,
    )
    try:
        yield running
    finally:
        running.stop()


def test_the_served_document_is_docs_openapi_yaml(server: RunningServer) -> None:
    served = requests.get(f"{server.rest_url}/v1/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    document = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text())
    assert served.json() == document
    assert document["openapi"].startswith("3.1")
    posted = requests.post(f"{server.rest_url}/v1/openapi.json", timeout=30)
    assert posted.status_code == 405 and posted.json()["error"]


def _check(response: schemathesis.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert response.headers.get("content-type") == ["application/json"], response.headers
        assert isinstance(response.json()["error"], str), response.text[:300]


def test_schemathesis_finds_no_server_error(server: RunningServer) -> None:
    schema = schemathesis.openapi.from_url(f"{server.rest_url}/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    session = requests.Session()
    calls = 0
    for operation in operations:
        for mode in MODES:

            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                response = case.call(base_url=server.rest_url, session=session, timeout=30)
                _check(response)
                if mode is GenerationMode.POSITIVE:
                    case.validate_response(response, checks=[status_code_conformance, content_type_conformance])

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                # Nothing in the operation can be made invalid (GET /healthz has no parameters).
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert server.process.poll() is None
    assert "Traceback" not in server.log()
    print(f"schemathesis: {len(operations)} operations, {calls} requests, no 5xx, every error JSON")
