"""One domain, many models: each public path runs payload -> transform -> model -> transform.

The seed tutorial's "add a route (a function) instead of a new URL per model
server": a route names its upstream, model, version or label, signature and
transform. Without a transform it passes TF Serving's REST JSON through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from pyserving.gateway import codec
from pyserving.gateway.client import Upstream
from pyserving.gateway.config import ConfigError, RouteConfig
from pyserving.gateway.errors import GatewayError, bad_request, from_upstream
from pyserving.gateway.transform import BadRequest, TransformLoadError, TransformRunner, load_transform
from pyserving.gateway.transports import ModelTarget, UpstreamError

logger = logging.getLogger("pyserving.gateway.routes")


def parse_payload(method: str, query_string: bytes, body: bytes) -> Any:
    """GET: query parameters as a dict (a repeated one becomes a list). POST: the JSON body."""
    if method == "GET":
        try:
            params = parse_qs(query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            raise bad_request("query string is not valid UTF-8") from None
        return {k: v[0] if len(v) == 1 else v for k, v in params.items()}
    if not body.strip():
        raise bad_request("request body is empty; expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"request body is not valid JSON: {exc}") from None


def _transform_failed(route: RouteConfig, stage: str, request_id: str) -> GatewayError:
    """Logs the traceback of the exception being handled; the caller gets no detail."""
    logger.error(
        "transform %s %s failed on %s (request_id=%s)", route.transform, stage, route.path, request_id, exc_info=True
    )
    return GatewayError(
        500,
        "transform_error",
        f"the route's {stage} step failed; the gateway log has the details under this request id",
    )


@dataclass(frozen=True)
class Route:
    """A configured route, ready to serve. Immutable; safe to share between requests."""

    config: RouteConfig
    upstream: Upstream
    target: ModelTarget
    transform: TransformRunner | None
    timeout_s: float

    async def __call__(self, payload: Any, request_id: str) -> bytes:
        if self.transform is None:
            return await self._pass_through(payload, request_id)
        return await self._transformed(self.transform, payload, request_id)

    async def _pass_through(self, payload: Any, request_id: str) -> bytes:
        if not isinstance(payload, dict):
            raise bad_request("expected a JSON object with 'instances' or 'inputs' (TF Serving's predict body)")
        payload["signature_name"] = self.target.signature  # the route pins the signature
        try:
            return await self.upstream.predict_json(self.target, payload, self.timeout_s, request_id)
        except codec.InputError as exc:
            raise bad_request(str(exc)) from None
        except UpstreamError as exc:
            raise from_upstream(exc.code, exc.message, self.upstream.name) from None

    async def _transformed(self, transform: TransformRunner, payload: Any, request_id: str) -> bytes:
        inputs = payload
        if transform.has_preprocess:
            try:
                inputs = await transform.preprocess(payload)
            except BadRequest as exc:
                raise bad_request(str(exc) or "bad request") from None
            except Exception:  # noqa: BLE001 - user code: 500 + log, never a traceback to the caller
                raise _transform_failed(self.config, "preprocess", request_id) from None
        try:
            outputs = await self.upstream.predict(self.target, inputs, self.timeout_s, request_id)
        except codec.InputError as exc:
            if not transform.has_preprocess:  # the caller wrote the inputs
                raise bad_request(str(exc)) from None
            logger.error(
                "transform %s preprocess returned inputs that do not fit %s: %s (request_id=%s)",
                self.config.transform,
                self.target,
                exc,
                request_id,
            )
            raise GatewayError(
                500, "transform_error", f"the route's preprocess step returned invalid model inputs: {exc}"
            ) from None
        except UpstreamError as exc:
            raise from_upstream(exc.code, exc.message, self.upstream.name) from None
        if not transform.has_postprocess:
            return codec.dumps(codec.default_response(outputs))
        try:
            result = await transform.postprocess(outputs, payload)
        except BadRequest as exc:
            raise bad_request(str(exc) or "bad request") from None
        except Exception:  # noqa: BLE001 - user code: 500 + log, never a traceback to the caller
            raise _transform_failed(self.config, "postprocess", request_id) from None
        try:
            return codec.dumps(result)
        except TypeError:
            raise _transform_failed(self.config, "postprocess (result is not JSON)", request_id) from None


class RouteTable:
    """Path -> Route. Immutable after construction."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = {route.config.path: route for route in routes}

    def get(self, path: str) -> Route | None:
        return self._routes.get(path.rstrip("/") or "/")

    def __iter__(self) -> Any:
        return iter(self._routes.values())


def build_routes(configs: Iterable[RouteConfig], upstreams: Mapping[str, Upstream], executor: Executor) -> RouteTable:
    """Imports every transform (instantiating classes once); raises ConfigError naming the route."""
    routes = []
    for i, config in enumerate(configs):
        runner = None
        if config.transform is not None:
            try:
                runner = TransformRunner(load_transform(config.transform, config.options), executor)
            except TransformLoadError as exc:
                raise ConfigError(f"routes[{i}].transform: {exc}") from exc
        timeout_ms = config.timeout_ms or upstreams[config.upstream].config.timeout_ms
        routes.append(
            Route(
                config,
                upstreams[config.upstream],
                ModelTarget(config.model, config.version, config.label, config.signature),
                runner,
                timeout_ms / 1000,
            )
        )
    return RouteTable(routes)
