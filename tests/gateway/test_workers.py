"""``pyserving gateway --workers 2``: uvicorn forks workers that build the app from the env factory."""

from __future__ import annotations

import re

import pytest
import requests

from tests.gateway.support import start_gateway
from tests.helpers.server import RunningServer


def test_two_workers_serve_the_same_config(
    model_server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = f"""
auth = "none"

[upstreams.m]
protocol = "rest"
replicas = ["{model_server.rest_url}"]

[[routes]]
path = "/hp"
upstream = "m"
model = "hp"
"""
    gateway = start_gateway(config, tmp_path_factory.mktemp("workers"), extra_args=("--workers", "2"))
    try:
        gateway.wait_for(
            lambda: len(set(re.findall(r"Started server process \[(\d+)\]", gateway.log()))) == 2,
            30,
            "two worker processes",
        )
        session = requests.Session()
        for _ in range(10):
            response = session.post(f"{gateway.url}/hp", json={"instances": [2.0]}, timeout=10)
            assert response.json() == {"predictions": [3.0]}
    finally:
        gateway.stop()
