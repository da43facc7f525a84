"""TF Serving's own metric names (``:tensorflow:serving:request_count`` ...), written as TF Serving writes them.

Why a custom store and text writer instead of prometheus-client types: TF
Serving's names start with ``:`` and its counters have no ``_total`` suffix
(``:tensorflow:serving:request_count``). prometheus-client accepts the colon
but renames every counter family to ``<name>_total`` in its ``# TYPE`` line,
which would no longer match the samples. So these metrics live in small
thread-safe tables here and are appended, in TF Serving's exposition layout
(``# TYPE`` lines, no ``# HELP``), after the prometheus-client output of
pyserving's own snake_case metrics. Dashboards and alerts written for TF
Serving keep working unchanged.

Units follow TF Serving: latencies are microseconds.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Sequence


def exponential_buckets(scale: float, growth: float, count: int) -> tuple[float, ...]:
    """``monitoring::Buckets::Exponential``: scale * growth**i for i in [0, count)."""
    return tuple(scale * growth**i for i in range(count))


LATENCY_BUCKETS_US = exponential_buckets(10, 1.8, 33)  # ~20 minutes
QUEUING_BUCKETS_US = exponential_buckets(100, 1.2, 52)  # ~1 second
EXAMPLE_COUNT_BUCKETS = exponential_buckets(1, 2, 15)
BATCH_SIZE_BUCKETS = exponential_buckets(1, 2, 15)


class _Family:
    kind = "untyped"

    def __init__(self, name: str, labels: Sequence[str]) -> None:
        self.name = name
        self.labels = tuple(labels)
        self._lock = threading.Lock()

    def _label_text(self, values: tuple[str, ...], extra: str = "") -> str:
        parts = [f'{k}="{_escape(v)}"' for k, v in zip(self.labels, values, strict=True)]
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}" if parts else ""

    def lines(self) -> list[str]:
        raise NotImplementedError


class TfCounter(_Family):
    kind = "counter"

    def __init__(self, name: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, labels)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, labels: tuple[str, ...] = (), amount: float = 1) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0) + amount

    def value(self, labels: tuple[str, ...] = ()) -> float:
        return self._values.get(labels, 0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{self._label_text(k)} {_number(v)}" for k, v in items]


class _Cell:
    __slots__ = ("counts", "total", "count")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * (buckets + 1)  # +Inf last
        self.total = 0.0
        self.count = 0


class TfHistogram(_Family):
    kind = "histogram"

    def __init__(self, name: str, labels: Sequence[str], buckets: Sequence[float]) -> None:
        super().__init__(name, labels)
        self.buckets = tuple(buckets)
        self._cells: dict[tuple[str, ...], _Cell] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        index = bisect_left(self.buckets, value)
        with self._lock:
            cell = self._cells.get(labels)
            if cell is None:
                cell = self._cells[labels] = _Cell(len(self.buckets))
            cell.counts[index] += 1
            cell.total += value
            cell.count += 1

    def count(self, labels: tuple[str, ...]) -> int:
        cell = self._cells.get(labels)
        return 0 if cell is None else cell.count

    def lines(self) -> list[str]:
        with self._lock:
            cells = sorted((k, list(c.counts), c.total, c.count) for k, c in self._cells.items())
        out = []
        for labels, counts, total, count in cells:
            running = 0
            for bound, n in zip((*self.buckets, None), counts, strict=True):
                running += n
                le = 'le="' + ("+Inf" if bound is None else _number(bound)) + '"'
                out.append(f"{self.name}_bucket{self._label_text(labels, le)} {running}")
            out.append(f"{self.name}_sum{self._label_text(labels)} {_number(total)}")
            out.append(f"{self.name}_count{self._label_text(labels)} {count}")
        return out


class TfServingMetrics:
    """The TF Serving metrics pyserving can report truthfully. Safe to call from any thread."""

    def __init__(self) -> None:
        p = ":tensorflow:serving:"
        self.request_count = TfCounter(p + "request_count", ("model_name", "status"))
        self.request_latency = TfHistogram(
            p + "request_latency", ("model_name", "API", "entrypoint"), LATENCY_BUCKETS_US
        )
        self.runtime_latency = TfHistogram(p + "runtime_latency", ("model_name", "API", "runtime"), LATENCY_BUCKETS_US)
        self.request_example_counts = TfHistogram(p + "request_example_counts", ("model",), EXAMPLE_COUNT_BUCKETS)
        self.request_example_count_total = TfCounter(p + "request_example_count_total", ("model",))
        self.model_warmup_latency = TfHistogram(
            p + "model_warmup_latency", ("model_path", "status"), LATENCY_BUCKETS_US
        )
        b = p + "batching_session:"
        self.queuing_latency = TfHistogram(b + "queuing_latency", ("thread_pool_name",), QUEUING_BUCKETS_US)
        self.wrapped_run_count = TfCounter(b + "wrapped_run_count")
        self.input_batch_size = TfHistogram(b + "input_batch_size", (), BATCH_SIZE_BUCKETS)
        self.processed_batch_size = TfHistogram(b + "processed_batch_size", (), BATCH_SIZE_BUCKETS)
        self.padding_size = TfHistogram(b + "padding_size", ("execution_batch_size",), BATCH_SIZE_BUCKETS)
        s = ":tensorflow:cc:saved_model:"
        self.load_attempt_count = TfCounter(s + "load_attempt_count", ("model_path", "status"))
        self.load_latency = TfCounter(s + "load_latency", ("model_path",))
        self.families: list[_Family] = [
            self.request_count,
            self.request_latency,
            self.runtime_latency,
            self.request_example_counts,
            self.request_example_count_total,
            self.model_warmup_latency,
            self.queuing_latency,
            self.wrapped_run_count,
            self.input_batch_size,
            self.processed_batch_size,
            self.padding_size,
            self.load_attempt_count,
            self.load_latency,
        ]

    def exposition(self) -> str:
        """TF Serving's layout: ``# TYPE`` line per family (also when empty), samples, final newline."""
        lines: list[str] = []
        for family in sorted(self.families, key=lambda f: f.name):
            lines.append(f"# TYPE {family.name} {family.kind}")
            lines.extend(family.lines())
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
