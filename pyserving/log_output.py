"""The log output of every pyserving program: text or JSON lines on stderr (``--log_format``).

One setup for the model server (``cli/main.py``, with the worker index under ``--num_workers``)
and the gateway; it imports only the standard library and orjson, so the gateway may share it.
In JSON each line is one object with ``time``, ``level``, ``logger``, ``message`` and the fields
passed with ``extra=`` (the access and lifecycle logs' structured fields).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

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

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
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


def configure_logging(
    level: str = "INFO", log_format: str = "text", worker: int | None = None, keep_host_handlers: bool = False
) -> None:
    """Root handler on stderr in the chosen format (replaces earlier handlers); ``worker``: --num_workers.

    ``keep_host_handlers`` (the gateway under gunicorn, or a test): when the root logger has
    handlers already, only the ``pyserving`` loggers' level is set.
    """
    root = logging.getLogger()
    if keep_host_handlers and root.handlers:
        logging.getLogger("pyserving").setLevel(getattr(logging, level.upper(), logging.INFO))
        return
    # Neither format prints source locations, threads or processes: skip collecting them
    # (findCaller walks the stack on every record, a noticeable part of a request log line).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(worker) if log_format == "json" else TextFormatter(worker))
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
