"""Every shell and Python block of the README and the docs runs as written, from a clone alone.

Why: the docs are the newcomer's first hour; a command that no longer works, or an answer
that no longer matches, is a bug. One server serves the two bundled example models on free
ports; each block runs against it with the documented ports (8501, 8500) pointed at them.

Rules:
* a block preceded by ``<!-- docs-test: skip REASON -->`` is not run (docker, the gateway
  walkthrough, paths outside the repository...); the reason is required;
* a ``pyserving serve`` / ``tensorflow_model_server`` line is checked, not run: its flags must
  parse and its model folder must exist (the test's server answers the lines after it);
* a ``# {...}`` / ``# [...]`` comment right under a command is its documented output and must
  match (JSON compared value by value, floats to 5 significant digits: float32 runs differ in
  the last digits across CPUs); other commands must
  exit 0 and answer no ``{"error": ...}``;
* ``python`` blocks run in this process and must not raise.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pyserving.config.flags import parse_flags
from pyserving.config.settings import docker_defaults
from tests.conftest import write_model_config
from tests.helpers.server import REPO, RunningServer, start_server

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "examples").rglob("README.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
MARK = re.compile(r"^<!--\s*docs-test:\s*skip\b\s*(.*?)\s*-->\s*$")
SERVER_START = re.compile(r"^((?:\w+=\S+\s+)*)(\S*/)?(pyserving serve|tensorflow_model_server)\b(.*)$")
BIN = Path(sys.executable).parent


@dataclass
class Block:
    path: Path
    line: int
    language: str
    text: str
    skip: str | None  # the reason, when marked

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


@dataclass
class Command:
    text: str
    expected: list[str] = field(default_factory=list)


def blocks() -> list[Block]:
    found = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            match = FENCE.match(lines[i])
            if not match:
                i += 1
                continue
            start, language = i, match.group(1)
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                i += 1
            previous = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
            mark = MARK.match(previous)
            if language in ("sh", "bash", "python"):
                found.append(
                    Block(path, start + 1, language, "\n".join(lines[start + 1 : i]), mark.group(1) if mark else None)
                )
            i += 1
    return found


ALL = blocks()
RUNNABLE = [b for b in ALL if b.skip is None]


def commands(text: str) -> list[Command]:
    """Shell commands (continuations joined), each with the output comment right under it."""
    result: list[Command] = []
    pending = ""
    open_output = False
    for line in text.splitlines():
        stripped = line.strip()
        if pending:
            pending += " " + stripped.rstrip("\\").strip()
            if not stripped.endswith("\\"):
                result.append(Command(pending))
                pending = ""
                open_output = True
            continue
        if not stripped:
            open_output = False
        elif stripped.startswith("#"):
            body = stripped[1:].strip()
            if open_output and result and (result[-1].expected or body[:1] in "{["):
                result[-1].expected.append(body)
            else:
                open_output = False
        elif stripped.endswith("\\"):
            pending = stripped[:-1].strip()
        else:
            result.append(Command(stripped))
            open_output = True
    return result


def for_server(text: str, server: RunningServer) -> str:
    """The documented ports and the README's ``.venv/bin/`` pointed at the test's server and venv."""
    text = re.sub(r"(localhost|127\.0\.0\.1):8501\b", f"127.0.0.1:{server.rest_port}", text)
    text = re.sub(r"(localhost|127\.0\.0\.1):8500\b", f"127.0.0.1:{server.grpc_port}", text)
    return text.replace(".venv/bin/", f"{BIN}/")


def same(expected: Any, got: Any) -> bool:
    if isinstance(expected, float) or isinstance(got, float):
        return isinstance(got, (int, float)) and math.isclose(expected, got, rel_tol=1e-5, abs_tol=1e-7)
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and expected.keys() == got.keys()
            and all(same(v, got[k]) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(got, list)
            and len(expected) == len(got)
            and all(same(a, b) for a, b in zip(expected, got, strict=False))
        )
    return bool(expected == got)


def check_server_start(command: str) -> None:
    match = SERVER_START.match(command)
    assert match is not None
    env = dict(os.environ)
    for assignment in shlex.split(match.group(1)):
        key, _, value = assignment.partition("=")
        env[key] = value
    argv = shlex.split(match.group(4).replace("$PWD", str(REPO)))
    serve = match.group(3) == "pyserving serve"
    settings, _ = parse_flags(argv, docker_defaults(env) if serve else None)
    if not settings.model_config_file:
        assert Path(settings.model_base_path).is_dir(), f"{command}: no model folder {settings.model_base_path}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("docs")
    models = REPO / "examples" / "models"
    config = write_model_config(
        tmp / "models.config",
        [
            {"name": "half_plus_two", "base_path": models / "half_plus_two"},
            {"name": "lstm", "base_path": models / "lstm"},
            {"name": "iris", "base_path": REPO / "examples" / "sklearn_iris" / "models" / "iris", "platform": "python"},
        ],
    )
    running = start_server(
        [f"--model_config_file={config}", f"--monitoring_config_file={REPO / 'examples' / 'monitoring.txt'}"],
        tmp,
        wait_models=("half_plus_two", "lstm", "iris"),
    )
    yield running
    running.stop()


def test_every_skipped_block_says_why() -> None:
    assert RUNNABLE, "no runnable blocks found"
    for block in ALL:
        assert block.skip is None or block.skip, f"{block.id}: docs-test skip without a reason"


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_block_runs_as_documented(block: Block, server: RunningServer) -> None:
    if block.language == "python":
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            exec(compile(for_server(block.text, server), block.id, "exec"), {"__name__": "__docs__"})
        return
    for command in commands(block.text):
        if SERVER_START.match(command.text):
            check_server_start(command.text)
            continue
        result = subprocess.run(
            ["bash", "-c", for_server(command.text, server)], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        where = f"{block.id}: {command.text}"
        assert result.returncode == 0, f"{where}\n{result.stderr}"
        if command.expected:
            expected = json.loads(" ".join(command.expected))
            assert same(expected, json.loads(result.stdout)), f"{where}\ndocs: {expected}\ngot:  {result.stdout}"
        elif result.stdout.startswith("{"):
            assert "error" not in json.loads(result.stdout), f"{where}\n{result.stdout}"
