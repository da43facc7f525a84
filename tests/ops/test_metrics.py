"""Prometheus metrics (pyserving's and TF Serving's names) and the logs, scraped from a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from pyserving.apis.tensor_proto import array_to_tensor
from tests.conftest import write_model_config
from tests.helpers import models
from tests.helpers.server import RunningServer, start_server
from tests.ops.support import METRICS_PATH, parse_exposition, scrape, value


@pytest.fixture(scope="module")
def server(
    ops_models: Path, monitoring_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("metrics")
    models.copy_version(ops_models / "half_plus_two" / "1", tmp / "m" / "1")
    models.copy_version(ops_models / "half_plus_two" / "1", tmp / "life" / "1")
    config = write_model_config(
        tmp / "models.config",
        [
            {"name": "m", "base_path": tmp / "m"},
            {"name": "life", "base_path": tmp / "life"},
        ],
    )
    running = start_server(
        [
            f"--model_config_file={config}",
            f"--monitoring_config_file={monitoring_config}",
            "--enable_batching",
            "--max_num_load_retries=0",
            "--log_requests",
            "--file_system_poll_wait_seconds=1",
        ],
        tmp,
        wait_models=["m", "life"],
    )
    running.base = tmp  # type: ignore[attr-defined]
    yield running
    running.stop()


def grpc_predict(server: RunningServer, model: str) -> grpc.StatusCode:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    array_to_tensor(np.array([[1.0]], np.float32), out=request.inputs["x"])
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            stub.Predict(request, timeout=10)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def test_metrics_are_served_at_the_configured_path_in_prometheus_text(server: RunningServer) -> None:
    response = requests.get(server.rest_url + METRICS_PATH, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert text.endswith("\n")
    for line in (
        "# TYPE :tensorflow:serving:request_count counter",
        "# TYPE :tensorflow:serving:request_latency histogram",
        "# TYPE :tensorflow:serving:runtime_latency histogram",
        "# TYPE :tensorflow:cc:saved_model:load_attempt_count counter",
        "# TYPE :tensorflow:serving:batching_session:queuing_latency histogram",
        "# TYPE pyserving_requests_total counter",
        "# TYPE pyserving_request_duration_seconds histogram",
        "# TYPE pyserving_model_versions gauge",
    ):
        assert line in text
    assert "_created" not in text
    parse_exposition(text)  # every sample line parses
    assert requests.post(server.rest_url + METRICS_PATH, timeout=10).status_code == 405


def test_request_metrics_move_for_both_protocols_and_errors(server: RunningServer) -> None:
    before = scrape(server.rest_url)
    for _ in range(2):
        r = requests.post(f"{server.rest_url}/v1/models/m:predict", json={"instances": [[1.0]]}, timeout=10)
        assert r.status_code == 200
    assert (
        requests.post(f"{server.rest_url}/v1/models/nope:predict", json={"instances": [[1.0]]}, timeout=10).status_code
        == 404
    )
    assert requests.get(f"{server.rest_url}/v1/models/m/metadata", timeout=10).status_code == 200
    assert grpc_predict(server, "m") == grpc.StatusCode.OK
    assert grpc_predict(server, "nope") == grpc.StatusCode.NOT_FOUND
    ours = "pyserving_requests_total"
    nope = {"model": "nope", "api": "predict", "protocol": "grpc", "code": "NOT_FOUND"}
    # grpc.aio's abort sends the status before the interceptor's bookkeeping resumes: wait for it.
    server.wait_for(
        lambda: value(scrape(server.rest_url), ours, **nope) > value(before, ours, **nope),
        10,
        "the aborted gRPC request's metric",
    )
    after = scrape(server.rest_url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(ours, model="m", version="1", api="predict", protocol="rest", code="OK") == 2
    assert delta(ours, model="nope", api="predict", protocol="rest", code="NOT_FOUND") == 1
    assert delta(ours, model="m", version="", api="metadata", protocol="rest", code="OK") == 1
    assert delta(ours, model="m", version="1", api="predict", protocol="grpc", code="OK") == 1
    assert delta(ours, model="nope", api="predict", protocol="grpc", code="NOT_FOUND") == 1
    assert (
        delta("pyserving_request_duration_seconds_count", model="m", version="1", api="predict", protocol="rest") == 2
    )
    assert delta("pyserving_model_run_duration_seconds_count", model="m", version="1", api="predict") == 3
    assert value(after, "pyserving_requests_in_flight", model="m") == 0
    # TF Serving's names: every REST request, gRPC Predict/Classify/Regress.
    assert delta(":tensorflow:serving:request_count", model_name="m", status="OK") == 4
    assert delta(":tensorflow:serving:request_count", model_name="nope", status="NOT_FOUND") == 2
    assert delta(":tensorflow:serving:request_latency_count", model_name="m", API="predict", entrypoint="REST") == 2
    assert delta(":tensorflow:serving:request_latency_count", model_name="m", API="Predict", entrypoint="GRPC") == 1
    assert delta(":tensorflow:serving:runtime_latency_count", model_name="m", runtime="TF1") == 3
    assert (
        delta(":tensorflow:serving:request_latency_bucket", model_name="m", API="predict", entrypoint="REST", le="+Inf")
        == 2
    )


def test_example_counts_follow_regress_requests(server: RunningServer) -> None:
    before = scrape(server.rest_url)
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}, {"x": 2.0}, {"x": 3.0}]}
    r = requests.post(f"{server.rest_url}/v1/models/m:regress", json=body, timeout=10)
    assert r.status_code == 200, r.text
    after = scrape(server.rest_url)
    assert (
        value(after, ":tensorflow:serving:request_example_count_total", model="m")
        - value(before, ":tensorflow:serving:request_example_count_total", model="m")
        == 3
    )
    assert (
        value(after, ":tensorflow:serving:request_example_counts_count", model="m")
        - value(before, ":tensorflow:serving:request_example_counts_count", model="m")
        == 1
    )
    assert (
        value(after, "pyserving_requests_total", model="m", api="regress", code="OK")
        - value(before, "pyserving_requests_total", model="m", api="regress", code="OK")
        == 1
    )


def test_batching_metrics_come_from_the_batch_scheduler(server: RunningServer) -> None:
    before = scrape(server.rest_url)
    r = requests.post(f"{server.rest_url}/v1/models/m:predict", json={"instances": [[1.0], [2.0]]}, timeout=10)
    assert r.status_code == 200
    after = scrape(server.rest_url)
    assert value(after, "pyserving_batch_size_count", model="m", version="1") > value(
        before, "pyserving_batch_size_count", model="m", version="1"
    )
    assert (
        value(after, "pyserving_batch_size_sum", model="m", version="1")
        - value(before, "pyserving_batch_size_sum", model="m", version="1")
        >= 2
    )
    assert value(after, "pyserving_batch_queue_duration_seconds_count", model="m") > value(
        before, "pyserving_batch_queue_duration_seconds_count", model="m"
    )
    assert value(after, ":tensorflow:serving:batching_session:wrapped_run_count") > value(
        before, ":tensorflow:serving:batching_session:wrapped_run_count"
    )
    assert (
        value(
            after,
            ":tensorflow:serving:batching_session:queuing_latency_count",
            thread_pool_name="model_server_batch_threads",
        )
        > 0
    )


def test_initial_loads_are_counted(server: RunningServer) -> None:
    samples = scrape(server.rest_url)
    assert value(samples, "pyserving_model_load_attempts_total", model="m", version="1", outcome="success") == 1
    assert value(samples, "pyserving_model_load_duration_seconds_count", model="m", version="1") == 1
    assert value(samples, "pyserving_model_versions", model="m", state="AVAILABLE") == 1
    path = str(server.base / "m" / "1")  # type: ignore[attr-defined]
    assert value(samples, ":tensorflow:cc:saved_model:load_attempt_count", model_path=path, status="success") == 1
    assert value(samples, ":tensorflow:cc:saved_model:load_latency", model_path=path) > 0


def test_load_failures_unloads_and_versions_per_state_move(server: RunningServer) -> None:
    base: Path = server.base / "life"  # type: ignore[attr-defined]
    models.write_broken_version(base / "2", "no_variables")
    server.wait_for(lambda: server.version_states("life").get(2) == "END", 60, "life v2 END")
    failed = scrape(server.rest_url)
    assert value(failed, "pyserving_model_load_attempts_total", model="life", version="2", outcome="failure") == 1
    assert (
        value(failed, ":tensorflow:cc:saved_model:load_attempt_count", model_path=str(base / "2"), status="fail") == 1
    )
    assert value(failed, "pyserving_model_versions", model="life", state="AVAILABLE") == 1  # v1 still serves

    models.copy_version(server.base / "m" / "1", base / "3")  # type: ignore[attr-defined]
    server.wait_available("life", 3)
    server.wait_for(lambda: server.version_states("life").get(1) == "END", 60, "life v1 unloaded")
    after = scrape(server.rest_url)
    assert value(after, "pyserving_model_load_attempts_total", model="life", version="3", outcome="success") == 1
    assert value(after, "pyserving_model_unload_duration_seconds_count", model="life", version="1") == 1
    assert value(after, "pyserving_model_versions", model="life", state="AVAILABLE") == 1
    assert value(after, "pyserving_model_versions", model="life", state="UNLOADING") == 0


def test_requests_and_lifecycle_are_logged_one_line_each(server: RunningServer) -> None:
    r = requests.post(f"{server.rest_url}/v1/models/m:predict", json={"instances": [[7.0]]}, timeout=10)
    assert r.status_code == 200
    assert grpc_predict(server, "m") == grpc.StatusCode.OK
    server.wait_for(lambda: "GRPC predict model=m version=1 status=OK" in server.log(), 10, "access log")
    log = server.log()
    assert "pyserving.access] REST predict model=m version=1 status=OK http_status=200 latency_ms=" in log
    assert "REST predict model=nope version=- status=NOT_FOUND http_status=404" in log
    assert "pyserving.lifecycle] model m version 1: AVAILABLE (loaded in" in log
    assert "model life version 2: END (load failed: " in log
    assert "model life version 1: UNLOADING" in log
    assert "model life version 1: END (unloaded in" in log
    assert "/healthz" not in log and METRICS_PATH not in log  # probes and scrapes are not request-logged


def test_oip_requests_carry_their_own_protocol_label(server: RunningServer) -> None:
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient

    before = scrape(server.rest_url)
    x = np.array([[1.0]], np.float32)
    rest_input = httpclient.InferInput("x", [1, 1], "FP32")
    rest_input.set_data_from_numpy(x)
    grpc_input = grpcclient.InferInput("x", [1, 1], "FP32")
    grpc_input.set_data_from_numpy(x)
    rest = httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}")
    over_grpc = grpcclient.InferenceServerClient(server.grpc_address)
    try:
        rest.infer("m", [rest_input])
        over_grpc.infer("m", [grpc_input])
    finally:
        rest.close()
        over_grpc.close()
    ours = "pyserving_requests_total"
    labels = {"model": "m", "version": "1", "api": "infer", "code": "OK"}
    server.wait_for(
        lambda: (
            value(scrape(server.rest_url), ours, protocol="oip-grpc", **labels)
            > value(before, ours, protocol="oip-grpc", **labels)
        ),
        10,
        "the OIP gRPC request's metric",
    )
    after = scrape(server.rest_url)
    assert value(after, ours, protocol="oip-rest", **labels) - value(before, ours, protocol="oip-rest", **labels) == 1
    # TF Serving's own request metrics count TF Serving's API only.
    assert value(after, ":tensorflow:serving:request_count", model_name="m", status="OK") == value(
        before, ":tensorflow:serving:request_count", model_name="m", status="OK"
    )
