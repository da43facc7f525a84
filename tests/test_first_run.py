"""A newcomer's first start: quiet logs, a missing model folder said once and shown, a hint to start.

Real servers on free ports; the source's repeat logging is checked by polling a real
FileSystemSource several times over a real (missing, then empty) folder.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from pathlib import Path

import pytest
import requests

from pyserving.core.errors import InvalidArgumentError
from pyserving.core.manager import AspiredVersion
from pyserving.sources.filesystem import FileSystemSource, ServableSourceConfig
from pyserving.sources.version_policy import VersionPolicy
from tests.helpers.server import REPO, start_server

HALF_PLUS_TWO = REPO / "examples" / "models" / "half_plus_two"
# Every line a clean start prints is one of pyserving's: "<date> <time>.<ms> <L> pyserving[.x]] ..."
OWN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [DIWEC] pyserving(\.\w+)*\] ")


def test_clean_start_prints_only_pyserving_lines(tmp_path: Path) -> None:
    server = start_server(
        ["--model_name=half_plus_two", f"--model_base_path={HALF_PLUS_TWO}"], tmp_path, wait_models=("half_plus_two",)
    )
    assert server.stop() == 0
    lines = [line for line in server.log().splitlines() if line.strip()]
    strangers = [line for line in lines if not OWN_LINE.match(line)]
    assert not strangers, "\n".join(strangers)
    assert not any(" E " in line or " W " in line for line in lines), "\n".join(lines)


def test_log_tensorflow_lets_tensorflows_lines_through(tmp_path: Path) -> None:
    server = start_server(
        ["--model_name=half_plus_two", f"--model_base_path={HALF_PLUS_TWO}", "--log_tensorflow"],
        tmp_path,
        wait_models=("half_plus_two",),
    )
    server.stop()
    assert "I tensorflow] Restoring parameters from" in server.log()


def test_missing_base_path_is_shown_in_status_and_readyz_until_it_appears(tmp_path: Path) -> None:
    base = tmp_path / "late"
    server = start_server(
        ["--model_name=late", f"--model_base_path={base}", "--file_system_poll_wait_seconds=1"], tmp_path
    )
    try:
        problem = f"Could not find base path {base} for servable late"

        def readyz_says_why() -> bool:
            body = requests.get(f"{server.rest_url}/readyz", timeout=5).json()
            return problem in body["models"]["late"].get("reason", "")

        server.wait_for(readyz_says_why, what="the missing base path in /readyz")
        status = requests.get(f"{server.rest_url}/v1/models/late", timeout=5)
        assert status.status_code == 404
        assert status.json()["error"].startswith(f"Could not find any versions of model late. {problem}")

        base.mkdir()
        server.wait_for(lambda: "No versions of servable late found" in server.log(), what="the empty-folder warning")
        shutil.copytree(HALF_PLUS_TWO / "1", base / "1")
        server.wait_available("late")
    finally:
        server.stop()
    log = server.log()
    # The source says it once (not every poll); the startup summary may repeat it once more.
    assert sum(problem in line for line in log.splitlines() if "pyserving.source]" in line) == 1, log
    assert log.count("No versions of servable late found") == 1, log
    assert log.count("Found versions of servable late") == 1, log


def test_source_reports_a_problem_once_and_again_when_it_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = tmp_path / "m"
    source = FileSystemSource(
        ServableSourceConfig("m", str(base), VersionPolicy()),
        lambda servable_id, path: AspiredVersion(servable_id, None, InvalidArgumentError("not loaded in this test")),
        lambda name, versions: None,
        poll_wait_seconds=0,
    )

    async def polls(n: int) -> None:
        for _ in range(n):
            await source.poll()

    with caplog.at_level(logging.INFO, logger="pyserving.source"):
        asyncio.run(polls(5))
        assert source.problem is not None and "Could not find base path" in source.problem
        base.mkdir()
        asyncio.run(polls(5))
        assert source.problem is not None and "No versions of servable m" in source.problem
        (base / "1").mkdir()
        (base / "1" / "saved_model.pb").write_bytes(b"")
        asyncio.run(polls(2))
        assert source.problem is None
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Could not find base path" in m for m in messages) == 1, messages
    assert sum("No versions of servable m" in m for m in messages) == 1, messages
    assert sum("Found versions of servable m" in m for m in messages) == 1, messages


def test_serve_without_a_model_folder_says_how_to_serve_the_example(tmp_path: Path) -> None:
    server = start_server([], tmp_path, env={"MODEL_NAME": "model", "MODEL_BASE_PATH": str(tmp_path / "none")})
    server.stop()
    hints = [line for line in server.log().splitlines() if "to serve the bundled example:" in line]
    assert len(hints) == 1, server.log()
    assert f"--model_base_path={HALF_PLUS_TWO}" in hints[0]
