"""The REST port's operational routes: ``/healthz``, ``/readyz``, ``/v1/config`` and Prometheus metrics.

Extra routes of the REST app (exact paths, outside TF Serving's ``/v1/models`` API),
kept out of the composition root: the runner only says which ones are on.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from pyserving.apis.json_format import error_body
from pyserving.config.model_server_config import models_to_proto
from pyserving.metrics import CONTENT_TYPE, Metrics
from pyserving.protocols.rest.app import ExtraRoute
from pyserving.serving.readiness import Readiness
from pyserving.serving.server_core import ServerCore

CONFIG_PATH = "/v1/config"
HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"
JSON = b"application/json"


@dataclass(frozen=True)
class OpsRoutes:
    """The handlers; ``routes()`` lists the ones that are on."""

    core: ServerCore
    readiness: Readiness
    config_endpoint: bool = True
    metrics: Metrics | None = None
    metrics_path: str = ""

    def routes(self) -> dict[str, ExtraRoute]:
        routes: dict[str, ExtraRoute] = {HEALTHZ_PATH: self.healthz, READYZ_PATH: self.readyz}
        if self.config_endpoint:
            routes[CONFIG_PATH] = self.effective_config
        if self.metrics is not None:
            routes[self.metrics_path] = self.prometheus
        return routes

    async def healthz(self, method: str, body: bytes) -> tuple[int, bytes, bytes]:
        return 200, JSON, b'{"status":"ok"}'

    async def readyz(self, method: str, body: bytes) -> tuple[int, bytes, bytes]:
        ready, doc = self.readiness.report()
        return (200 if ready else 503), JSON, orjson.dumps(doc)

    async def prometheus(self, method: str, body: bytes) -> tuple[int, bytes, bytes]:
        assert self.metrics is not None
        if method != "GET":
            return 405, JSON, error_body(f"Method {method} not allowed on {self.metrics_path}")
        return 200, CONTENT_TYPE, self.metrics.exposition()

    async def effective_config(self, method: str, body: bytes) -> tuple[int, bytes, bytes]:
        """GET /v1/config: the model config in force (TF Serving has no way to read it back)."""
        from google.protobuf import json_format

        if method != "GET":
            return 405, JSON, error_body(f"Method {method} not allowed on {CONFIG_PATH}")
        message = models_to_proto(list(self.core.models.values()))
        payload = json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)
        return 200, JSON, payload.encode()
