"""create_app(config): the gateway as a plain ASGI callable (uvicorn, gunicorn + uvicorn workers).

Per request: request id -> (health endpoints) -> API key (401) -> route (404,
405) -> subscription (403) -> rate limit (429) -> body limit (413) -> route.
Every failure leaves as one JSON error shape with the request id, in the
body and in ``X-Request-ID``; one access-log line per request with latency.

A thin router instead of a framework: exact-path routes are one dict lookup,
and the gateway's cost per request is what the benchmark measures.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson

from pyserving import log_output
from pyserving.asgi import BadContentLength, BodyTooLarge, ClientGone, lifespan, read_body
from pyserving.gateway.auth import Authenticator
from pyserving.gateway.client import Upstream
from pyserving.gateway.config import GatewayConfig, load_config
from pyserving.gateway.errors import GatewayError, error_body
from pyserving.gateway.ratelimit import RateLimiter, retry_after_header
from pyserving.gateway.routes import RouteTable, build_routes, parse_payload

CONFIG_ENV = "PYSERVING_GATEWAY_CONFIG"
LOG_LEVEL_ENV = "PYSERVING_GATEWAY_LOG_LEVEL"

logger = logging.getLogger("pyserving.gateway")
access_logger = logging.getLogger("pyserving.gateway.access")

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")
Headers = list[tuple[bytes, bytes]]


class GatewayApp:
    """The gateway's ASGI app.

    Event-loop only. Upstream connections and background tasks (health
    checks, keys-file reload) start with the ASGI lifespan, or with the first
    request under servers that do not send lifespan events.
    """

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        for folder in reversed(config.server.python_path):
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
        self.executor = ThreadPoolExecutor(config.server.transform_threads, thread_name_prefix="gateway-transform")
        self.upstreams = {name: Upstream(u, config.models_of(name)) for name, u in config.upstreams.items()}
        self.auth = Authenticator(config.auth) if config.auth.enabled else None
        self.routes: RouteTable = build_routes(config.routes, self.upstreams, self.executor)
        self.limiter = RateLimiter()
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._started:
                return
            for upstream in self.upstreams.values():
                await upstream.start()
            if self.auth is not None:
                self._tasks.append(asyncio.create_task(self._reload_keys(), name="gateway-keys"))
            self._started = True
            logger.info(
                "Gateway ready: %d routes, %d upstreams, auth %s",
                len(list(self.routes)),
                len(self.upstreams),
                "on" if self.auth else 'OFF (auth = "none")',
            )

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(u.aclose() for u in self.upstreams.values()), return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self._started = False

    async def _reload_keys(self) -> None:
        assert self.auth is not None
        while True:
            await asyncio.sleep(self.config.auth.reload_interval_s)
            if self.auth.reload_if_changed():
                self.limiter.forget_except(self.auth.key_ids)

    # -- requests --------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self.start, self.aclose)
            return
        if scope["type"] != "http":
            return
        if not self._started:
            await self.start()
        began = time.perf_counter()
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"")
        request_id = incoming.decode() if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        access: dict[str, str] = {"key": "-"}
        extra: dict[str, str] = {}
        try:
            status, body = await self._dispatch(scope, receive, headers, request_id, access)
        except GatewayError as exc:
            status, body, extra = exc.status, error_body(exc, request_id), exc.headers
        except ClientGone:
            self._log(scope, 499, began, request_id, access)
            return
        except Exception:  # never drop a connection on a bug
            logger.exception("Unhandled error (request_id=%s)", request_id)
            status = 500
            body = error_body(GatewayError(500, "internal", "internal gateway error"), request_id)
        response_headers: Headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
        ]
        response_headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})
        self._log(scope, status, began, request_id, access)

    async def _dispatch(
        self, scope: dict[str, Any], receive: Any, headers: dict[bytes, bytes], request_id: str, access: dict[str, str]
    ) -> tuple[int, bytes]:
        path: str = scope["path"]
        method: str = scope["method"]
        if path in ("/healthz", "/readyz"):
            return self._health(path, method)
        entry = None
        if self.auth is not None:
            entry = await self.auth.authenticate(headers)
            access["key"] = entry.id
        route = self.routes.get(path)
        if route is None:
            raise GatewayError(404, "not_found", f"no route for {path}")
        if method not in route.config.methods:
            raise GatewayError(
                405,
                "method_not_allowed",
                f"{method} is not allowed on {route.config.path}",
                {"Allow": ", ".join(route.config.methods)},
            )
        if entry is not None:
            self.auth.authorize(entry, route.config.path)  # type: ignore[union-attr]
            wait = self.limiter.check(entry.id, entry.rate_per_s, entry.burst)
            if wait:
                raise GatewayError(
                    429,
                    "rate_limited",
                    f"rate limit of {entry.rate_per_s:g}/s for key {entry.id!r} exceeded",
                    {"Retry-After": retry_after_header(wait)},
                )
        body = b""
        if method == "POST":
            body = await _read_body(receive, headers, self.config.server.max_body_bytes)
        payload = parse_payload(method, scope.get("query_string", b""), body)
        return 200, await route(payload, request_id)

    def _health(self, path: str, method: str) -> tuple[int, bytes]:
        if method not in ("GET", "HEAD"):
            raise GatewayError(405, "method_not_allowed", f"{method} is not allowed on {path}", {"Allow": "GET, HEAD"})
        if path == "/healthz":
            return 200, b'{"status":"ok"}'
        upstreams = {name: u.health() for name, u in self.upstreams.items()}
        ready = all(u.ready for u in self.upstreams.values())
        return (200 if ready else 503), orjson.dumps(
            {"status": "ready" if ready else "unavailable", "upstreams": upstreams}
        )

    def _log(self, scope: dict[str, Any], status: int, began: float, request_id: str, access: dict[str, str]) -> None:
        if not self.config.server.access_log:
            return
        client = scope.get("client")
        access_logger.info(
            '%s "%s %s" %d %.2fms request_id=%s key=%s',
            f"{client[0]}:{client[1]}" if client else "-",
            scope["method"],
            scope["path"],
            status,
            (time.perf_counter() - began) * 1000,
            request_id,
            access["key"],
        )


async def _read_body(receive: Any, headers: dict[bytes, bytes], limit: int) -> bytes:
    """The request body, refusing (413) as soon as it is known to exceed ``limit`` bytes."""
    try:
        return await read_body(receive, headers.items(), limit)
    except BodyTooLarge:
        raise GatewayError(413, "payload_too_large", f"request body exceeds {limit} bytes") from None
    except BadContentLength:
        raise GatewayError(400, "bad_request", "invalid Content-Length") from None


def create_app(config: GatewayConfig) -> GatewayApp:
    """The ASGI app for ``config`` (imports and instantiates the routes' transforms)."""
    return GatewayApp(config)


def configure_logging(level: str) -> None:
    """pyserving's text log lines on stderr unless the host (gunicorn, a test) configured logging already."""
    log_output.configure_logging(level, keep_host_handlers=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per upstream call otherwise


def create_app_from_env() -> GatewayApp:
    """App factory for uvicorn workers and gunicorn: the config path is ``$PYSERVING_GATEWAY_CONFIG``.

    ``gunicorn -k uvicorn_worker.UvicornWorker 'pyserving.gateway.app:create_app_from_env()'``
    """
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise RuntimeError(f"set {CONFIG_ENV} to the gateway's config file")
    config = load_config(path)
    configure_logging(os.environ.get(LOG_LEVEL_ENV, config.server.log_level))
    return create_app(config)
