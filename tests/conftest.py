"""Session fixtures: the project's own exported models, and config-file writing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import models
from tests.helpers.server import write_model_config

__all__ = ["write_model_config"]  # where most tests import it from


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Base directory with the suite's own models, exported once per session.

    half_plus_two/1, two_versions/{123,124} (labels come from configs), counter/1,
    string_model/1, tf2_half_plus_two/1, dtypes/1, half_plus_three/1 (b=3).
    """
    root = tmp_path_factory.mktemp("models")
    models.export_all(root)
    models.export_half_plus_two(root / "two_versions" / "123", with_x2_classify=True)
    models.export_half_plus_two(root / "two_versions" / "124", with_x2_classify=True)
    models.export_half_plus_two(root / "half_plus_three" / "1", b=3.0)
    return root
