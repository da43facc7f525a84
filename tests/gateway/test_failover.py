"""Replicas: round-robin across two real servers, failover when one dies, 503 when both have.

The two servers serve different models under one name (0.5x+2 and 0.5x+3),
so every answer says which replica gave it.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.gateway.support import RunningGateway, start_gateway
from tests.helpers import models
from tests.helpers.server import RunningServer, start_server

A_ANSWER, B_ANSWER = 2.5, 3.5  # y for x = 1 on replica A (b=2) and replica B (b=3)


@dataclass
class Pair:
    a: RunningServer
    b: RunningServer
    gateway: RunningGateway

    def ask(self, path: str) -> requests.Response:
        return requests.post(f"{self.gateway.url}{path}", json={"instances": [1.0]}, timeout=20)


@pytest.fixture(scope="module")
def pair(gateway_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("gateway-failover")
    models.export_half_plus_two(tmp / "b" / "hp" / "1", b=3.0)
    bases = {"a": gateway_models / "hp", "b": tmp / "b" / "hp"}  # A: the suite's 0.5x+2
    with ThreadPoolExecutor(2) as pool:  # start both servers at once
        a, b = pool.map(
            lambda side: start_server(
                ["--model_name=hp", f"--model_base_path={bases[side]}"], tmp, wait_models=("hp",)
            ),
            ["a", "b"],
        )
    config = f"""
auth = "none"

[upstreams.grpc]
replicas = ["{a.grpc_address}", "{b.grpc_address}"]
health_interval_ms = 200

[upstreams.rest]
protocol = "rest"
replicas = ["{a.rest_url}", "{b.rest_url}"]
health_interval_ms = 200

[[routes]]
path = "/grpc"
upstream = "grpc"
model = "hp"

[[routes]]
path = "/rest"
upstream = "rest"
model = "hp"
"""
    try:
        gateway = start_gateway(config, tmp)
        try:
            gateway.wait_ready()
            yield Pair(a, b, gateway)
        finally:
            gateway.stop()
    finally:
        a.stop()
        b.stop()


@pytest.mark.parametrize("path", ["/grpc", "/rest"])
def test_round_robin_uses_every_replica(pair: Pair, path: str) -> None:
    answers = [pair.ask(path).json()["predictions"][0] for _ in range(6)]
    assert sorted(set(answers)) == [A_ANSWER, B_ANSWER]
    assert all(answers[i] != answers[i + 1] for i in range(5))  # strictly alternating


def test_requests_keep_succeeding_when_a_replica_dies_then_503(pair: Pair) -> None:
    pair.a.stop()
    for _ in range(10):  # right after the kill: failover within each request, no errors
        for path in ["/grpc", "/rest"]:
            response = pair.ask(path)
            assert response.status_code == 200, response.text
            assert response.json()["predictions"] == [B_ANSWER]
    pair.gateway.wait_for(
        lambda: (
            requests.get(f"{pair.gateway.url}/readyz", timeout=2).json()["upstreams"]["grpc"]["reachable_replicas"] == 1
        ),
        10,
        "A marked down",
    )
    assert requests.get(f"{pair.gateway.url}/readyz", timeout=2).status_code == 200

    pair.b.stop()
    for path in ["/grpc", "/rest"]:
        response = pair.ask(path)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "upstream_unavailable"
    pair.gateway.wait_for(
        lambda: requests.get(f"{pair.gateway.url}/readyz", timeout=2).status_code == 503, 10, "not ready"
    )
