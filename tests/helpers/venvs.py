"""A virtualenv holding ``pip install pyserving`` (no extras, so no TensorFlow), for the TF-less test and bench.

Why: a module that imports TensorFlow only shows up where TensorFlow is missing. The venv is built
from this checkout (a non-editable install: the package data is checked too); pip reuses its wheel
cache, and the local wheel folders of ``pip config`` when there is no network.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What pip says when a requirement cannot be fetched (no network, no cached wheel): the test skips.
_OFFLINE = (
    "No matching distribution found",
    "Could not find a version",
    "NewConnectionError",
    "Network is unreachable",
)


class VenvUnavailable(RuntimeError):
    """pip could not fetch the base requirements (no network and no cached wheels)."""


@dataclass(frozen=True)
class Venv:
    path: Path
    seconds: float  # how long the build took

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def pyserving(self) -> Path:
        return self.path / "bin" / "pyserving"


def build_tfless_venv(path: Path) -> Venv:
    """``python -m venv path`` + ``pip install <this checkout>``; VenvUnavailable when pip cannot fetch."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", str(REPO)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        output = done.stdout + done.stderr
        if any(sign in output for sign in _OFFLINE):
            raise VenvUnavailable(output[-2000:])
        raise RuntimeError(f"pip install {REPO} failed:\n{output[-4000:]}")
    return Venv(path, time.monotonic() - started)
