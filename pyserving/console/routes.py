"""The console's REST routes: the page at ``/``, its files under ``/console/``, its stats endpoint.

Added to the REST app as extra routes (exact paths, like ``/healthz``), so the
model request path pays nothing for them. The files ship in the package
(``static/``, uPlot vendored with its licence): no build step, no CDN. The page
reads only public endpoints: TF Serving's REST API, ``/v1/config`` and
``/console/api/stats`` below.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import resources
from typing import Any

import orjson

from pyserving import __version__
from pyserving.apis.json_format import error_body
from pyserving.console.history import VersionHistory
from pyserving.console.stats import INTERVAL_SECONDS, LiveStats
from pyserving.metrics import Metrics
from pyserving.serving.server_core import ServerCore

PREFIX = "/console/"
STATS_PATH = PREFIX + "api/stats"
JSON = b"application/json"
_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    "": b"text/plain; charset=utf-8",
}
# URL path -> file under static/
FILES = {
    "/": "index.html",
    PREFIX: "index.html",
    PREFIX + "console.js": "console.js",
    PREFIX + "console.css": "console.css",
    PREFIX + "vendor/uPlot.iife.min.js": "vendor/uPlot.iife.min.js",
    PREFIX + "vendor/uPlot.min.css": "vendor/uPlot.min.css",
    PREFIX + "vendor/LICENSE": "vendor/LICENSE",
}

Route = Callable[[str, bytes], Any]


class Console:
    """Event-loop only. Create it before the models load, so the history sees every event."""

    def __init__(
        self, core: ServerCore, metrics: Metrics | None, in_flight: Callable[[], int] | None = None, grpc_port: int = 0
    ) -> None:
        self.core = core
        self.history = VersionHistory(core.bus)
        self.stats = LiveStats(core, metrics, in_flight)
        self._files = {path: _asset(name) for path, name in FILES.items()}
        self._server = {
            "version": __version__,
            "pid": os.getpid(),
            "interval_seconds": INTERVAL_SECONDS,
            "prometheus": metrics is not None,
            "stats_from": self.stats.source,
            "grpc_port": grpc_port,
        }

    def routes(self) -> dict[str, Route]:
        """Path -> handler, for ``RestOptions.extra_routes``."""
        routes: dict[str, Route] = {path: self._file_route(path) for path in self._files}
        routes[STATS_PATH] = self.stats_route
        return routes

    def _file_route(self, path: str) -> Route:
        content_type, payload = self._files[path]

        async def serve(method: str, body: bytes) -> tuple[int, bytes, bytes]:
            if method not in ("GET", "HEAD"):
                return 405, JSON, error_body(f"Method {method} not allowed on {path}")
            return 200, content_type, payload

        return serve

    async def stats_route(self, method: str, body: bytes) -> tuple[int, bytes, bytes]:
        """GET: everything kept; POST ``{"after": n, "after_event": m}``: only what is newer.

        Each call keeps the sampler going for ``IDLE_SECONDS`` more.
        """
        after = after_event = 0
        if method == "POST":
            try:
                request = orjson.loads(body or b"{}")
                after, after_event = int(request.get("after", 0)), int(request.get("after_event", 0))
            except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                return 400, JSON, error_body('Expected {"after": <int>, "after_event": <int>}')
        elif method != "GET":
            return 405, JSON, error_body(f"Method {method} not allowed on {STATS_PATH}")
        self.stats.touch()
        return (
            200,
            JSON,
            orjson.dumps(
                {
                    "server": self._server,
                    "seq": self.stats.seq,
                    "points": self.stats.after(after),
                    "event_seq": self.history.seq,
                    "events": self.history.after(after_event),
                }
            ),
        )


def _asset(name: str) -> tuple[bytes, bytes]:
    data = resources.files("pyserving.console").joinpath("static", name).read_bytes()
    return _TYPES.get(os.path.splitext(name)[1], _TYPES[""]), data
