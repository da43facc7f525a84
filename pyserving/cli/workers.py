"""``--num_workers N``: N whole servers on the same ports (SO_REUSEPORT) under one supervisor.

One pyserving process serves on one event loop, and on a small model that loop is the
bottleneck: tiny model, REST, 64 connections, 2 cores: one process holds one core at 100 %
(6,200 req/s) while the rest of the machine idles; two processes served 11,300-12,400 req/s.
The kernel spreads new connections over the workers' listening sockets. Each worker loads
every model, polls the model folders and the config file, batches and keeps metrics on its
own: what changes on disk reaches every worker, a ReloadConfig RPC would reach one (refused).

The supervisor imports no TensorFlow. It reserves the ports before starting any worker and
holds them until it exits (``protocols/sockets.reserve_port``): SO_REUSEPORT would otherwise
let a second server share them silently. It starts the workers in their own process
groups (a terminal's Ctrl-C reaches them once, through the supervisor), passes SIGTERM /
SIGINT / SIGHUP on, replaces a worker that a signal killed (a crash in a backend, the OOM
killer) while the others keep serving, and when one worker exits with a status of its own,
stops the others and exits with that status, so that the container or service manager
restarts the whole server.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from pyserving.config.settings import ServerSettings
from pyserving.core.errors import InvalidArgumentError
from pyserving.protocols.sockets import reserve_port

logger = logging.getLogger("pyserving")

WORKER_ENV = "PYSERVING_WORKER"
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1


def worker_index() -> int | None:
    """This process's worker number (1..N) under a supervisor, else None."""
    value = os.environ.get(WORKER_ENV)
    return int(value) if value else None


def reserve_ports(settings: ServerSettings) -> list[socket.socket]:
    """The ports the workers will share, held for the supervisor's life; InvalidArgumentError if taken.

    Only this supervisor's workers can then listen on them (see ``reserve_port``).
    """
    if settings.grpc_socket_path:
        raise InvalidArgumentError("--num_workers > 1 cannot share --grpc_socket_path (a UNIX socket has one listener)")
    held: list[socket.socket] = []
    try:
        for flag, port in (("--port", settings.port), ("--rest_api_port", settings.rest_api_port)):
            if port:
                held.append(reserve_port(settings.host, port, flag=flag))
    except InvalidArgumentError:
        for sock in held:
            sock.close()
        raise
    return held


# A worker that crashes is replaced; one that crashes again within this long of its start waits
# before its next start, doubling up to the cap, so a model that kills its worker on every
# load does not spin the machine.
QUICK_DEATH_SECONDS = 30.0
RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 30.0


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes]
    started: float
    quick_deaths: int = 0


def supervise(argv: list[str], docker: bool, workers: int) -> int:
    """Runs ``workers`` copies of this server; returns the exit status for the supervisor.

    A worker killed by a signal (SIGSEGV in a backend, SIGKILL from the OOM killer) is
    replaced while the others keep serving; a worker that exits with a status (a startup
    error, a clean stop) stops the whole server with that status.
    """
    mode = "serve" if docker else "tensorflow_model_server"
    children: dict[int, _Worker] = {}
    restarts: list[tuple[float, int, int]] = []  # (when, index, quick deaths so far)
    stopping = False

    def start(index: int, quick_deaths: int = 0) -> int:
        child = subprocess.Popen(
            [sys.executable, "-m", "pyserving.cli.workers", mode, *argv],
            env={**os.environ, WORKER_ENV: str(index)},
            process_group=0,
        )
        children[child.pid] = _Worker(index, child, time.monotonic(), quick_deaths)
        return child.pid

    def forward(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        restarts.clear()
        for worker in children.values():
            if worker.process.poll() is None:
                worker.process.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        for index in range(1, workers + 1):
            start(index)
        logger.info("Started %d worker processes (pids %s)", workers, ", ".join(map(str, children)))
        status = 0
        while children or restarts:
            if restarts and not stopping:
                restarts.sort()
                when, index, quick_deaths = restarts[0]
                if time.monotonic() >= when:
                    restarts.pop(0)
                    logger.info("Worker %d restarted (pid %d)", index, start(index, quick_deaths))
                    continue
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG if restarts else 0)
            except ChildProcessError:
                if not restarts:
                    break
                pid, wait_status = 0, 0
            if pid == 0:
                time.sleep(0.05)
                continue
            worker = children.pop(pid, None)
            if worker is None:
                continue
            code = os.waitstatus_to_exitcode(wait_status)
            if stopping:
                status = status or (128 - code if code < 0 else code)
                continue
            if code < 0:  # killed by a signal: replace it, the others keep serving
                quick = time.monotonic() - worker.started < QUICK_DEATH_SECONDS
                deaths = worker.quick_deaths + 1 if quick else 0
                delay = min(MAX_RESTART_DELAY_SECONDS, RESTART_DELAY_SECONDS * 2 ** (deaths - 1)) if deaths else 0.0
                logger.error(
                    "Worker %d (pid %d) was killed by signal %d; starting a new one in %.0f s",
                    worker.index,
                    pid,
                    -code,
                    delay,
                )
                restarts.append((time.monotonic() + delay, worker.index, deaths))
                continue
            logger.error(
                "Worker %d (pid %d) exited with status %d: stopping the other workers", worker.index, pid, code
            )
            stopping = True
            restarts.clear()
            for other in children.values():
                other.process.send_signal(signal.SIGTERM)
            status = status or code
        return status
    finally:
        for worker in children.values():  # only on an error of the supervisor itself
            worker.process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def die_with_parent() -> None:
    """The kernel sends this process SIGTERM when its parent dies, even by SIGKILL.

    Linux only (PR_SET_PDEATHSIG); elsewhere a best effort that does nothing.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (AttributeError, OSError):
        pass


def _worker_main(mode: str, argv: list[str]) -> None:
    die_with_parent()  # a worker outlives no supervisor
    if os.getppid() == 1:  # the supervisor was already gone
        sys.exit(1)
    from pyserving.cli.main import run_server
    from pyserving.config.settings import docker_defaults

    sys.exit(run_server(argv, docker_defaults() if mode == "serve" else None))


if __name__ == "__main__":
    _worker_main(sys.argv[1], sys.argv[2:])
