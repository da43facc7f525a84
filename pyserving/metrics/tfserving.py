"""TF Serving's own metric names (``:tensorflow:serving:request_count`` ...), written as TF Serving writes them.

Why a custom store and text writer instead of prometheus-client types: TF
Serving's names start with ``:`` and its counters have no ``_total`` suffix
(``:tensorflow:serving:request_count``). prometheus-client accepts the colon
but renames every counter family to ``<name>_total`` in its ``# TYPE`` line,
which would no longer match the samples. So these metrics live in thread-safe
tables (``metrics/tables.py``, the store of every metric) and are appended, in
TF Serving's exposition layout (``# TYPE`` lines, no ``# HELP``), after the prometheus-client output of
pyserving's own snake_case metrics. Dashboards and alerts written for TF
Serving keep working unchanged.

Units follow TF Serving: latencies are microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyserving.metrics.tables import CounterTable, HistogramTable, Table


def exponential_buckets(scale: float, growth: float, count: int) -> tuple[float, ...]:
    """``monitoring::Buckets::Exponential``: scale * growth**i for i in [0, count)."""
    return tuple(scale * growth**i for i in range(count))


LATENCY_BUCKETS_US = exponential_buckets(10, 1.8, 33)  # ~20 minutes
QUEUING_BUCKETS_US = exponential_buckets(100, 1.2, 52)  # ~1 second
EXAMPLE_COUNT_BUCKETS = exponential_buckets(1, 2, 15)
BATCH_SIZE_BUCKETS = exponential_buckets(1, 2, 15)


def _counter(name: str, labels: Sequence[str] = ()) -> CounterTable:
    return CounterTable(name, labels=labels, thread_safe=True)


def _histogram(name: str, labels: Sequence[str], buckets: Sequence[float]) -> HistogramTable:
    return HistogramTable(name, "", labels, buckets, thread_safe=True)


class TfServingMetrics:
    """The TF Serving metrics pyserving can report truthfully. Safe to call from any thread."""

    def __init__(self) -> None:
        p = ":tensorflow:serving:"
        self.request_count = _counter(p + "request_count", ("model_name", "status"))
        self.request_latency = _histogram(
            p + "request_latency", ("model_name", "API", "entrypoint"), LATENCY_BUCKETS_US
        )
        self.runtime_latency = _histogram(p + "runtime_latency", ("model_name", "API", "runtime"), LATENCY_BUCKETS_US)
        self.request_example_counts = _histogram(p + "request_example_counts", ("model",), EXAMPLE_COUNT_BUCKETS)
        self.request_example_count_total = _counter(p + "request_example_count_total", ("model",))
        self.model_warmup_latency = _histogram(p + "model_warmup_latency", ("model_path", "status"), LATENCY_BUCKETS_US)
        b = p + "batching_session:"
        self.queuing_latency = _histogram(b + "queuing_latency", ("thread_pool_name",), QUEUING_BUCKETS_US)
        self.wrapped_run_count = _counter(b + "wrapped_run_count")
        self.input_batch_size = _histogram(b + "input_batch_size", (), BATCH_SIZE_BUCKETS)
        self.processed_batch_size = _histogram(b + "processed_batch_size", (), BATCH_SIZE_BUCKETS)
        self.padding_size = _histogram(b + "padding_size", ("execution_batch_size",), BATCH_SIZE_BUCKETS)
        s = ":tensorflow:cc:saved_model:"
        self.load_attempt_count = _counter(s + "load_attempt_count", ("model_path", "status"))
        self.load_latency = _counter(s + "load_latency", ("model_path",))
        self.families: list[Table] = [
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
            lines.extend(family.tf_lines())
        return "\n".join(lines) + "\n"
