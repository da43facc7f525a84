"""Log output: text or JSON lines (``--log_format``), and the per-request access log.

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
import sys
import time
from typing import Any

import orjson

from pyserving.metrics.instrumentation import RequestRecord

TEXT_FORMAT = "%(asctime)s.%(msecs)03d %(levelname).1s %(name)s] %(message)s"
TEXT_DATEFMT = "%Y-%m-%d %H:%M:%S"
# Attributes every LogRecord has; anything else was passed with ``extra=`` and goes into the JSON.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class TextFormatter(logging.Formatter):
    """The text layout, with the date part of the timestamp cached per second (cheaper per line)."""

    def __init__(self, worker: int | None = None) -> None:
        # --num_workers: "... pyserving w2] ..." says which worker process wrote the line
        fmt = TEXT_FORMAT if worker is None else TEXT_FORMAT.replace("%(name)s]", f"%(name)s w{worker}]")
        super().__init__(fmt, TEXT_DATEFMT)
        self._second = -1
        self._date = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:
            self._date = time.strftime(TEXT_DATEFMT, time.localtime(second))
            self._second = second
        return self._date


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra=`` fields become keys."""

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self._second = -1
        self._date = ""
        self._worker = worker

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._date = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        doc: dict[str, Any] = {
            "time": f"{self._date}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self._worker is not None:
            doc["worker"] = self._worker
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def configure_logging(level: str = "INFO", log_format: str = "text", worker: int | None = None) -> None:
    """Root handler on stderr in the chosen format (replaces earlier handlers); ``worker``: --num_workers."""
    # Neither format prints source locations, threads or processes: skip collecting them
    # (findCaller walks the stack on every record, a noticeable part of a request log line).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(worker) if log_format == "json" else TextFormatter(worker))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))


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
