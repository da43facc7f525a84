"""Liveness and readiness: REST /healthz and /readyz, gRPC grpc.health.v1, while models load."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.helpers import models
from tests.helpers.server import RunningServer, start_server

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("health")
    (tmp / "late").mkdir()  # the model's version folder appears later
    running = start_server(
        [
            "--model_name=late",
            f"--model_base_path={tmp / 'late'}",
            "--enable_grpc_healthcheck_service",
            "--file_system_poll_wait_seconds=1",
            "--max_num_load_retries=0",
        ],
        tmp,
    )
    running.base = tmp  # type: ignore[attr-defined]
    yield running
    running.stop()


def check(server: RunningServer, service: str = "") -> int:
    with grpc.insecure_channel(server.grpc_address) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(response.status)


def test_readiness_follows_the_model_from_missing_to_available(server: RunningServer, ops_models: Path) -> None:
    healthz = requests.get(server.rest_url + "/healthz", timeout=5)
    assert healthz.status_code == 200 and healthz.json() == {"status": "ok"}
    readyz = requests.get(server.rest_url + "/readyz", timeout=5)
    assert readyz.status_code == 503
    body = readyz.json()
    assert body["status"] == "not ready"
    assert body["models"]["late"]["state"] == "NO_VERSION"
    assert check(server) == NOT_SERVING
    assert check(server, "PredictionService") == NOT_SERVING
    assert check(server, "ModelService") == NOT_SERVING
    with pytest.raises(grpc.RpcError) as unknown:
        check(server, "NoSuchService")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    seen: list[int] = []
    channel = grpc.insecure_channel(server.grpc_address)
    stream = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=60)

    def watch() -> None:
        try:
            for response in stream:
                seen.append(int(response.status))
                if response.status == SERVING:
                    return
        except grpc.RpcError:
            pass

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        models.copy_version(ops_models / "half_plus_two" / "1", server.base / "late" / "1")  # type: ignore[attr-defined]
        server.wait_for(
            lambda: requests.get(server.rest_url + "/readyz", timeout=5).status_code == 200, 60, "readyz 200"
        )
        assert requests.get(server.rest_url + "/readyz", timeout=5).json() == {"status": "ready"}
        assert check(server) == SERVING
        assert check(server, "PredictionService") == SERVING
        watcher.join(10)
        assert seen[0] == NOT_SERVING and seen[-1] == SERVING
    finally:
        stream.cancel()
        channel.close()
        watcher.join(5)


def test_a_failing_newer_version_does_not_make_the_server_unready(server: RunningServer) -> None:
    server.wait_available("late", 1)
    models.write_broken_version(server.base / "late" / "2", "no_variables")  # type: ignore[attr-defined]
    server.wait_for(lambda: server.version_states("late").get(2) == "END", 60, "v2 END")
    assert requests.get(server.rest_url + "/readyz", timeout=5).status_code == 200
    assert check(server) == SERVING
