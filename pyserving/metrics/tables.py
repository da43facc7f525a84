"""The one way metrics are stored: plain tables keyed by label values, rendered at scrape time.

Why not prometheus-client's Counter/Histogram: each of their updates takes a lock and a
per-bucket Python loop, and every request updates several metrics on the event loop, the
REST bottleneck. A table update is one dict operation (and one bisect for a histogram);
tables fed only on the event loop skip the lock (``thread_safe=False``), the others (load
threads report warmup) take one. At scrape time a table becomes either a prometheus-client
metric family (``family()``, pyserving's snake_case metrics: the exposition is the same as
prometheus-client's) or TF Serving's own sample lines (``tf_lines()``, for the
``:tensorflow:serving:...`` names prometheus-client cannot write: ``metrics/tfserving.py``).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

Key = tuple[str, ...]


class _Table:
    kind = "untyped"

    def __init__(self, name: str, documentation: str, labels: Sequence[str], thread_safe: bool) -> None:
        self.name, self.documentation, self.labels = name, documentation, tuple(labels)
        self._lock = threading.Lock() if thread_safe else None

    def _label_text(self, values: Key, extra: str = "") -> str:
        parts = [f'{k}="{_escape(v)}"' for k, v in zip(self.labels, values, strict=True)]
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}" if parts else ""


class CounterTable(_Table):
    kind = "counter"

    def __init__(
        self, name: str, documentation: str = "", labels: Sequence[str] = (), thread_safe: bool = False
    ) -> None:
        super().__init__(name, documentation, labels, thread_safe)
        self.values: dict[Key, float] = {}

    def inc(self, key: Key = (), amount: float = 1.0) -> None:
        values = self.values
        if self._lock is None:
            values[key] = values.get(key, 0.0) + amount
            return
        with self._lock:
            values[key] = values.get(key, 0.0) + amount

    def dec(self, key: Key = (), amount: float = 1.0) -> None:
        self.inc(key, -amount)

    def value(self, key: Key = ()) -> float:
        return self.values.get(key, 0.0)

    def family(self) -> Any:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, value in list(self.values.items()):
            family.add_metric(key, value)
        return family

    def tf_lines(self) -> list[str]:
        return [f"{self.name}{self._label_text(k)} {_number(v)}" for k, v in sorted(list(self.values.items()))]


class GaugeTable(CounterTable):
    kind = "gauge"

    def family(self) -> Any:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, value in list(self.values.items()):
            family.add_metric(key, value)
        return family


class HistogramTable(_Table):
    """Buckets as prometheus-client's: ``le`` upper bounds, ``+Inf`` added."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str],
        buckets: Sequence[float],
        thread_safe: bool = False,
    ) -> None:
        super().__init__(name, documentation, labels, thread_safe)
        self.bounds = tuple(float(b) for b in buckets)
        # key -> [count per bucket (+Inf last)..., sum]
        self.cells: dict[Key, list[float]] = {}

    def observe(self, key: Key, value: float) -> None:
        if self._lock is None:
            self._observe(key, value)
            return
        with self._lock:
            self._observe(key, value)

    def _observe(self, key: Key, value: float) -> None:
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0.0] * (len(self.bounds) + 2)
        cell[bisect_left(self.bounds, value)] += 1
        cell[-1] += value

    def count(self, key: Key) -> int:
        cell = self.cells.get(key)
        return 0 if cell is None else int(sum(cell[:-1]))

    def family(self) -> Any:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        les = [_le(b) for b in self.bounds] + ["+Inf"]
        for key, cell in list(self.cells.items()):
            family.add_metric(key, list(zip(les, _running(cell), strict=True)), cell[-1])
        return family

    def tf_lines(self) -> list[str]:
        out = []
        les = ['le="' + _number(b) + '"' for b in self.bounds] + ['le="+Inf"']
        for key, cell in sorted(list(self.cells.items())):
            running = _running(cell)
            for le, count in zip(les, running, strict=True):
                out.append(f"{self.name}_bucket{self._label_text(key, le)} {_number(count)}")
            out.append(f"{self.name}_sum{self._label_text(key)} {_number(cell[-1])}")
            out.append(f"{self.name}_count{self._label_text(key)} {_number(running[-1])}")
        return out


Table = CounterTable | HistogramTable


class TableCollector:
    """Registers tables with a ``CollectorRegistry`` (as any custom collector)."""

    def __init__(self, tables: Sequence[Table]) -> None:
        self.tables = tuple(tables)

    def collect(self) -> Iterator[Any]:
        for table in self.tables:
            yield table.family()


def _running(cell: list[float]) -> list[float]:
    """Cumulative bucket counts (the last is the total count)."""
    running, total = [], 0.0
    for count in cell[:-1]:
        total += count
        running.append(total)
    return running


def _le(bound: float) -> str:
    return repr(bound) if not bound.is_integer() else f"{bound:.1f}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
