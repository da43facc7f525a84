"""Observability: Prometheus metrics (pyserving's and TF Serving's names), request and lifecycle logs.

Fed only by subscribers and edges (``ServerCore.bus``, ``batch_listeners``,
``run_listeners``, the REST middleware and the gRPC interceptor); the runner
wires them. See ``docs/operations.md`` for the metric list.
"""

from __future__ import annotations

from pyserving.metrics.definitions import CONTENT_TYPE, Metrics
from pyserving.metrics.instrumentation import (
    CURRENT_REQUEST,
    MetricsObserver,
    RequestRecord,
    RestInstrumentation,
    RunMetrics,
    grpc_interceptor,
    on_run,
)
from pyserving.metrics.logs import AccessLogObserver
from pyserving.metrics.state_subscriber import BatchMetrics, LifecycleLog, StateMetrics, WarmupMetrics

__all__ = [
    "CONTENT_TYPE",
    "CURRENT_REQUEST",
    "AccessLogObserver",
    "BatchMetrics",
    "LifecycleLog",
    "Metrics",
    "MetricsObserver",
    "RequestRecord",
    "RestInstrumentation",
    "RunMetrics",
    "StateMetrics",
    "WarmupMetrics",
    "grpc_interceptor",
    "on_run",
]
