"""Helpers for the operations tests: metric scraping, a launcher for HTTPS servers, warmup files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import requests

from tests.helpers.server import REPO, RunningServer, free_port

METRICS_PATH = "/monitoring/prometheus/metrics"
_SAMPLE = re.compile(r'^([^\s{]+)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url: str, path: str = METRICS_PATH) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """name + labels -> value for every sample of the exposition."""
    response = requests.get(url + path, timeout=10)
    assert response.status_code == 200, response.text
    return parse_exposition(response.text)


def parse_exposition(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        found = _SAMPLE.match(line)
        assert found is not None, f"unparseable sample line: {line!r}"
        name, labels, value = found.groups()
        samples[(name, frozenset(_LABEL.findall(labels or "")))] = float(value)
    return samples


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum over samples of ``name`` whose labels include ``labels`` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def launch(
    args: Sequence[str],
    tmp_path: Path,
    ready: Callable[[RunningServer], bool],
    env: dict[str, str] | None = None,
    timeout: float = 90.0,
) -> RunningServer:
    """Like tests.helpers.server.start_server, but waits on ``ready`` (e.g. an HTTPS probe)."""
    rest_port, grpc_port = free_port(), free_port()
    log_path = tmp_path / f"server-{rest_port}.log"
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    argv = [sys.executable, "-m", "pyserving", "serve", f"--rest_api_port={rest_port}",
            f"--port={grpc_port}", "--host=127.0.0.1", *args]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=REPO)
    server = RunningServer(process, rest_port, grpc_port, log_path, argv)
    try:
        server.wait_for(lambda: ready(server), timeout, "server readiness")
    except BaseException:
        server.stop()
        raise
    return server


def write_prediction_logs(path: Path, logs: Iterable[object]) -> Path:
    """TFRecord of serialized PredictionLog protos (or raw bytes)."""
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in logs:
            writer.write(log if isinstance(log, bytes) else log.SerializeToString())  # type: ignore[attr-defined]
    return path

