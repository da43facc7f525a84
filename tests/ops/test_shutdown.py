"""Graceful shutdown on SIGTERM/SIGINT: readiness off, drain in-flight requests, unload, exit 0."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.helpers.server import RunningServer, start_server
from tests.ops.support import scrape, value


@pytest.fixture
def start(ops_models: Path, monitoring_config: Path, tmp_path: Path) -> Callable[..., RunningServer]:
    def start_sleep_server(*flags: str) -> RunningServer:
        return start_server(
            [
                "--model_name=sleep",
                f"--model_base_path={ops_models / 'sleep'}",
                f"--monitoring_config_file={monitoring_config}",
                *flags,
            ],
            tmp_path,
            wait_models=["sleep"],
        )

    return start_sleep_server


class SlowRequest(threading.Thread):
    """POSTs a predict that takes ``seconds`` in the model; keeps the response or the error."""

    def __init__(self, server: RunningServer, seconds: float) -> None:
        super().__init__(daemon=True)
        self.url = f"{server.rest_url}/v1/models/sleep:predict"
        self.seconds = seconds
        self.response: requests.Response | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.response = requests.post(self.url, json={"instances": [self.seconds]}, timeout=60)
        except requests.RequestException as exc:
            self.error = exc


def wait_in_flight(server: RunningServer, model: str = "sleep") -> None:
    server.wait_for(
        lambda: value(scrape(server.rest_url), "pyserving_requests_in_flight", model=model) >= 1,
        10,
        "a request in flight",
    )


def refused(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return True
    return False


def test_sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_zero(
    start: Callable[..., RunningServer],
) -> None:
    server = start(
        "--enable_grpc_healthcheck_service", "--shutdown_delay_seconds=1.5", "--shutdown_grace_period_seconds=10"
    )
    channel = grpc.insecure_channel(server.grpc_address)
    statuses: list[int] = []
    stream = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)

    def watch() -> None:
        try:
            for response in stream:
                statuses.append(int(response.status))
        except grpc.RpcError:
            statuses.append(-1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    slow = SlowRequest(server, 3.0)
    try:
        server.wait_for(lambda: statuses[-1:] == [health_pb2.HealthCheckResponse.SERVING], 10, "SERVING")
        slow.start()
        wait_in_flight(server)
        server.process.send_signal(signal.SIGTERM)
        # During --shutdown_delay_seconds: not ready, still alive, still accepting.
        server.wait_for(
            lambda: requests.get(server.rest_url + "/readyz", timeout=2).status_code == 503, 5, "readyz 503"
        )
        assert requests.get(server.rest_url + "/readyz", timeout=2).json() == {"status": "shutting down"}
        assert requests.get(server.rest_url + "/healthz", timeout=2).status_code == 200
        watcher.join(5)
        assert statuses[-1] == health_pb2.HealthCheckResponse.NOT_SERVING  # then the stream ended
        # Then the ports close to new connections while the slow request is still running.
        deadline = time.monotonic() + 5
        while not refused(server.rest_url + "/healthz"):
            assert time.monotonic() < deadline, "REST port still accepting connections"
            time.sleep(0.05)
        assert slow.is_alive()
        slow.join(15)
        assert slow.error is None, slow.error
        assert slow.response is not None and slow.response.status_code == 200
        assert slow.response.json() == {"predictions": [3.0]}
        assert server.process.wait(20) == 0
    finally:
        stream.cancel()
        channel.close()
        server.stop()
    log = server.log()
    assert "Shutting down" in log
    assert "model sleep version 1: END (unloaded in" in log
    assert "Server stopped" in log


def test_requests_longer_than_the_grace_period_are_cancelled(start: Callable[..., RunningServer]) -> None:
    server = start("--shutdown_grace_period_seconds=1")
    slow = SlowRequest(server, 8.0)
    try:
        slow.start()
        wait_in_flight(server)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(20) == 0
        assert time.monotonic() - started < 6  # did not wait for the 8 s request
        slow.join(10)
        assert slow.response is not None and slow.response.status_code == 503
        assert "shutting down" in slow.response.json()["error"]
    finally:
        server.stop()


def test_a_second_signal_exits_at_once(start: Callable[..., RunningServer]) -> None:
    sig = signal.SIGINT
    server = start("--shutdown_grace_period_seconds=30")
    slow = SlowRequest(server, 8.0)
    try:
        slow.start()
        wait_in_flight(server)
        server.process.send_signal(sig)
        server.wait_for(lambda: "Shutting down" in server.log(), 10, "the first signal handled")
        started = time.monotonic()
        server.process.send_signal(sig)
        assert server.process.wait(10) == 1
        assert time.monotonic() - started < 3
    finally:
        server.stop()
