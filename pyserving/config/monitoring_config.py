"""``--monitoring_config_file``: TF Serving's text ``MonitoringConfig`` proto.

The message is TF Serving's own (``pyserving.protos``, generated from
``tensorflow_serving/config/monitoring_config.proto``), so a text file written
for TF Serving parses unchanged with ``text_format``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyserving.core.errors import InvalidArgumentError

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"  # PrometheusExporter::kPrometheusPath


@dataclass(frozen=True)
class MonitoringConfig:
    """Prometheus exposition on the REST port at ``prometheus_path`` when enabled."""

    prometheus_enabled: bool = False
    prometheus_path: str = DEFAULT_PROMETHEUS_PATH


def monitoring_config_class() -> Any:
    """The ``tensorflow.serving.MonitoringConfig`` message class."""
    from pyserving.protos.tensorflow_serving.config import monitoring_config_pb2

    return monitoring_config_pb2.MonitoringConfig


def parse_monitoring_config(text: str, source: str = "<text>") -> MonitoringConfig:
    from pyserving.config._proto import parse_text

    message = parse_text(monitoring_config_class()(), text, source)
    prometheus = message.prometheus_config
    path = prometheus.path or DEFAULT_PROMETHEUS_PATH
    if not path.startswith("/"):
        raise InvalidArgumentError(f"Prometheus path must start with '/': {path!r}")
    return MonitoringConfig(prometheus_enabled=prometheus.enable, prometheus_path=path)


def read_monitoring_config_file(path: str) -> MonitoringConfig:
    from pyserving.config._proto import read_text

    text = read_text(path, "monitoring_config_file")
    return parse_monitoring_config(text, path)
