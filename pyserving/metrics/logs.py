"""The per-request access log (the log output itself, text or JSON lines, is ``pyserving/log_output.py``).

Access lines go to the ``pyserving.access`` logger, one per model request
(``--log_requests``); lifecycle lines to ``pyserving.lifecycle``
(``metrics/state_subscriber.py``). In JSON each line is one object with
``time``, ``level``, ``logger``, ``message`` and the structured fields of the
event (``protocol``, ``api``, ``model``, ``version``, ``status``,
``http_status``, ``latency_ms`` for requests; ``model``, ``version``,
``state``, ``error`` for lifecycle events).
"""

from __future__ import annotations

import logging

from pyserving.metrics.instrumentation import RequestRecord


class AccessLogObserver:
    """One INFO line per model request on ``pyserving.access``. Event-loop only."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("pyserving.access")

    def started(self, record: RequestRecord) -> None:
        pass

    def finished(self, record: RequestRecord) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        latency_ms = round(record.seconds * 1000, 3)
        http = f" http_status={record.http_status}" if record.http_status else ""
        logger.info(
            "%s %s model=%s version=%s status=%s%s latency_ms=%.3f",
            record.protocol.upper(),
            record.api,
            record.model or "-",
            record.version or "-",
            record.code,
            http,
            latency_ms,
            extra={
                "protocol": record.protocol,
                "api": record.api,
                "model": record.model,
                "version": record.version,
                "status": record.code,
                "http_status": record.http_status or None,
                "latency_ms": latency_ms,
            },
        )
