"""Helpers for the operations tests: metric scraping and warmup files."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import requests

METRICS_PATH = "/monitoring/prometheus/metrics"
_SAMPLE = re.compile(r"^([^\s{]+)(?:\{(.*)\})?\s+(\S+)$")
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


def write_prediction_logs(path: Path, logs: Iterable[object]) -> Path:
    """TFRecord of serialized PredictionLog protos (or raw bytes)."""
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in logs:
            writer.write(log if isinstance(log, bytes) else log.SerializeToString())  # type: ignore[attr-defined]
    return path
