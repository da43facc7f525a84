"""create_app(core, options): TF Serving's REST API as a plain ASGI callable.

A thin router instead of a framework: the routes are TF Serving's two regexes,
and every request on the hot path costs one regex match and one dict lookup.
"""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pyserving.apis.json_format import error_body
from pyserving.core.errors import InvalidArgumentError, ServingError, StatusCode
from pyserving.protocols.rest import handlers
from pyserving.protocols.rest.errors import http_status
from pyserving.protocols.rest.routes import match
from pyserving.serving.server_core import ServerCore

logger = logging.getLogger("pyserving.rest")

JSON_HEADERS = [(b"content-type", b"application/json")]
CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"POST, GET"),
    (b"access-control-allow-headers", b"Content-Type"),
]
MAX_GZIP_BYTES = 100 * 1024 * 1024

# An extra route: (method, body) -> (status, content type, body).
ExtraRoute = Callable[[str, bytes], Awaitable[tuple[int, bytes, bytes]]]


@dataclass(frozen=True)
class RestOptions:
    rest_api_timeout_in_ms: int = 30000
    rest_api_enable_cors_support: bool = False
    # Paths outside /v1 (metrics, health) and their handlers.
    extra_routes: dict[str, ExtraRoute] = field(default_factory=dict)


class RestApp:
    """ASGI app. Event-loop only."""

    def __init__(self, core: ServerCore, options: RestOptions) -> None:
        self.core = core
        self.options = options
        self._extra_headers = CORS_HEADERS if options.rest_api_enable_cors_support else []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        method: str = scope["method"]
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        body = await _read_body(receive)
        status, headers, payload = await self.dispatch(method, path, body, scope)
        length = [(b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status,
                    "headers": headers + length + self._extra_headers})
        await send({"type": "http.response.body", "body": payload})

    async def dispatch(
        self, method: str, path: str, body: bytes, scope: dict[str, Any]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        extra = self.options.extra_routes.get(path)
        if extra is not None:
            status, content_type, payload = await extra(method, body)
            return status, [(b"content-type", content_type)], payload
        if not path.lower().startswith("/v1/"):
            return 404, [(b"content-type", b"text/plain")], b"404 Not Found"
        if method == "OPTIONS":
            return _preflight(scope)
        try:
            body = _decompress(body, scope)
            route = match(method, path)
            timeout = self.options.rest_api_timeout_in_ms
            if route.action == "predict":
                payload = await handlers.predict(self.core, route, body, timeout)
            elif route.action in ("classify", "regress"):
                payload = await handlers.classify_or_regress(self.core, route, body, timeout)
            elif route.action == "metadata":
                payload = handlers.metadata(self.core, route)
            else:
                payload = handlers.status(self.core, route)
            return 200, JSON_HEADERS, payload
        except ServingError as exc:
            return http_status(exc.code), JSON_HEADERS, error_body(exc.message)
        except Exception as exc:  # noqa: BLE001 - never drop a connection on a bug
            logger.exception("Unhandled error for %s %s", method, path)
            message = f"{type(exc).__name__}: {exc}"
            return http_status(StatusCode.INTERNAL), JSON_HEADERS, error_body(message)


def create_app(core: ServerCore, options: RestOptions) -> RestApp:
    return RestApp(core, options)


async def _read_body(receive: Any) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    chunks = [body]
    while message.get("more_body"):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


def _decompress(body: bytes, scope: dict[str, Any]) -> bytes:
    for name, value in scope.get("headers", ()):
        if name == b"content-encoding" and value.strip().lower() == b"gzip":
            try:
                with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
                    data = stream.read(MAX_GZIP_BYTES + 1)
            except OSError as exc:
                raise InvalidArgumentError(f"Failed to decompress gzip request body: {exc}") from None
            if len(data) > MAX_GZIP_BYTES:
                raise InvalidArgumentError("Decompressed request body is too large")
            return data
    return body


def _preflight(scope: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    for name, value in scope.get("headers", ()):
        if name == b"origin" and (value.startswith(b"http://") or value.startswith(b"https://")):
            return 200, [], b""
    return 400, [], b""


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
