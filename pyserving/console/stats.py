"""Live per-model stats for the console: one point a second, only while someone watches.

Built from the metric tables of ``pyserving/metrics`` rather than a second set
of counters. With Prometheus monitoring on, the server keeps them anyway
(request-level, REST and gRPC), and the console only reads them. With it off,
no metrics code runs per request, and it stays that way until a console polls:
then a private ``Metrics`` is fed from ``ServerCore.run_listeners`` and
``batch_listeners`` (model runs, so requests that fail before reaching a model,
like bad JSON, are not counted), and the listeners are removed again once no
console has polled for ``IDLE_SECONDS``. The sampler task lives exactly as long.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pyserving.core.errors import ServingError
from pyserving.core.ids import ServableId
from pyserving.metrics import BatchMetrics, Metrics
from pyserving.metrics.tables import HistogramTable
from pyserving.serving.server_core import ServerCore

INTERVAL_SECONDS = 1.0
IDLE_SECONDS = 10.0  # no poll for this long: sampler and listeners go away
MAX_POINTS = 300  # five minutes at one a second
INFERENCE_APIS = frozenset({"predict", "classify", "regress", "multi_inference"})
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class _Totals:
    """Cumulative counts of one model at one instant (differences make a point)."""

    __slots__ = ("requests", "errors", "latency", "batches", "batch_rows", "queued", "queue_seconds")

    def __init__(self, buckets: int) -> None:
        self.requests = 0.0
        self.errors = 0.0
        self.latency = [0.0] * buckets
        self.batches = 0.0
        self.batch_rows = 0.0
        self.queued = 0.0
        self.queue_seconds = 0.0


class LiveStats:
    """Event-loop only. ``in_flight`` counts REST requests when Prometheus is off (no gRPC count then)."""

    def __init__(self, core: ServerCore, metrics: Metrics | None, in_flight: Callable[[], int] | None = None) -> None:
        self.core = core
        self.shared = metrics is not None
        self.metrics = metrics if metrics is not None else Metrics(process_metrics=False)
        self.latency = self.metrics.request_duration if self.shared else self.metrics.run_duration
        self.in_flight = in_flight
        self.points: deque[dict[str, Any]] = deque(maxlen=MAX_POINTS)
        self.seq = 0
        self._last_poll = 0.0
        self._task: asyncio.Task[None] | None = None
        self._run_listeners: tuple[Any, ...] = () if self.shared else (self._on_run,)
        self._batch_listener = None if self.shared else BatchMetrics(self.metrics)

    @property
    def watching(self) -> bool:
        return self._task is not None

    @property
    def source(self) -> str:
        return "requests" if self.shared else "model runs"

    def touch(self) -> None:
        """A console polled: keep sampling (start if idle) for another ``IDLE_SECONDS``."""
        self._last_poll = time.monotonic()
        if self._task is None:
            self._attach()
            self.points.clear()
            self._task = asyncio.get_running_loop().create_task(self._sample_while_watched())

    def after(self, seq: int) -> list[dict[str, Any]]:
        if seq >= self.seq:
            return []
        return [p for p in self.points if p["seq"] > seq]

    # -- listeners (Prometheus off) ------------------------------------------------------

    def _attach(self) -> None:
        self.core.run_listeners.extend(self._run_listeners)
        if self._batch_listener is not None:
            self.core.batch_listeners.append(self._batch_listener)

    def _detach(self) -> None:
        for listener in self._run_listeners:
            self.core.run_listeners.remove(listener)
        if self._batch_listener is not None:
            self.core.batch_listeners.remove(self._batch_listener)

    def _on_run(
        self,
        servable_id: ServableId,
        signature_name: str,
        inputs: Mapping[str, Any],
        seconds: float,
        error: BaseException | None,
    ) -> None:
        """The two tables the charts read, keyed by model only: a watched request pays ~1 µs."""
        name = servable_id.name
        if error is None:
            self.metrics.requests.inc((name, "", "predict", "run", "OK"))
            self.metrics.run_duration.observe((name, "", "predict"), seconds)
        else:
            code = error.code.name if isinstance(error, ServingError) else "UNKNOWN"
            self.metrics.requests.inc((name, "", "predict", "run", code))

    # -- sampling ------------------------------------------------------------------------

    async def _sample_while_watched(self) -> None:
        try:
            previous = self._snapshot()
            while time.monotonic() - self._last_poll < IDLE_SECONDS:
                await asyncio.sleep(INTERVAL_SECONDS)
                current = self._snapshot()
                self._add_point(previous, current)
                previous = current
        finally:
            self._detach()
            self._task = None

    def _snapshot(self) -> dict[str, Any]:
        buckets = len(self.latency.bounds) + 1
        models: dict[str, _Totals] = {name: _Totals(buckets) for name in self.core.models}

        def totals(name: str) -> _Totals:
            found = models.get(name)
            if found is None:
                found = models[name] = _Totals(buckets)
            return found

        for key, value in list(self.metrics.requests.values.items()):
            if key[2] in INFERENCE_APIS:
                entry = totals(key[0])
                entry.requests += value
                if key[-1] != "OK":
                    entry.errors += value
        for key, cell in list(self.latency.cells.items()):
            entry = totals(key[0])
            for i in range(buckets):
                entry.latency[i] += cell[i]
        for model, count, total in _histogram_sums(self.metrics.batch_size):
            entry = totals(model)
            entry.batches += count
            entry.batch_rows += total
        for model, count, total in _histogram_sums(self.metrics.batch_queue_duration):
            entry = totals(model)
            entry.queued += count
            entry.queue_seconds += total
        times = os.times()
        return {"mono": time.monotonic(), "cpu": times.user + times.system, "models": models}

    def _add_point(self, previous: dict[str, Any], current: dict[str, Any]) -> None:
        dt = max(current["mono"] - previous["mono"], 1e-3)
        bounds = self.latency.bounds
        models: dict[str, dict[str, float | None]] = {}
        for name, now in current["models"].items():
            before = previous["models"].get(name) or _Totals(len(now.latency))
            window = [a - b for a, b in zip(now.latency, before.latency, strict=True)]
            batches = now.batches - before.batches
            queued = now.queued - before.queued
            models[name] = {
                "rps": _round((now.requests - before.requests) / dt),
                "eps": _round((now.errors - before.errors) / dt),
                "p50_ms": _ms(quantile(0.5, bounds, window)),
                "p99_ms": _ms(quantile(0.99, bounds, window)),
                "batch": _round((now.batch_rows - before.batch_rows) / batches) if batches else None,
                "queue_ms": _ms((now.queue_seconds - before.queue_seconds) / queued) if queued else None,
            }
        self.seq += 1
        self.points.append(
            {
                "seq": self.seq,
                "time": round(time.time(), 3),
                "models": models,
                "in_flight": self._in_flight(),
                "rss_bytes": rss_bytes(),
                "cpu_percent": _round((current["cpu"] - previous["cpu"]) / dt * 100),
            }
        )

    def _in_flight(self) -> int | None:
        if self.shared:
            return int(sum(self.metrics.requests_in_flight.values.values()))
        if self.in_flight is None:
            return None
        return max(0, self.in_flight() - 1)  # less the console's own poll


def quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    """Prometheus' ``histogram_quantile`` over one window: linear inside the bucket; None if empty."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    running = 0.0
    for i, count in enumerate(counts):
        if running + count >= rank and count > 0:
            if i >= len(bounds):  # the +Inf bucket: its lower bound is all we know
                return bounds[-1]
            lower = bounds[i - 1] if i > 0 else 0.0
            return lower + (bounds[i] - lower) * (rank - running) / count
        running += count
    return bounds[-1]


def rss_bytes() -> int:
    """Resident set size now (peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as stream:
            return int(stream.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _histogram_sums(table: HistogramTable) -> list[tuple[str, float, float]]:
    """(model, count, sum) per label set of a histogram table whose first label is ``model``."""
    return [(key[0], sum(cell[:-1]), cell[-1]) for key, cell in list(table.cells.items())]


def _round(value: float) -> float:
    return round(value, 2)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
