"""uvicorn's httptools protocol with the REST port's connection limits and JSON errors.

Why: uvicorn answers what its parser refuses with ``400 text/plain "Invalid HTTP request
received."``, has no limit on URL or header sizes (httptools' ``parse_url`` fails past 64 KiB
with the same 400), no limit on the time a client may take to send its headers (a client that
dribbles a byte a second holds a connection forever) and answers its connection limit with a
text/plain 503. Every answer of the REST port is a JSON object with an ``error`` key, so these
are answered here, naming the flag of the limit that was hit:

- ``--rest_api_max_url_bytes``: request line's URL (path and query) → 414;
- ``--rest_api_max_header_bytes``: all header names and values together → 431;
- ``--rest_api_header_timeout_seconds``: from a connection's first byte (or its accept) to the
  end of the request's headers → 408, and the connection closes;
- ``--rest_api_body_timeout_seconds``: from the end of the headers to the end of the body → 408,
  and the connection closes (a body shorter than its Content-Length would wait forever);
- ``--rest_api_max_connections``: open connections; one more is answered 503 and closed;
- ``--rest_api_keep_alive_timeout_seconds``: an idle keep-alive connection closes (uvicorn's).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pyserving.apis.json_format import error_body

logger = logging.getLogger("pyserving.rest")

_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


@dataclass(frozen=True)
class HttpLimits:
    max_url_bytes: int = 16 * 1024
    max_header_bytes: int = 64 * 1024
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 60.0
    max_connections: int = 0  # 0: no limit

    @classmethod
    def from_settings(cls, settings: Any) -> HttpLimits:
        return cls(
            settings.rest_api_max_url_bytes,
            settings.rest_api_max_header_bytes,
            settings.rest_api_header_timeout_seconds,
            settings.rest_api_body_timeout_seconds,
            settings.rest_api_max_connections,
        )


class _Refused(Exception):
    """Raised inside a parser callback: the parser stops, ``data_received`` answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def http_protocol(limits: HttpLimits) -> type[asyncio.Protocol]:
    """The protocol class to hand uvicorn.Config(http=...), bound to ``limits``."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """One REST connection. Event-loop only."""

    limits = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._url_bytes = 0
        self._header_bytes = 0
        self._refused: _Refused | None = None
        self._header_timer: asyncio.TimerHandle | None = None

    # -- connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        limit = self.limits.max_connections
        over = limit and len(self.connections) >= limit
        super().connection_made(transport)
        if over:
            self._answer(503, f"Too many open connections: the limit is {limit} (--rest_api_max_connections)")
            return
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._start_header_timer()  # the first bytes of a keep-alive connection's next request
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No WebSocket or h2c here: answer the request as plain HTTP/1.1 (as TF Serving does)
            # with the body received so far, then close (the parser stops at an upgrade).
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.keep_alive = False
                self.cycle.more_body = False
                self.cycle.message_event.set()
        except httptools.HttpParserError as exc:
            refused = self._refused or (exc.__cause__ if isinstance(exc.__cause__, _Refused) else None)
            if refused is not None:
                self._answer(refused.status, refused.message)
            else:
                self._answer(400, f"Invalid HTTP request: {exc}")

    # -- parser callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._url_bytes = 0
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_url_bytes:
            self._refuse(
                414, f"The request URL is longer than {self.limits.max_url_bytes} bytes (--rest_api_max_url_bytes)"
            )
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self.limits.max_header_bytes:
            self._refuse(
                431,
                f"The request headers are larger than {self.limits.max_header_bytes} bytes "
                "(--rest_api_max_header_bytes)",
            )
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()
        if self.limits.body_timeout_seconds > 0 and not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.limits.body_timeout_seconds, self._body_timeout)

    def on_message_complete(self) -> None:
        self._stop_header_timer()
        super().on_message_complete()

    # -- helpers ---------------------------------------------------------------------------

    def _refuse(self, status: int, message: str) -> None:
        self._refused = _Refused(status, message)
        raise self._refused

    def _start_header_timer(self) -> None:
        if self.limits.header_timeout_seconds > 0:
            self._header_timer = self.loop.call_later(self.limits.header_timeout_seconds, self._header_timeout)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is running: its own deadline applies
        if self._url_bytes == 0 and self._header_bytes == 0 and self.cycle is not None:
            self.transport.close()  # idle between requests: uvicorn's keep-alive timeout's job, no answer
            return
        self._answer(
            408,
            f"The request headers did not arrive within {self.limits.header_timeout_seconds:g} s "
            "(--rest_api_header_timeout_seconds)",
        )

    def _body_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.cycle is None:
            return
        if self.pipeline:  # a pipelined request waits (reading paused) behind a running one: not its fault
            self._header_timer = self.loop.call_later(self.limits.body_timeout_seconds, self._body_timeout)
            return
        if self.cycle.response_started:
            self.transport.close()  # answered before the body ended (413): only the close is left
            return
        self.cycle.disconnected = True  # the app's receive() ends, its answer is dropped
        self.cycle.message_event.set()
        self._answer(
            408,
            f"The request body did not arrive within {self.limits.body_timeout_seconds:g} s "
            "(--rest_api_body_timeout_seconds)",
        )

    def _answer(self, status: int, message: str) -> None:
        """A JSON error and the connection's end, outside any request (the parser refused it)."""
        self._stop_header_timer()
        body = error_body(message)
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Error"))]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        logger.info("REST connection from %s refused: %d %s", self.client, status, message)
        self.transport.write(b"".join(head) + body)
        self.transport.close()
