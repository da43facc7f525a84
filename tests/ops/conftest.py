"""Fixtures for the operations tests: a few exported models and a monitoring config."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import models
from tests.helpers.shared import TFSERVING_TESTDATA
from tests.ops.models import export_sleep_model


@pytest.fixture(scope="session")
def ops_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """half_plus_two/1, counter/1 and sleep/1 (see tests/ops/models.py), exported once."""
    root = tmp_path_factory.mktemp("ops-models")
    models.export_half_plus_two(root / "half_plus_two" / "1")
    models.export_counter(root / "counter" / "1")
    export_sleep_model(root / "sleep" / "1")
    return root


@pytest.fixture(scope="session")
def monitoring_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TF Serving's own testdata file when ../shared is there, else the same text."""
    shared = TFSERVING_TESTDATA / "monitoring_config.txt"
    if shared.is_file():
        return shared
    path = tmp_path_factory.mktemp("monitoring") / "monitoring_config.txt"
    path.write_text('prometheus_config: {\n  enable: true,\n  path: "/monitoring/prometheus/metrics"\n}\n')
    return path
