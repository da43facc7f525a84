"""Gateway suite fixtures: the project's own models served once for the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import models
from tests.helpers.server import RunningServer, serve_models


@pytest.fixture(scope="session")
def gateway_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``strings/1`` (the lstm stand-in) and ``hp/1`` (half_plus_two), exported once."""
    root = tmp_path_factory.mktemp("gateway-models")
    models.export_string_model(root / "strings" / "1")
    models.export_half_plus_two(root / "hp" / "1")
    return root


@pytest.fixture(scope="session")
def model_server(gateway_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real pyserving server (REST and gRPC) with ``strings`` and ``hp``."""
    tmp = tmp_path_factory.mktemp("gateway-server")
    server = serve_models(
        [
            {"name": "strings", "base_path": gateway_models / "strings"},
            {"name": "hp", "base_path": gateway_models / "hp"},
        ],
        tmp,
    )
    yield server
    server.stop()
