"""Per-request metrics as plain tables, exported through a prometheus-client collector.

Why not prometheus-client's Counter/Histogram on the request path: each of
their updates takes a lock and a per-bucket Python loop, and every request
updates several of them on the event loop, the REST bottleneck. These tables
are updated on the event loop only (no locks: one dict operation, one bisect),
and turned into ordinary metric families when the registry is scraped, which
also happens on the event loop. The exposition is the same as prometheus-client's.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily


class LoopCounter:
    """Event-loop only."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name, self.documentation, self.labels = name, documentation, tuple(labels)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        values = self.values
        values[key] = values.get(key, 0.0) + amount

    def family(self) -> Any:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, value in list(self.values.items()):
            family.add_metric(key, value)
        return family


class LoopGauge(LoopCounter):
    """Event-loop only."""

    def family(self) -> Any:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, value in list(self.values.items()):
            family.add_metric(key, value)
        return family


class LoopHistogram:
    """Event-loop only. Buckets as prometheus-client's: ``le`` upper bounds, ``+Inf`` added."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]) -> None:
        self.name, self.documentation, self.labels = name, documentation, tuple(labels)
        self.bounds = tuple(float(b) for b in buckets)
        # key -> [count per bucket (+Inf last)..., sum]
        self.cells: dict[tuple[str, ...], list[float]] = {}

    def observe(self, key: tuple[str, ...], value: float) -> None:
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0.0] * (len(self.bounds) + 2)
        cell[bisect_left(self.bounds, value)] += 1
        cell[-1] += value

    def family(self) -> Any:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        les = [_le(b) for b in self.bounds] + ["+Inf"]
        for key, cell in list(self.cells.items()):
            running, buckets = 0.0, []
            for le, count in zip(les, cell[:-1], strict=True):
                running += count
                buckets.append((le, running))
            family.add_metric(key, buckets, cell[-1])
        return family


class LoopCollector:
    """Registers tables with a ``CollectorRegistry`` (as any custom collector)."""

    def __init__(self, tables: Sequence[LoopCounter | LoopHistogram]) -> None:
        self.tables = tuple(tables)

    def collect(self) -> Iterator[Any]:
        for table in self.tables:
            yield table.family()


def _le(bound: float) -> str:
    return repr(bound) if not bound.is_integer() else f"{bound:.1f}"
