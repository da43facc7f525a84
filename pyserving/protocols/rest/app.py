"""create_app(core, options): TF Serving's REST API as a plain ASGI callable.

A thin router instead of a framework: the routes are TF Serving's two regexes,
and every request on the hot path costs one regex match and one dict lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pyserving.apis.json_format import error_body
from pyserving.asgi import BodyTooLarge, ClientGone, lifespan, read_body
from pyserving.core.errors import InvalidArgumentError, ServingError, StatusCode, as_serving_error
from pyserving.protocols.limits import InFlightLimit
from pyserving.protocols.oip_models import OipOptions
from pyserving.protocols.oip_rest import handlers as oip_handlers
from pyserving.protocols.oip_rest import routes as oip_routes
from pyserving.protocols.rest import handlers
from pyserving.protocols.rest.errors import http_status
from pyserving.protocols.rest.openapi import OPENAPI_PATH, openapi_route
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

# Facts about the request left in the ASGI scope for middleware (metrics, access log),
# as Starlette leaves scope["route"]: the matched Route, the StatusCode of an error, the
# HTTP status (so middleware need not wrap ``send``).
SCOPE_ROUTE = "pyserving.route"
SCOPE_CODE = "pyserving.code"
SCOPE_STATUS = "pyserving.status"  # the HTTP status sent
INFERENCE_ACTIONS = frozenset({"predict", "classify", "regress"})


@dataclass(frozen=True)
class RestOptions:
    rest_api_timeout_in_ms: int = 30000
    rest_api_enable_cors_support: bool = False
    # Paths outside /v1 (metrics, health) and their handlers.
    extra_routes: dict[str, ExtraRoute] = field(default_factory=dict)
    # --rest_api_max_body_bytes: larger bodies get 413 (0: no limit).
    max_body_bytes: int = 0
    # --max_concurrent_requests_per_model, shared with gRPC; None: unlimited.
    limit: InFlightLimit | None = None
    # The Open Inference Protocol v2 under /v2 (protocols/oip_rest); None: /v2 answers 404.
    oip: OipOptions | None = None


class RestApp:
    """ASGI app. Event-loop only."""

    def __init__(self, core: ServerCore, options: RestOptions) -> None:
        self.core = core
        self.options = options
        self._extra_headers = CORS_HEADERS if options.rest_api_enable_cors_support else []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await lifespan(receive, send)
            return
        method: str = scope["method"]
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        try:
            body = await read_body(receive, scope.get("headers", ()), self.options.max_body_bytes)
        except ClientGone:
            scope[SCOPE_CODE] = StatusCode.CANCELLED
            scope[SCOPE_STATUS] = 499  # nobody to answer; as nginx logs it
            return
        except BodyTooLarge as exc:
            scope[SCOPE_CODE] = StatusCode.RESOURCE_EXHAUSTED
            with contextlib.suppress(ServingError):
                scope[SCOPE_ROUTE] = match(method, path)  # for metrics and logs only
            size = f" of {exc.size} bytes" if exc.size is not None else ""
            status, headers, payload = (
                413,
                JSON_HEADERS,
                error_body(
                    f"Request body{size} exceeds the limit of {self.options.max_body_bytes} bytes "
                    "(--rest_api_max_body_bytes)"
                ),
            )
        else:
            try:
                status, headers, payload = await self.dispatch(method, path, body, scope)
            except asyncio.CancelledError:
                # Only a graceful shutdown cancels requests (its grace period ran out):
                # answer instead of leaving the server to send a bare 500.
                scope[SCOPE_CODE] = StatusCode.UNAVAILABLE
                status, headers, payload = (
                    503,
                    JSON_HEADERS,
                    error_body(
                        "The server is shutting down and cancelled this request "
                        "(it ran past --shutdown_grace_period_seconds)"
                    ),
                )
        length = [(b"content-length", str(len(payload)).encode())]
        scope[SCOPE_STATUS] = status
        await send({"type": "http.response.start", "status": status, "headers": headers + length + self._extra_headers})
        await send({"type": "http.response.body", "body": payload})

    async def dispatch(
        self, method: str, path: str, body: bytes, scope: dict[str, Any]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        extra = self.options.extra_routes.get(path) or (openapi_route if path == OPENAPI_PATH else None)
        if extra is not None:
            status, content_type, payload = await extra(method, body)
            return status, [(b"content-type", content_type)], payload
        if self.options.oip is not None and path.startswith("/v2") and (len(path) == 3 or path[3] == "/"):
            return await self._oip(method, path, body, scope)
        if not path.lower().startswith("/v1/"):
            return 404, JSON_HEADERS, error_body(f"Not found: {method} {_shown(path)}")
        if method == "OPTIONS":
            return _preflight(scope)
        try:
            body = _decompress(body, scope)
            route = match(method, path)
            scope[SCOPE_ROUTE] = route
            limit = self.options.limit
            if limit is None or route.action not in INFERENCE_ACTIONS:
                payload = await self._handle(route, body)
            else:
                limit.acquire(route.model)
                try:
                    payload = await self._handle(route, body)
                finally:
                    limit.release(route.model)
            return 200, JSON_HEADERS, payload
        except ServingError as exc:
            scope[SCOPE_CODE] = exc.code
            return http_status(exc.code), JSON_HEADERS, error_body(exc.message)
        except Exception as exc:  # never drop a connection on a bug
            logger.exception("Unhandled error for %s %s", method, path)
            error = as_serving_error(exc)
            scope[SCOPE_CODE] = error.code
            return http_status(error.code), JSON_HEADERS, error_body(error.message)

    async def _oip(
        self, method: str, path: str, body: bytes, scope: dict[str, Any]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """``/v2``: every answer but a 200 is ``{"error": ...}`` (tritonclient reads nothing else)."""
        assert self.options.oip is not None
        if method == "OPTIONS":
            return _preflight(scope)
        try:
            route = oip_routes.match(method, path)
            scope[SCOPE_ROUTE] = route
            headers = scope.get("headers", ())
            if route.action != "infer":
                return await oip_handlers.handle(self.core, self.options.oip, route, body, headers, 0)
            body = _decompress(body, scope)
            limit = self.options.limit
            timeout = self.options.rest_api_timeout_in_ms
            if limit is None:
                return await oip_handlers.infer(self.core, self.options.oip, route, body, headers, timeout)
            limit.acquire(route.model)
            try:
                return await oip_handlers.infer(self.core, self.options.oip, route, body, headers, timeout)
            finally:
                limit.release(route.model)
        except oip_routes.MethodNotAllowed as exc:
            scope[SCOPE_CODE] = exc.code
            return 405, JSON_HEADERS, error_body(exc.message)
        except ServingError as exc:
            scope[SCOPE_CODE] = exc.code
            return http_status(exc.code), JSON_HEADERS, error_body(exc.message)
        except Exception as exc:
            scope[SCOPE_CODE] = StatusCode.INTERNAL
            logger.exception("Unhandled error for %s %s", method, path)
            return 500, JSON_HEADERS, error_body(f"{type(exc).__name__}: {exc}")

    async def _handle(self, route: Any, body: bytes) -> bytes:
        timeout = self.options.rest_api_timeout_in_ms
        if route.action == "predict":
            return await handlers.predict(self.core, route, body, timeout)
        if route.action in ("classify", "regress"):
            return await handlers.classify_or_regress(self.core, route, body, timeout)
        if route.action == "metadata":
            return handlers.metadata(self.core, route)
        return handlers.status(self.core, route)


def create_app(core: ServerCore, options: RestOptions) -> RestApp:
    return RestApp(core, options)


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
    """A CORS preflight: 200 with no body (as TF Serving), or a JSON 400 without an Origin."""
    for name, value in scope.get("headers", ()):
        if name == b"origin" and (value.startswith(b"http://") or value.startswith(b"https://")):
            return 200, [], b""
    return 400, JSON_HEADERS, error_body("OPTIONS is a CORS preflight and needs an Origin header (http:// or https://)")


def _shown(path: str) -> str:
    """A path for an error message: at most 256 characters of it."""
    return path if len(path) <= 256 else f"{path[:256]}... ({len(path)} characters)"
