"""Runs the real gateway (``python -m pyserving.gateway``) on a free port and waits for it.

Also: API keys for test configs, and a TCP server that accepts and never
answers (a stalled upstream, for deadline tests).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from pyserving.cli.workers import die_with_parent
from pyserving.gateway.keys import entry_toml, generate_key, hash_key
from tests.helpers.server import REPO, free_port, poll_until, stop_process

GATEWAY_TESTS = Path(__file__).resolve().parent


@dataclass
class RunningGateway:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
        poll_until(self.process, self.log, predicate, timeout, what, "gateway", 0.02)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until /readyz says every upstream has a healthy replica."""
        self.wait_for(
            lambda: requests.get(f"{self.url}/readyz", timeout=2).status_code == 200, timeout, "gateway /readyz"
        )

    def stop(self) -> int:
        return stop_process(self.process, grace=20)


def start_gateway(
    config_text: str,
    tmp_path: Path,
    extra_args: Sequence[str] = (),
    command: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> RunningGateway:
    """Writes ``config_text`` to tmp_path and runs the gateway on it; waits for /healthz.

    ``command`` replaces ``python -m pyserving.gateway``; in it and in ``env``
    values, ``{config}`` and ``{port}`` are filled in.
    """
    port = free_port()
    config = tmp_path / f"gateway-{port}.toml"
    config.write_text(config_text, encoding="utf-8")
    log_path = tmp_path / f"gateway-{port}.log"
    fill = {"{config}": str(config), "{port}": str(port)}

    def filled(text: str) -> str:
        for placeholder, value in fill.items():
            text = text.replace(placeholder, value)
        return text

    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **{k: filled(v) for k, v in (env or {}).items()})
    argv = (
        list(command)
        if command
        else [sys.executable, "-m", "pyserving.gateway", "--config", str(config), "--port", str(port), *extra_args]
    )
    argv = [filled(a) for a in argv]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=REPO, preexec_fn=die_with_parent
        )  # no gateway outlives pytest
    gateway = RunningGateway(process, port, log_path)
    try:
        gateway.wait_for(
            lambda: requests.get(f"{gateway.url}/healthz", timeout=2).status_code == 200, timeout, "gateway /healthz"
        )
    except BaseException:
        gateway.stop()
        raise
    return gateway


def make_key(
    key_id: str,
    routes: Sequence[str],
    rate_per_s: float | None = None,
    burst: float | None = None,
    scheme: str = "sha256",
) -> tuple[str, str]:
    """A fresh key and its keys-file entry (TOML)."""
    key = generate_key(key_id)
    return key, entry_toml(key_id, hash_key(key, scheme), routes, rate_per_s, burst)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class StalledServer:
    """Accepts TCP connections and never answers: an upstream that hangs.

    Thread-safe enough for tests: one accept thread, sockets closed on stop().
    """

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self._conns.append(conn)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._conns:
            conn.close()
        self._sock.close()


def closed_port() -> int:
    """A port nothing listens on (connection refused)."""
    return free_port()


def run_cli(*args: str, stdin: str = "", cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyserving.gateway", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )
