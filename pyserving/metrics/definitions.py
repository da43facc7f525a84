"""Every metric pyserving exports, declared once against a registry the runner passes in.

Two families side by side on one endpoint:

* pyserving's own, snake_case with units and ``model``/``version`` labels, kept in
  ``metrics/tables.py``'s tables and rendered by prometheus-client from a
  per-server ``CollectorRegistry`` (never the global default, so many servers can
  live in one test process);
* TF Serving's, under its exact names (``:tensorflow:serving:request_count`` ...),
  from ``metrics/tfserving.py``.

Nothing here is called from handlers: the request middleware/interceptor, the
event-bus subscriber and the batch/run/warmup listeners feed these objects.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, ProcessCollector, disable_created_metrics, generate_latest

from pyserving.metrics.tables import CounterTable, GaugeTable, HistogramTable, TableCollector
from pyserving.metrics.tfserving import TfServingMetrics

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LOAD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
BATCH_ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
PADDING_BUCKETS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """pyserving's metrics plus TF Serving's; ``exposition()`` renders both.

    The per-request tables (``requests``, ``request_duration``, ``requests_in_flight``,
    ``run_duration``) are event-loop only (no lock on the hot path); the others and
    ``TfServingMetrics`` are safe from any thread (warmup metrics arrive on load threads).
    """

    def __init__(self, registry: CollectorRegistry | None = None, process_metrics: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        # No *_created series: they double the exposition and TF Serving has none.
        # (A process-wide prometheus-client switch; pyserving owns its process.)
        disable_created_metrics()
        r = self.registry
        if process_metrics:
            ProcessCollector(registry=r)
        self.requests = CounterTable(
            "pyserving_requests",
            "Model requests by model, version served, API, protocol and status code "
            "(canonical code name, e.g. OK, NOT_FOUND, RESOURCE_EXHAUSTED).",
            ("model", "version", "api", "protocol", "code"),
        )
        self.request_duration = HistogramTable(
            "pyserving_request_duration_seconds",
            "End-to-end latency of successful model requests, from "
            "the request reaching the protocol layer to the response leaving it.",
            ("model", "version", "api", "protocol"),
            REQUEST_BUCKETS,
        )
        self.requests_in_flight = GaugeTable(
            "pyserving_requests_in_flight",
            "Model requests being served now (no version label: the "
            "version is known only once the request resolves it).",
            ("model", "protocol"),
        )
        self.run_duration = HistogramTable(
            "pyserving_model_run_duration_seconds",
            "Time spent running the model for successful runs "
            "(session run, including the batching queue when batching is on).",
            ("model", "version", "api"),
            REQUEST_BUCKETS,
        )
        self.batch_size = HistogramTable(
            "pyserving_batch_size",
            "Rows in each batch the batching scheduler ran, before padding.",
            ("model", "version"),
            BATCH_ROWS_BUCKETS,
            thread_safe=True,
        )
        self.batch_padding = HistogramTable(
            "pyserving_batch_padding_rows",
            "Padding rows added to each batch to reach an allowed batch size.",
            ("model", "version"),
            PADDING_BUCKETS,
            thread_safe=True,
        )
        self.batch_queue_duration = HistogramTable(
            "pyserving_batch_queue_duration_seconds",
            "Time each request waited in the batching queue.",
            ("model", "version"),
            REQUEST_BUCKETS,
            thread_safe=True,
        )
        self.load_duration = HistogramTable(
            "pyserving_model_load_duration_seconds",
            "Time from LOADING to AVAILABLE (restore and warmup, retries included).",
            ("model", "version"),
            LOAD_BUCKETS,
            thread_safe=True,
        )
        self.unload_duration = HistogramTable(
            "pyserving_model_unload_duration_seconds",
            "Time from UNLOADING to END (waiting for in-flight requests included).",
            ("model", "version"),
            LOAD_BUCKETS,
            thread_safe=True,
        )
        self.load_attempts = CounterTable(
            "pyserving_model_load_attempts",
            "Load attempts by outcome (success or failure; each retry counts).",
            ("model", "version", "outcome"),
            thread_safe=True,
        )
        self.warmup_duration = HistogramTable(
            "pyserving_model_warmup_duration_seconds",
            "Time spent replaying assets.extra warmup requests.",
            ("model", "version", "outcome"),
            LOAD_BUCKETS,
            thread_safe=True,
        )
        self.warmup_records = CounterTable(
            "pyserving_model_warmup_records",
            "Warmup records replayed (each record counted once, whatever --num_request_iterations_for_warmup says).",
            ("model", "version"),
            thread_safe=True,
        )
        self.model_versions = GaugeTable(
            "pyserving_model_versions",
            "Versions of each model per lifecycle state (START, LOADING, "
            "AVAILABLE, UNLOADING); ended versions are not counted.",
            ("model", "state"),
            thread_safe=True,
        )
        r.register(
            TableCollector(
                [
                    self.requests,
                    self.request_duration,
                    self.requests_in_flight,
                    self.run_duration,
                    self.batch_size,
                    self.batch_padding,
                    self.batch_queue_duration,
                    self.load_duration,
                    self.unload_duration,
                    self.load_attempts,
                    self.warmup_duration,
                    self.warmup_records,
                    self.model_versions,
                ]
            )
        )
        self.tf = TfServingMetrics()

    def exposition(self) -> bytes:
        return generate_latest(self.registry) + self.tf.exposition().encode()
