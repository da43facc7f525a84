"""Starts the real pyserving server on free 127.0.0.1 ports and waits for readiness."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll_until(
    process: subprocess.Popen[bytes],
    log: Callable[[], str],
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    who: str,
    interval: float,
) -> None:
    """Polls ``predicate()`` until true; fails with ``log()`` if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{who} exited with {process.returncode}:\n{log()}")
        try:
            if predicate():
                return
        except requests.RequestException:
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}:\n{log()[-4000:]}")


def stop_process(process: subprocess.Popen[bytes], grace: float) -> int:
    """SIGTERM, then SIGKILL after ``grace`` seconds; the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return process.returncode


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    rest_port: int
    grpc_port: int
    log_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def status(self, model: str) -> dict:
        return requests.get(f"{self.rest_url}/v1/models/{model}", timeout=10).json()

    def wait_for(self, predicate, timeout: float = 60.0, what: str = "condition") -> None:
        """Polls ``predicate()`` until true; fails with the server log on timeout."""
        poll_until(self.process, self.log, predicate, timeout, what, "server", 0.05)

    def version_states(self, model: str) -> dict[int, str]:
        body = self.status(model)
        return {int(v["version"]): v["state"] for v in body.get("model_version_status", [])}

    def wait_available(self, model: str, version: int | None = None, timeout: float = 60.0) -> None:
        def ready() -> bool:
            states = self.version_states(model)
            if version is None:
                return "AVAILABLE" in states.values()
            return states.get(version) == "AVAILABLE"

        self.wait_for(ready, timeout, f"{model} v{version} AVAILABLE")

    def stop(self) -> int:
        return stop_process(self.process, grace=30)


def write_model_config(path: Path, entries: list[dict[str, Any]]) -> Path:
    """Writes a TF Serving ModelServerConfig text file from simple dicts."""
    blocks = []
    for entry in entries:
        lines = [
            f'name: "{entry["name"]}"',
            f'base_path: "{entry["base_path"]}"',
            f'model_platform: "{entry.get("platform", "tensorflow")}"',
        ]
        if "policy" in entry:
            lines.append(f"model_version_policy {{ {entry['policy']} }}")
        for label, version in entry.get("labels", {}).items():
            lines.append(f'version_labels {{ key: "{label}" value: {version} }}')
        blocks.append("  config {\n    " + "\n    ".join(lines) + "\n  }")
    path.write_text("model_config_list {\n" + "\n".join(blocks) + "\n}\n")
    return path


def serve_models(entries: list[dict[str, Any]], tmp_path: Path, *flags: str, **options: Any) -> RunningServer:
    """``start_server`` on a model config file of ``entries`` (as ``write_model_config``), waiting for each model."""
    config = write_model_config(tmp_path / "models.config", entries)
    names = [entry["name"] for entry in entries]
    return start_server([f"--model_config_file={config}", *flags], tmp_path, wait_models=names, **options)


SERVE = (sys.executable, "-m", "pyserving", "serve")


def serve_argv(*flags: str) -> list[str]:
    """``python -m pyserving serve FLAGS``, for a test that runs the process itself."""
    return [*SERVE, *flags]


def run_serve(*flags: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Runs ``pyserving serve FLAGS`` to its end (a start that must fail), output captured as text."""
    return subprocess.run(serve_argv(*flags), capture_output=True, text=True, timeout=timeout, cwd=REPO)


def start_server(
    args: Sequence[str],
    tmp_path: Path,
    wait_models: Iterable[str] = (),
    env: dict[str, str] | None = None,
    command: Sequence[str] | None = None,
    timeout: float = 90.0,
    grpc: bool = True,
    ready: Callable[[RunningServer], bool] | None = None,
) -> RunningServer:
    """Runs ``pyserving serve`` with ``args`` plus free ports; waits for REST and ``wait_models``.

    ``ready`` replaces the plain-HTTP probe of the REST port (e.g. an HTTPS probe).
    """
    rest_port, grpc_port = free_port(), free_port()
    log_path = tmp_path / f"server-{rest_port}.log"
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    base = list(command) if command else list(SERVE)
    argv = base + [f"--rest_api_port={rest_port}", f"--port={grpc_port if grpc else 0}", "--host=127.0.0.1", *args]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=REPO)
    server = RunningServer(process, rest_port, grpc_port, log_path, argv)

    def rest_up() -> bool:
        if ready is not None:
            return ready(server)
        return requests.get(f"{server.rest_url}/v1/models/__probe__", timeout=2).status_code == 404

    try:
        server.wait_for(rest_up, timeout, "REST port")
        for model in wait_models:
            server.wait_available(model, timeout=timeout)
    except BaseException:
        server.stop()
        raise
    return server
