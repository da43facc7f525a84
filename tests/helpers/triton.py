"""Starts NVIDIA Triton (``../shared/bench/triton/serve.sh``) as an OIP v2 peer on free ports.

Why here: the gateway's OIP tests and ``bench/`` both point an OIP client at a
real Triton as well as at pyserving. Triton runs from the virtualenv that
``serve.sh`` makes on its first run (~370 MB, a few minutes), so nothing here
creates it: :func:`unavailable` says why Triton cannot run, and callers skip.
It serves ``half_plus_two`` (a Python-backend model: ``x`` FP32 [-1, 1] -> ``y``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.helpers.server import free_port, poll_until
from tests.helpers.shared import SHARED

#: The folder with serve.sh and the model repository.
TRITON_DIR: Path = SHARED / "bench" / "triton"
MODEL = "half_plus_two"


def venv() -> Path:
    """Where serve.sh keeps its virtualenv (its own default)."""
    return Path(os.environ.get("TRITON_VENV") or Path(os.environ.get("TMPDIR") or "/tmp") / "pytriton-venv")


def unavailable() -> str | None:
    """Why Triton cannot be started here, or None."""
    if not (TRITON_DIR / "serve.sh").is_file():
        return f"{TRITON_DIR} is absent"
    if not (venv() / "bin" / "python").is_file():
        return f"Triton's virtualenv {venv()} is absent (run `bash {TRITON_DIR}/serve.sh` once to make it)"
    return None


def model_repository(dest: Path, batching: bool) -> Path:
    """A copy of the peer's model repository; ``batching`` turns Triton's dynamic batching on.

    The shared folder is read-only, so the batching variant is a copy with
    ``dynamic_batching { max_queue_delay_microseconds: 1000 }`` enabled.
    """
    repo = dest / ("triton-models-batching" if batching else "triton-models")
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(TRITON_DIR / "models", repo)
    config = repo / MODEL / "config.pbtxt"
    text = config.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if "dynamic_batching" not in line]  # the commented hint too
    if batching:
        lines.append("dynamic_batching { max_queue_delay_microseconds: 1000 }")
    text = "\n".join(lines) + "\n"
    config.chmod(0o644)
    config.write_text(text, encoding="utf-8")
    return repo


@dataclass
class RunningTriton:
    process: subprocess.Popen[bytes]
    rest_port: int
    grpc_port: int
    log_path: Path
    batching: bool

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM to Triton's process group (it and its Python-backend stubs), SIGKILL after 20 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        try:  # stubs that outlived their server
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.process.returncode


def start_triton(tmp_path: Path, batching: bool = False, timeout: float = 120.0) -> RunningTriton:
    """Runs Triton on free ports with a copy of the model repository; waits for /v2/health/ready."""
    reason = unavailable()
    if reason:
        raise RuntimeError(f"cannot start Triton: {reason}")
    repo = model_repository(tmp_path, batching)
    rest_port, grpc_port = free_port(), free_port()
    while grpc_port in (rest_port, rest_port + 2):  # metrics go on rest_port + 2
        grpc_port = free_port()
    log_path = tmp_path / f"triton-{rest_port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["bash", str(TRITON_DIR / "serve.sh"), str(rest_port), str(grpc_port), str(repo)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends the stubs too
        )
    triton = RunningTriton(process, rest_port, grpc_port, log_path, batching)

    def ready() -> bool:
        return requests.get(f"{triton.rest_url}/v2/health/ready", timeout=2).status_code == 200

    try:
        poll_until(process, triton.log, ready, timeout, "Triton /v2/health/ready", "triton", 0.1)
    except BaseException:
        triton.stop()
        raise
    return triton
