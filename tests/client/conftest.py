"""Servers for the client tests: a plain one and one whose batching holds a request for 60 s.

Why the second: a deadline test needs an answer that really is late. A batch of up to 1,000
requests with a 60 s batch timeout keeps a lone request waiting, with no sleep in a model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import write_model_config
from tests.helpers import models
from tests.helpers.server import RunningServer, start_server
from tests.helpers.shared import LSTM_MODEL

HAS_LSTM = LSTM_MODEL.is_dir()


@pytest.fixture(scope="session")
def client_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("client-models")
    models.export_half_plus_two(root / "half_plus_two" / "1")
    return root


@pytest.fixture(scope="module")
def server(client_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("client-server")
    entries = [{"name": "half_plus_two", "base_path": str(client_models / "half_plus_two")}]
    if HAS_LSTM:
        entries.append({"name": "lstm", "base_path": str(LSTM_MODEL)})
    config = write_model_config(tmp / "models.config", entries)
    # idle keep-alive connections close after 1 s: the stale-connection test waits for that
    args = [f"--model_config_file={config}", "--rest_api_keep_alive_timeout_seconds=1"]
    running = start_server(args, tmp, wait_models=[e["name"] for e in entries])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def slow_server(client_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("client-slow")
    params = tmp / "batching.config"
    params.write_text(
        "max_batch_size { value: 1000 } batch_timeout_micros { value: 60000000 } num_batch_threads { value: 1 }\n"
    )
    running = start_server(
        [
            "--model_name=half_plus_two",
            f"--model_base_path={client_models / 'half_plus_two'}",
            "--enable_batching",
            f"--batching_parameters_file={params}",
        ],
        tmp,
        wait_models=["half_plus_two"],
    )
    yield running
    running.stop()
