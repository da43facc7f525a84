"""Every metric pyserving exports, declared once against a registry the runner passes in.

Two families side by side on one endpoint:

* pyserving's own, snake_case with units and ``model``/``version`` labels, built
  with prometheus-client on a per-server ``CollectorRegistry`` (never the global
  default, so many servers can live in one test process);
* TF Serving's, under its exact names (``:tensorflow:serving:request_count`` ...),
  from ``metrics/tfserving.py``.

Nothing here is called from handlers: the request middleware/interceptor, the
event-bus subscriber and the batch/run/warmup listeners feed these objects.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from pyserving.metrics.loop_tables import LoopCollector, LoopCounter, LoopGauge, LoopHistogram
from pyserving.metrics.tfserving import TfServingMetrics

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LOAD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
BATCH_ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
PADDING_BUCKETS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """pyserving's metrics plus TF Serving's; ``exposition()`` renders both.

    The per-request tables (``requests``, ``request_duration``, ``requests_in_flight``,
    ``run_duration``) and the label-child cache are event-loop only; the
    prometheus-client objects and ``TfServingMetrics`` are safe from any thread
    (warmup metrics arrive on load threads).
    """

    def __init__(self, registry: CollectorRegistry | None = None, process_metrics: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        # No *_created series: they double the exposition and TF Serving has none.
        # (A process-wide prometheus-client switch; pyserving owns its process.)
        disable_created_metrics()
        r = self.registry
        if process_metrics:
            ProcessCollector(registry=r)
        # The per-request ones are event-loop tables (metrics/loop_tables.py): no locks on the hot path.
        self.requests = LoopCounter(
            "pyserving_requests",
            "Model requests by model, version served, API, protocol and status code "
            "(canonical code name, e.g. OK, NOT_FOUND, RESOURCE_EXHAUSTED).",
            ("model", "version", "api", "protocol", "code"),
        )
        self.request_duration = LoopHistogram(
            "pyserving_request_duration_seconds",
            "End-to-end latency of successful model requests, from "
            "the request reaching the protocol layer to the response leaving it.",
            ("model", "version", "api", "protocol"),
            REQUEST_BUCKETS,
        )
        self.requests_in_flight = LoopGauge(
            "pyserving_requests_in_flight",
            "Model requests being served now (no version label: the "
            "version is known only once the request resolves it).",
            ("model", "protocol"),
        )
        self.run_duration = LoopHistogram(
            "pyserving_model_run_duration_seconds",
            "Time spent running the model for successful runs "
            "(session run, including the batching queue when batching is on).",
            ("model", "version", "api"),
            REQUEST_BUCKETS,
        )
        r.register(LoopCollector([self.requests, self.request_duration, self.requests_in_flight, self.run_duration]))
        self.batch_size = Histogram(
            "pyserving_batch_size",
            "Rows in each batch the batching scheduler ran, before padding.",
            ("model", "version"),
            buckets=BATCH_ROWS_BUCKETS,
            registry=r,
        )
        self.batch_padding = Histogram(
            "pyserving_batch_padding_rows",
            "Padding rows added to each batch to reach an allowed batch size.",
            ("model", "version"),
            buckets=PADDING_BUCKETS,
            registry=r,
        )
        self.batch_queue_duration = Histogram(
            "pyserving_batch_queue_duration_seconds",
            "Time each request waited in the batching queue.",
            ("model", "version"),
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.load_duration = Histogram(
            "pyserving_model_load_duration_seconds",
            "Time from LOADING to AVAILABLE (restore and warmup, retries included).",
            ("model", "version"),
            buckets=LOAD_BUCKETS,
            registry=r,
        )
        self.unload_duration = Histogram(
            "pyserving_model_unload_duration_seconds",
            "Time from UNLOADING to END (waiting for in-flight requests included).",
            ("model", "version"),
            buckets=LOAD_BUCKETS,
            registry=r,
        )
        self.load_attempts = Counter(
            "pyserving_model_load_attempts",
            "Load attempts by outcome (success or failure; each retry counts).",
            ("model", "version", "outcome"),
            registry=r,
        )
        self.warmup_duration = Histogram(
            "pyserving_model_warmup_duration_seconds",
            "Time spent replaying assets.extra warmup requests.",
            ("model", "version", "outcome"),
            buckets=LOAD_BUCKETS,
            registry=r,
        )
        self.warmup_records = Counter(
            "pyserving_model_warmup_records",
            "Warmup records replayed (each record counted once, whatever --num_request_iterations_for_warmup says).",
            ("model", "version"),
            registry=r,
        )
        self.model_versions = Gauge(
            "pyserving_model_versions",
            "Versions of each model per lifecycle state (START, LOADING, "
            "AVAILABLE, UNLOADING); ended versions are not counted.",
            ("model", "state"),
            registry=r,
        )
        self.tf = TfServingMetrics()
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, cached: the per-request path pays one dict lookup."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def exposition(self) -> bytes:
        return generate_latest(self.registry) + self.tf.exposition().encode()
