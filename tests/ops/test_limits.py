"""Limits answer with their documented errors: body size, message size, timeout, concurrency; JSON logs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from pyserving.apis.tensor_proto import array_to_tensor
from tests.conftest import write_model_config
from tests.helpers.server import RunningServer, start_server
from tests.ops.support import scrape, value

MAX_BODY = 2048
MAX_MESSAGE = 4096
TIMEOUT_MS = 500


@pytest.fixture(scope="module")
def server(
    ops_models: Path, monitoring_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("limits")
    config = write_model_config(
        tmp / "models.config",
        [
            {"name": "sleep", "base_path": ops_models / "sleep"},
            {"name": "hp", "base_path": ops_models / "half_plus_two"},
        ],
    )
    running = start_server(
        [
            f"--model_config_file={config}",
            f"--monitoring_config_file={monitoring_config}",
            f"--rest_api_max_body_bytes={MAX_BODY}",
            f"--grpc_max_message_bytes={MAX_MESSAGE}",
            "--max_concurrent_requests_per_model=1",
            f"--rest_api_timeout_in_ms={TIMEOUT_MS}",
            "--log_format=json",
            "--log_requests",
        ],
        tmp,
        wait_models=["sleep", "hp"],
    )
    yield running
    running.stop()


def grpc_predict(server: RunningServer, model: str, x: np.ndarray, timeout: float = 30) -> predict_pb2.PredictResponse:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    array_to_tensor(x, out=request.inputs["x"])
    with grpc.insecure_channel(server.grpc_address) as channel:
        return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=timeout)


def test_an_oversized_rest_body_gets_413(server: RunningServer) -> None:
    body = json.dumps({"instances": [[1.0]] * 600}).encode()
    assert len(body) > MAX_BODY
    r = requests.post(f"{server.rest_url}/v1/models/hp:predict", data=body, timeout=10)
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/json"
    assert f"exceeds the limit of {MAX_BODY} bytes" in r.json()["error"]
    # Chunked uploads (no Content-Length) are cut off as they pass the limit.
    r = requests.post(f"{server.rest_url}/v1/models/hp:predict", data=iter([body[:1500], body[1500:]]), timeout=10)
    assert r.status_code == 413
    # The connection and the server stay usable; a body under the limit is served.
    r = requests.post(f"{server.rest_url}/v1/models/hp:predict", json={"instances": [[1.0]]}, timeout=10)
    assert r.status_code == 200


def test_an_oversized_grpc_message_gets_resource_exhausted(server: RunningServer) -> None:
    with pytest.raises(grpc.RpcError) as error:
        grpc_predict(server, "hp", np.ones((2000, 1), np.float32))
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    response = grpc_predict(server, "hp", np.ones((2, 1), np.float32))
    assert list(response.outputs["y"].float_val) == [2.5, 2.5]


def test_the_rest_timeout_cancels_a_slow_model_run_with_504(server: RunningServer) -> None:
    started = time.monotonic()
    r = requests.post(f"{server.rest_url}/v1/models/sleep:predict", json={"instances": [5.0]}, timeout=30)
    elapsed = time.monotonic() - started
    assert r.status_code == 504, r.text
    assert "error" in r.json()
    assert elapsed < 3  # the 5 s run was cancelled at the deadline, not waited for


def test_a_model_that_loops_keeps_its_deadline_after_many_quick_runs(server: RunningServer) -> None:
    # Quick runs of a small model move it onto the event loop, where TF ignores deadlines;
    # a model with a loop runs as long as its input's value says, so it never goes there.
    for _ in range(40):
        r = requests.post(f"{server.rest_url}/v1/models/sleep:predict", json={"instances": [0.0]}, timeout=10)
        assert r.status_code == 200
    started = time.monotonic()
    r = requests.post(f"{server.rest_url}/v1/models/sleep:predict", json={"instances": [5.0]}, timeout=30)
    assert r.status_code == 504, r.text
    assert time.monotonic() - started < 3


def test_concurrent_requests_beyond_the_per_model_bound_are_refused(server: RunningServer) -> None:
    result: dict[str, object] = {}

    def slow() -> None:
        result["response"] = grpc_predict(server, "sleep", np.array([1.5], np.float32))

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        server.wait_for(
            lambda: value(scrape(server.rest_url), "pyserving_requests_in_flight", model="sleep") >= 1,
            10,
            "slow request in flight",
        )
        r = requests.post(f"{server.rest_url}/v1/models/sleep:predict", json={"instances": [0.0]}, timeout=10)
        assert r.status_code == 429
        assert "Too many concurrent requests for model sleep" in r.json()["error"]
        with pytest.raises(grpc.RpcError) as error:
            grpc_predict(server, "sleep", np.array([0.0], np.float32))
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max_concurrent_requests_per_model" in error.value.details()
        # Other models and non-inference requests are not affected.
        assert (
            requests.post(
                f"{server.rest_url}/v1/models/hp:predict", json={"instances": [[1.0]]}, timeout=10
            ).status_code
            == 200
        )
        assert requests.get(f"{server.rest_url}/v1/models/sleep", timeout=10).status_code == 200
        access = access_records(server)
        assert any(r["status"] == "RESOURCE_EXHAUSTED" and r.get("http_status") == 429 for r in access)
        assert any(r["protocol"] == "grpc" and r["status"] == "RESOURCE_EXHAUSTED" for r in access)
    finally:
        thread.join(30)
    assert list(result["response"].outputs["y"].float_val) == [1.5]  # type: ignore[attr-defined]
    r = requests.post(f"{server.rest_url}/v1/models/sleep:predict", json={"instances": [0.0]}, timeout=10)
    assert r.status_code == 200


def access_records(server: RunningServer) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    return [r for r in records if r["logger"] == "pyserving.access"]


def test_json_logs_carry_one_object_per_request(server: RunningServer) -> None:
    # Each error below is made here, so this test stands alone (-k, any order).
    assert (
        requests.post(f"{server.rest_url}/v1/models/hp:predict", data=b"[" * (MAX_BODY + 1), timeout=10).status_code
        == 413
    )
    assert (
        requests.post(f"{server.rest_url}/v1/models/sleep:predict", json={"instances": [5.0]}, timeout=30).status_code
        == 504
    )
    with pytest.raises(grpc.RpcError):
        grpc_predict(server, "no_such_model", np.ones((1, 1), np.float32))
    r = requests.post(f"{server.rest_url}/v1/models/hp:predict", json={"instances": [[4.0]]}, timeout=10)
    assert r.status_code == 200
    access = access_records(server)
    assert {"time", "level", "message", "protocol", "api", "model", "version", "status", "latency_ms"} <= set(
        access[-1]
    )
    assert any(r["status"] == "RESOURCE_EXHAUSTED" and r["http_status"] == 413 for r in access)
    assert any(r["status"] == "DEADLINE_EXCEEDED" and r["http_status"] == 504 for r in access)
    assert any(r["protocol"] == "grpc" and r["status"] == "NOT_FOUND" for r in access)


def test_one_models_slow_runs_leave_threads_for_the_others(
    ops_models: Path, monitoring_config: Path, tmp_path: Path
) -> None:
    # The inference pool has max(4, 2 * cores) threads; with several models one model's
    # unbatched runs may hold all but one, so six slow runs of `sleep` leave `hp` a thread.
    config = write_model_config(
        tmp_path / "models.config",
        [
            {"name": "sleep", "base_path": ops_models / "sleep"},
            {"name": "hp", "base_path": ops_models / "half_plus_two"},
        ],
    )
    server = start_server(
        [f"--model_config_file={config}", f"--monitoring_config_file={monitoring_config}"],
        tmp_path,
        wait_models=["sleep", "hp"],
    )
    try:
        for _ in range(8):  # hp's first runs build its callables through TF's shared pool: before the load
            grpc_predict(server, "hp", np.array([[1.0]], np.float32))
        slow: list[threading.Thread] = []
        done: list[str] = []
        for _ in range(6):
            thread = threading.Thread(
                target=lambda: done.append(grpc_predict(server, "sleep", np.array([6.0], np.float32)).model_spec.name)
            )
            thread.start()
            slow.append(thread)
        server.wait_for(
            lambda: value(scrape(server.rest_url), "pyserving_requests_in_flight", model="sleep") >= 6,
            what="six slow requests in flight",
        )
        response = grpc_predict(server, "hp", np.array([[1.0]], np.float32))
        assert list(response.outputs["y"].float_val) == [2.5]
        assert done == [], "hp waited for a slow run of another model to finish"
        for thread in slow:
            thread.join(60)
        assert done == ["sleep"] * 6
    finally:
        server.stop()
