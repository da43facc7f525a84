"""``--monitoring_config_file``: TF Serving's text ``MonitoringConfig`` proto.

tensorflow-serving-api does not ship ``monitoring_config_pb2``, so the two
messages of ``tensorflow_serving/config/monitoring_config.proto`` are built here
from a descriptor with the same package, names and field numbers. A text file
written for TF Serving parses unchanged with ``text_format``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyserving.core.errors import InvalidArgumentError

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"  # PrometheusExporter::kPrometheusPath

_FILE = "tensorflow_serving/config/monitoring_config.proto"
_MESSAGES = {
    "PrometheusConfig": [("enable", 1, "bool"), ("path", 2, "string")],
    "MonitoringConfig": [("prometheus_config", 1, ".tensorflow.serving.PrometheusConfig")],
}


@dataclass(frozen=True)
class MonitoringConfig:
    """Prometheus exposition on the REST port at ``prometheus_path`` when enabled."""

    prometheus_enabled: bool = False
    prometheus_path: str = DEFAULT_PROMETHEUS_PATH


def monitoring_config_class() -> Any:
    """The ``tensorflow.serving.MonitoringConfig`` message class."""
    from pyserving.config._proto import message_class

    return message_class(_FILE, _MESSAGES, "MonitoringConfig")


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
