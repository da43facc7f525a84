"""The console's routes and stats endpoint over HTTP, against a real server; quantile() alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pyserving.console import FILES
from pyserving.console.stats import quantile
from tests.helpers.server import RunningServer, start_server

STATS = "/console/api/stats"


@pytest.fixture(scope="module")
def server(model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Prometheus monitoring on: the console reads the request metrics the server keeps anyway."""
    tmp = tmp_path_factory.mktemp("console-api")
    monitoring = tmp / "monitoring.txt"
    monitoring.write_text('prometheus_config { enable: true path: "/metrics" }\n')
    running = start_server(
        [
            f"--model_base_path={model_root / 'half_plus_two'}",
            "--model_name=half_plus_two",
            f"--monitoring_config_file={monitoring}",
        ],
        tmp,
        wait_models=["half_plus_two"],
    )
    yield running
    running.stop()


def predict(server: RunningServer, body: object) -> requests.Response:
    return requests.post(f"{server.rest_url}/v1/models/half_plus_two:predict", json=body, timeout=30)


def test_every_file_is_served_with_its_type(server: RunningServer) -> None:
    for path, name in FILES.items():
        r = requests.get(server.rest_url + path, timeout=10)
        assert r.status_code == 200, path
        kind = {"html": "text/html", "js": "text/javascript", "css": "text/css"}.get(
            name.rsplit(".", 1)[-1], "text/plain"
        )
        assert r.headers["content-type"].startswith(kind), path
    assert "MIT" in requests.get(server.rest_url + "/console/vendor/LICENSE", timeout=10).text
    assert requests.post(server.rest_url + "/", timeout=10).status_code == 405
    assert requests.get(server.rest_url + "/console/nothing.js", timeout=10).status_code == 404


def test_stats_count_requests_and_errors_from_the_request_metrics(server: RunningServer) -> None:
    first = requests.get(server.rest_url + STATS, timeout=10).json()
    assert first["server"]["prometheus"] is True and first["server"]["stats_from"] == "requests"
    assert [e["state"] for e in first["events"]] == ["START", "LOADING", "AVAILABLE"]
    assert first["events"][-1]["load_seconds"] >= 0

    def point_with_traffic() -> bool:
        assert predict(server, {"instances": [[1.0]]}).status_code == 200
        assert predict(server, {"instances": "bad"}).status_code == 400
        doc = requests.post(server.rest_url + STATS, json={"after": first["seq"], "after_event": 99}, timeout=10).json()
        assert doc["events"] == []
        assert all(p["seq"] > first["seq"] for p in doc["points"])
        rates = [p["models"]["half_plus_two"] for p in doc["points"]]
        return any(r["rps"] > 0 and r["eps"] > 0 and r["p50_ms"] is not None for r in rates)

    server.wait_for(point_with_traffic, 60, "a point with requests and errors")
    point = requests.get(server.rest_url + STATS, timeout=10).json()["points"][-1]
    assert point["rss_bytes"] > 0 and point["in_flight"] >= 0 and point["cpu_percent"] >= 0


def test_stats_rejects_bad_requests(server: RunningServer) -> None:
    assert requests.post(server.rest_url + STATS, data=b"[1]", timeout=10).status_code == 400
    assert requests.post(server.rest_url + STATS, data=b"{", timeout=10).status_code == 400
    assert requests.put(server.rest_url + STATS, timeout=10).status_code == 405


def test_console_off(model_root: Path, tmp_path: Path) -> None:
    running = start_server(
        [f"--model_base_path={model_root / 'half_plus_two'}", "--model_name=half_plus_two", "--enable_console=false"],
        tmp_path,
        grpc=False,
    )
    try:
        for path in ("/", "/console/", "/console/console.js", STATS):
            assert requests.get(running.rest_url + path, timeout=10).status_code == 404, path
    finally:
        running.stop()


def test_quantile_interpolates_inside_the_bucket_like_prometheus() -> None:
    bounds = (0.001, 0.01, 0.1)
    assert quantile(0.5, bounds, [0, 0, 0, 0]) is None
    assert quantile(0.5, bounds, [10, 0, 0, 0]) == pytest.approx(0.0005)
    assert quantile(0.5, bounds, [0, 4, 0, 0]) == pytest.approx(0.0055)
    assert quantile(0.99, bounds, [50, 49, 1, 0]) == pytest.approx(0.01)
    assert quantile(0.99, bounds, [50, 48, 2, 0]) == pytest.approx(0.055)
    assert quantile(0.99, bounds, [0, 0, 0, 3]) == 0.1  # past the last bound: the last bound
