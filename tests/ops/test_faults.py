"""Faults under a real server: folders that turn unreadable, vanish or change while loading, a broken
config file while polling, a full disk under the log. Requests to the served version never fail.

Unreadable folders: the suite runs as root, which reads any file, so that server runs without
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (``setpriv``): root then obeys permission bits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import write_model_config
from tests.helpers import models
from tests.helpers.server import (
    REPO,
    SERVE,
    RunningServer,
    free_port,
    poll_until,
    serve_argv,
    start_server,
    stop_process,
)

NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-dac_override,-dac_read_search"]


class Traffic:
    """Predicts on its own thread until stopped (bounded by count and time); keeps every failure."""

    def __init__(self, url: str, expected: set[float], max_requests: int = 20_000, max_seconds: float = 120) -> None:
        self.url, self.expected = url, expected
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.count = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and self.count < self.max_requests and time.monotonic() < deadline:
            self.count += 1
            try:
                r = session.post(self.url, json={"instances": [[2.0]]}, timeout=30)
                value = r.json()["predictions"][0][0] if r.status_code == 200 else None
                if value not in self.expected:
                    self.failures.append(f"{r.status_code} {r.text[:200]}")
            except requests.RequestException as exc:
                self.failures.append(repr(exc))

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
        assert self.count > 0
        assert not self.failures, self.failures[:5]


@pytest.fixture()
def base(tmp_path: Path, model_root: Path) -> Path:
    base = tmp_path / "m"
    models.copy_version(model_root / "half_plus_two" / "1", base / "1")
    return base


def _serve(base: Path, tmp_path: Path, command: list[str] | None = None) -> RunningServer:
    return start_server(
        [
            "--model_name=m",
            f"--model_base_path={base}",
            "--max_num_load_retries=0",
            "--file_system_poll_wait_seconds=1",
            "--file_system_settle_seconds=1",
        ],
        tmp_path,
        wait_models=["m"],
        grpc=False,
        command=command,
    )


@pytest.fixture()
def server(base: Path, tmp_path: Path) -> Iterator[RunningServer]:
    running = _serve(base, tmp_path)
    yield running
    running.stop()


def _predict_url(server: RunningServer) -> str:
    return f"{server.rest_url}/v1/models/m:predict"


def _states(server: RunningServer) -> dict[str, dict]:
    return {v["version"]: v for v in server.status("m")["model_version_status"]}


def _can_drop_dac(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.write_text("x")
    probe.chmod(0)
    try:
        done = subprocess.run([*NO_DAC, "cat", str(probe)], capture_output=True, timeout=30)
    except FileNotFoundError:
        return False
    return done.returncode != 0


def test_a_version_folder_that_turns_unreadable(base: Path, tmp_path: Path, model_root: Path) -> None:
    if os.geteuid() != 0 and not _can_drop_dac(tmp_path):
        pytest.skip("needs root (to drop CAP_DAC_OVERRIDE with setpriv) or a user bound by permissions")
    if os.geteuid() == 0 and not _can_drop_dac(tmp_path):
        pytest.skip("setpriv cannot drop CAP_DAC_OVERRIDE here: root would read unreadable folders")
    command = [*NO_DAC, *SERVE] if os.geteuid() == 0 else None
    server = _serve(base, tmp_path, command)
    try:
        with Traffic(_predict_url(server), {3.0}) as traffic:
            # A new version whose variables cannot be read: its load fails, visibly; v1 keeps serving.
            models.copy_version(model_root / "half_plus_three" / "1", base / "2")
            (base / "2" / "variables").chmod(0)
            server.wait_for(lambda: _states(server).get("2", {}).get("state") == "END", 60, "v2 load failed")
            error = _states(server)["2"]["status"]
            assert error["error_code"] != "OK" and "variables is not readable" in error["error_message"], error
            # The served version's folder turns unreadable: what is loaded keeps serving.
            (base / "1").chmod(0)
            seen = traffic.count
            server.wait_for(lambda: traffic.count > seen + 100, 60, "100 predicts after the chmod")
            assert _states(server)["1"]["state"] == "AVAILABLE"
    finally:
        for path in (base / "1", base / "2" / "variables"):
            if path.exists():
                path.chmod(0o755)
        server.stop()
    assert "Traceback" not in server.log()


def _when_loading(server: RunningServer, version: int) -> None:
    server.wait_for(lambda: f"model m version {version}: LOADING" in server.log(), 60, f"v{version} LOADING")


def test_a_version_folder_deleted_while_loading(server: RunningServer, base: Path, model_root: Path) -> None:
    with Traffic(_predict_url(server), {3.0, 4.0}):
        models.copy_version(model_root / "half_plus_three" / "1", base / "2")
        _when_loading(server, 2)
        shutil.rmtree(base / "2")
        # Whatever the race gave (a failed load, or a load then an unload), v1 ends up served.
        server.wait_for(
            lambda: (
                _states(server).get("2", {}).get("state") == "END"
                and _states(server).get("1", {}).get("state") == "AVAILABLE"
            ),
            60,
            "v1 served, v2 gone",
        )
    r = requests.post(_predict_url(server), json={"instances": [[2.0]]}, timeout=30)
    assert r.json() == {"predictions": [[3.0]]}
    assert "Traceback" not in server.log()


def test_a_version_folder_replaced_while_loading(
    server: RunningServer, base: Path, model_root: Path, tmp_path: Path
) -> None:
    replacement = models.copy_version(model_root / "half_plus_two" / "1", tmp_path / "staging" / "2")
    with Traffic(_predict_url(server), {3.0, 4.0}):
        models.copy_version(model_root / "half_plus_three" / "1", base / "2")
        _when_loading(server, 2)
        old = base / "2.old"
        os.rename(base / "2", old)  # the swap a deploy script does: rename away, rename in
        os.rename(replacement, base / "2")
        shutil.rmtree(old)
        server.wait_for(lambda: _states(server).get("2", {}).get("state") in ("AVAILABLE", "END"), 60, "v2 settled")
    # v2 is whichever folder the load read (half_plus_three, or the replacement), or failed visibly.
    states = _states(server)
    if states["2"]["state"] == "AVAILABLE":
        value = requests.post(_predict_url(server), json={"instances": [[2.0]]}, timeout=30).json()
        assert value["predictions"][0][0] in (3.0, 4.0)
    else:
        assert states["2"]["status"]["error_message"]
        assert states["1"]["state"] == "AVAILABLE"
    assert "Traceback" not in server.log()


def test_a_config_file_replaced_by_a_broken_one_while_polling(tmp_path: Path, model_root: Path) -> None:
    config = write_model_config(tmp_path / "models.config", [{"name": "m", "base_path": model_root / "half_plus_two"}])
    server = start_server(
        [f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=1"],
        tmp_path,
        wait_models=["m"],
        grpc=False,
    )
    try:
        with Traffic(_predict_url(server), {3.0}):
            for broken in (
                "model_config_list { config { name: ",
                "\x00\xff\xfe",
                'model_config_list { config { name: "m" base_path: "relative" } }',
            ):
                before = server.log().count("ModelServerConfig") + server.log().count("absolute path")
                staged = tmp_path / "staged.config"
                staged.write_text(broken, errors="surrogateescape")
                os.replace(staged, config)  # replaced, as a config map update does
                server.wait_for(
                    lambda: server.log().count("ModelServerConfig") + server.log().count("absolute path") > before,
                    30,
                    "the error logged",
                )
        assert (
            requests.get(f"{server.rest_url}/v1/config", timeout=10).json()["model_config_list"]["config"][0]["name"]
            == "m"
        )  # the running config stays
        write_model_config(
            config,
            [
                {"name": "m", "base_path": model_root / "half_plus_two"},
                {"name": "n", "base_path": model_root / "half_plus_three"},
            ],
        )
        server.wait_available("n")  # and a good file is read again
    finally:
        server.stop()
    assert "Traceback" not in server.log()


def test_a_full_disk_under_the_log_does_not_stop_serving(tmp_path: Path, model_root: Path) -> None:
    """stdout and stderr (the server's only log) on /dev/full: every write fails with ENOSPC."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    port = free_port()
    argv = serve_argv(
        f"--model_base_path={model_root / 'half_plus_two'}",
        "--model_name=m",
        "--host=127.0.0.1",
        "--port=0",
        f"--rest_api_port={port}",
        "--log_requests",
    )
    with open("/dev/full", "wb") as full:
        process = subprocess.Popen(argv, stdout=full, stderr=full, cwd=REPO)
    try:
        url = f"http://127.0.0.1:{port}"
        poll_until(
            process,
            lambda: "(its log is /dev/full)",
            lambda: "AVAILABLE" in requests.get(f"{url}/v1/models/m", timeout=5).text,
            90,
            "m served",
            "server",
            0.1,
        )
        for i in range(20):
            r = requests.post(f"{url}/v1/models/m:predict", json={"instances": [[float(i)]]}, timeout=30)
            assert r.json() == {"predictions": [[i / 2 + 2]]}
            assert requests.get(f"{url}/v1/models/nope", timeout=30).status_code == 404  # an error logged
        assert process.poll() is None
    finally:
        assert stop_process(process, 30) == 0


def test_a_full_disk_under_warmup() -> None:
    pytest.skip(
        "warmup only reads (assets.extra/tf_serving_warmup_requests): there is nothing to write; "
        "an unreadable warmup file fails the load like any unreadable file (see above)"
    )
