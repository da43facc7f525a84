"""Locations of the read-only shared fixtures that live beside the repository.

Why: TensorFlow Serving's testdata models are not ours to vendor, so they sit in
``../shared`` next to the repo root; tests that need them skip cleanly where that
folder is absent. The lstm sentiment model is bundled (``examples/models/lstm``),
so the tests that use it run from a clone alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: ``<repo root>/../shared`` (``/work/shared`` for the repo at ``/work/main``).
SHARED: Path = Path(__file__).resolve().parents[2].parent / "shared"
#: TensorFlow Serving's ``servables/tensorflow/testdata`` models.
TFSERVING_TESTDATA: Path = SHARED / "testdata" / "tfserving"
#: Base path of the bundled Chinese sentiment lstm model (numeric version folders inside).
LSTM_MODEL: Path = Path(__file__).resolve().parents[2] / "examples" / "models" / "lstm"

#: Skip a test (or module, via ``pytestmark``) when the shared folder is absent.
requires_shared = pytest.mark.skipif(not TFSERVING_TESTDATA.is_dir(), reason="../shared is absent")


def latest_version(base: Path) -> Path | None:
    """Return the highest numeric version folder under ``base`` (None if there is none)."""
    if not base.is_dir():
        return None
    versions = [p for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
    return max(versions, key=lambda p: int(p.name)) if versions else None
