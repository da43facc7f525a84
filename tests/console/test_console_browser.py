"""The status console in a real browser (Debian's chromium driven by Playwright) against a real server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import write_model_config
from tests.helpers import models
from tests.helpers.server import REPO, RunningServer, start_server

CHROMIUM = Path("/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")

LSTM = REPO / "examples" / "models" / "lstm"
TIMEOUT_MS = 30_000  # waits, not thresholds: the page shows each change within a poll or two


@pytest.fixture(scope="module")
def bases(model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("console")
    bases = {"m": root / "m", "broken": root / "broken"}
    for base in bases.values():
        models.copy_version(model_root / "half_plus_two" / "1", base / "1")
    return bases


@pytest.fixture(scope="module")
def server(bases: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("console-server")
    config = write_model_config(
        tmp / "models.config",
        [
            {"name": "lstm", "base_path": str(LSTM)},
            {"name": "m", "base_path": str(bases["m"])},
            {"name": "broken", "base_path": str(bases["broken"])},
        ],
    )
    running = start_server(
        [
            f"--model_config_file={config}",
            "--file_system_poll_wait_seconds=1",
            "--file_system_settle_seconds=1",
            "--max_num_load_retries=0",
        ],
        tmp,
        wait_models=["lstm", "m", "broken"],
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Any, server: RunningServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    yield opened
    context.close()


def card(page: Any, model: str) -> Any:
    return page.locator(f'section[data-model="{model}"]')


def test_page_loads_with_no_console_errors_and_no_external_requests(page: Any, server: RunningServer) -> None:
    errors: list[str] = []
    urls: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: urls.append(request.url))
    page.goto(server.rest_url + "/")
    for model in ("lstm", "m", "broken"):
        sync_api.expect(card(page, model).locator('tr[data-state="AVAILABLE"]')).to_have_count(1)
    sync_api.expect(page.locator("#conn")).to_have_text("live")
    # A few polls and every chart drawn.
    page.wait_for_function("window.pyservingConsole.state.points.length >= 2")
    assert errors == []
    assert urls and all(url.startswith(server.rest_url + "/") for url in urls), urls
    assert {url.removeprefix(server.rest_url) for url in urls} >= {
        "/",
        "/console/console.js",
        "/console/vendor/uPlot.iife.min.js",
        "/console/api/stats",
        "/v1/config",
    }


def test_lists_models_versions_states_and_signatures(page: Any, server: RunningServer) -> None:
    page.goto(server.rest_url + "/")
    lstm = card(page, "lstm")
    version = server.status("lstm")["model_version_status"][0]["version"]
    row = lstm.locator(f'tr[data-version="{version}"]')
    sync_api.expect(row).to_contain_text("AVAILABLE")
    sync_api.expect(lstm).to_contain_text(str(LSTM))
    lstm.locator('button[data-tab="Signatures"]').click()
    signatures = lstm.locator(".signature")
    sync_api.expect(signatures).to_contain_text("serving_default")
    for text in (
        "words",
        "DT_STRING",
        "(-1, -1)",
        "nwords",
        "DT_INT32",
        "softmax",
        "(-1, 3)",
        "curl -d",
        "requests.post",
        "PredictionServiceStub",
    ):
        sync_api.expect(signatures).to_contain_text(text)
    # The curl line shown works as printed.
    curl = lstm.locator(".snippet-curl").inner_text()
    body = curl.split("'")[1]
    answer = requests.post(f"{server.rest_url}/v1/models/lstm/versions/{version}:predict", data=body, timeout=30)
    assert answer.status_code == 200, answer.text


def test_a_published_version_shows_up_without_a_reload(
    page: Any, server: RunningServer, bases: dict[str, Path], model_root: Path
) -> None:
    page.goto(server.rest_url + "/")
    m = card(page, "m")
    sync_api.expect(m.locator('tr[data-version="1"]')).to_contain_text("AVAILABLE")
    models.copy_version(model_root / "half_plus_three" / "1", bases["m"] / "2")
    sync_api.expect(m.locator('tr[data-version="2"]')).to_have_attribute("data-state", "AVAILABLE")
    sync_api.expect(m.locator('tr[data-version="1"]')).to_have_attribute("data-state", "END")
    m.locator('button[data-tab="History"]').click()
    sync_api.expect(m.locator(".history")).to_contain_text("loaded in")
    sync_api.expect(m.locator(".history")).to_contain_text("unloaded")


def test_a_broken_version_shows_its_error(page: Any, server: RunningServer, bases: dict[str, Path]) -> None:
    page.goto(server.rest_url + "/")
    broken = card(page, "broken")
    sync_api.expect(broken.locator('tr[data-version="1"]')).to_contain_text("AVAILABLE")
    version = bases["broken"] / "2"
    version.mkdir()
    (version / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    server.wait_for(lambda: server.version_states("broken").get(2) == "END", 60, "v2 failed")
    status = next(v for v in server.status("broken")["model_version_status"] if v["version"] == "2")
    message = status["status"]["error_message"]
    assert message
    row = broken.locator('tr[data-version="2"]')
    sync_api.expect(row).to_contain_text("END (failed)")
    sync_api.expect(row.locator("td.error")).to_contain_text(message)  # in full
    sync_api.expect(broken.locator('tr[data-version="1"]')).to_have_attribute("data-state", "AVAILABLE")


def test_try_it_on_the_lstm_model_shows_pos(page: Any, server: RunningServer) -> None:
    page.goto(server.rest_url + "/")
    lstm = card(page, "lstm")
    lstm.locator('button[data-tab="Try it"]').click()
    lstm.locator('[data-input="words"]').fill("很 喜欢")
    lstm.locator('[data-input="nwords"]').fill("2")
    assert json.loads(lstm.locator(".request-body").input_value()) == {
        "instances": [{"nwords": 2, "words": ["很", "喜欢"]}]
    }
    lstm.locator("button.send").click()
    sync_api.expect(lstm.locator(".answer")).to_have_text("labels: POS")
    result = lstm.locator(".result")
    sync_api.expect(result).to_contain_text("HTTP 200 in")
    prediction = json.loads(lstm.locator(".response").inner_text())["predictions"][0]
    assert prediction["labels"] == "POS" and len(prediction["softmax"]) == 3


def test_charts_receive_points_under_load(page: Any, server: RunningServer) -> None:
    stop = threading.Event()

    def load() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                session.post(
                    f"{server.rest_url}/v1/models/lstm:predict",
                    json={"instances": [{"words": ["很", "好"], "nwords": 2}]},
                    timeout=30,
                )

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        page.goto(server.rest_url + "/")
        # Points with traffic reach the model's three charts and the server's.
        page.wait_for_function("""() => {
            const c = window.pyservingConsole.charts.lstm;
            const some = (series) => series.some((v) => v !== null && v > 0);
            return c && some(c.throughput.data[1]) && some(c.latency.data[1]) && some(c.latency.data[2]);
        }""")
        page.wait_for_function("window.pyservingConsole.state.serverCharts.rss.data[1].some((v) => v > 0)")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    sync_api.expect(card(page, "lstm").locator(".card-head")).to_contain_text("req/s")
