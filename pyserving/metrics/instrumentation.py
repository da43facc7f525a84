"""Per-request accounting at the edges: an ASGI middleware, a grpc.aio interceptor, a run listener.

One ``RequestRecord`` per model request, created by the middleware (REST) or
the interceptor (gRPC) and kept in a contextvar while the request runs, so
``ServerCore``'s run listener can fill in what only the core knows (the
version actually served, time spent in the model, examples sent). When the
request ends every observer gets the record: Prometheus metrics
(``MetricsObserver``) and the access log (``AccessLogObserver`` in
``metrics/logs.py``). Handlers and use-cases never call any of this.

REST requests outside ``/v1/`` and ``/v2/models/`` (health probes, the metrics scrape,
``/v1/config`` aside) are not recorded. OIP v2 requests carry the protocol label ``oip-rest``
or ``oip-grpc`` (``rest`` and ``grpc`` stay TF Serving's API).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from pyserving.core.errors import StatusCode
from pyserving.core.ids import ServableId
from pyserving.metrics.definitions import Metrics

# Scope keys RestApp sets for middleware (as Starlette's scope["route"]).
SCOPE_ROUTE = "pyserving.route"
SCOPE_CODE = "pyserving.code"
SCOPE_STATUS = "pyserving.status"

EXAMPLE_APIS = frozenset({"classify", "regress", "multi_inference"})
# gRPC method -> our API name; TF Serving's API label is the method name itself.
GRPC_APIS = {
    "/tensorflow.serving.PredictionService/Predict": "predict",
    "/tensorflow.serving.PredictionService/Classify": "classify",
    "/tensorflow.serving.PredictionService/Regress": "regress",
    "/tensorflow.serving.PredictionService/MultiInference": "multi_inference",
    "/tensorflow.serving.PredictionService/GetModelMetadata": "metadata",
    "/tensorflow.serving.ModelService/GetModelStatus": "status",
    "/tensorflow.serving.ModelService/HandleReloadConfigRequest": "reload_config",
}
# The Open Inference Protocol v2's RPCs: recorded under the protocol label "oip-grpc" (and REST
# /v2/models/... under "oip-rest"), so TF Serving's own metrics never count them.
OIP_GRPC_APIS = {
    "/inference.GRPCInferenceService/ModelInfer": "infer",
    "/inference.GRPCInferenceService/ModelMetadata": "metadata",
    "/inference.GRPCInferenceService/ModelReady": "ready",
}
# TF Serving counts :tensorflow:serving:request_count for these gRPC calls (and every REST request).
TF_GRPC_APIS = {"predict": "Predict", "classify": "Classify", "regress": "Regress"}
_HTTP_TO_CODE = {
    200: "OK",
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    413: "RESOURCE_EXHAUSTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass(slots=True)
class RequestRecord:
    """What one model request did. ``code`` is a canonical status code name."""

    protocol: str
    api: str = ""
    model: str = ""
    version: str = ""
    code: str = "OK"
    http_status: int = 0
    seconds: float = 0.0
    run_seconds: float = 0.0
    examples: int = 0


CURRENT_REQUEST: ContextVar[RequestRecord | None] = ContextVar("pyserving_request", default=None)


class RequestObserver(Protocol):
    def started(self, record: RequestRecord) -> None: ...

    def finished(self, record: RequestRecord) -> None: ...


def on_run(
    servable_id: ServableId, signature_name: str, inputs: Mapping[str, Any], seconds: float, error: BaseException | None
) -> None:
    """``ServerCore.run_listeners`` entry: attributes a model run to the current request."""
    record = CURRENT_REQUEST.get()
    if record is None:
        return
    record.version = str(servable_id.version)
    record.run_seconds += seconds
    if record.api in EXAMPLE_APIS:
        examples = inputs.get("inputs")
        if examples is not None and getattr(examples, "ndim", 0) == 1:
            record.examples += len(examples)


class MetricsObserver:
    """Request metrics, ours and TF Serving's. Event-loop only."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.tf = metrics.tf

    def started(self, record: RequestRecord) -> None:
        self.metrics.requests_in_flight.inc((record.model, record.protocol))

    def finished(self, record: RequestRecord) -> None:
        m = self.metrics
        m.requests_in_flight.inc((record.model, record.protocol), -1.0)
        m.requests.inc((record.model, record.version, record.api, record.protocol, record.code))
        ok = record.code == "OK"
        if ok:
            m.request_duration.observe((record.model, record.version, record.api, record.protocol), record.seconds)
        if record.protocol == "rest":
            tf_api, entrypoint = (record.api if record.api in ("predict", "classify", "regress") else ""), "REST"
        else:
            tf_api, entrypoint = TF_GRPC_APIS.get(record.api, ""), "GRPC"
            if not tf_api:
                return
        self.tf.request_count.inc((record.model, record.code))
        if ok:
            self.tf.request_latency.observe((record.model, tf_api, entrypoint), record.seconds * 1e6)
            if record.examples:
                self.tf.request_example_counts.observe((record.model,), record.examples)
                self.tf.request_example_count_total.inc((record.model,), record.examples)


class RunMetrics:
    """``ServerCore.run_listeners`` entry for model-run latency. Event-loop only."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __call__(
        self,
        servable_id: ServableId,
        signature_name: str,
        inputs: Mapping[str, Any],
        seconds: float,
        error: BaseException | None,
    ) -> None:
        if error is not None:
            return
        record = CURRENT_REQUEST.get()
        api = record.api if record is not None else ""
        version = str(servable_id.version)
        m = self.metrics
        m.run_duration.observe((servable_id.name, version, api), seconds)
        if record is not None and record.protocol == "grpc":
            tf_api = TF_GRPC_APIS.get(api, api)
        else:
            tf_api = api
        m.tf.runtime_latency.observe((servable_id.name, tf_api, "TF1"), seconds * 1e6)


def _model_and_api(method: str, path: str) -> tuple[str, str]:
    """A first guess from ``/v1/models/<name>[/...][:verb|/metadata]``, before the router runs.

    The model runs before the router's verdict reaches the middleware, and the
    run listener needs the API; the router's Route replaces both at the end.
    """
    if len(path) <= 11 or path[:11].lower() != "/v1/models/":
        return "", ""
    rest = path[11:]
    end = len(rest)
    for sep in ("/", ":"):
        found = rest.find(sep)
        if found != -1 and found < end:
            end = found
    if method == "POST":
        api = path.rpartition(":")[2]
    else:
        api = "metadata" if path.endswith("/metadata") else "status"
    return unquote(rest[:end]), api


def _oip_model_and_api(path: str) -> tuple[str, str]:
    """``/v2/models/<name>[/versions/<v>][/infer|/ready|...]``: a first guess, as ``_model_and_api``."""
    rest = path[len("/v2/models/") :]
    name, _, tail = rest.partition("/")
    action = tail.rpartition("/")[2] if tail else "metadata"
    if action not in ("infer", "ready", "stats", "config"):
        action = "metadata"
    return unquote(name), action


class RestInstrumentation:
    """ASGI middleware around ``RestApp``. Event-loop only."""

    def __init__(self, app: Callable[..., Awaitable[None]], observers: Sequence[RequestObserver]) -> None:
        self.app = app
        self.observers = tuple(observers)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else scope["path"]
        if path.startswith("/v2/models/"):
            model, api = _oip_model_and_api(path)
            protocol = "oip-rest"
        elif path[:4].lower() != "/v1/" or path.startswith("/v1/config") or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        else:
            model, api = _model_and_api(scope["method"], path)
            protocol = "rest"
        record = RequestRecord(protocol, api, model)
        token = CURRENT_REQUEST.set(record)
        for observer in self.observers:
            observer.started(record)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            record.seconds = time.perf_counter() - started
            CURRENT_REQUEST.reset(token)
            # No status: the app raised, and the server answers 500.
            record.http_status = scope.get(SCOPE_STATUS, 500)
            route = scope.get(SCOPE_ROUTE)
            if route is not None:
                record.api = route.action
                record.model = route.model
                if not record.version and route.version is not None:
                    record.version = str(route.version)
            else:
                record.api = "unknown"
            code = scope.get(SCOPE_CODE)
            if code is not None:
                record.code = code.name
            elif record.http_status != 200:
                record.code = _HTTP_TO_CODE.get(record.http_status, StatusCode.INTERNAL.name)
            for observer in self.observers:
                observer.finished(record)


def _grpc_model(request: Any) -> str:
    for field in ("model_name", "name"):  # OIP's ModelInferRequest, ModelMetadataRequest
        value = getattr(request, field, None)
        if isinstance(value, str):
            return value
    spec = getattr(request, "model_spec", None)
    if spec is not None:
        return str(spec.name)
    tasks = getattr(request, "tasks", None)
    if tasks:
        return str(tasks[0].model_spec.name)
    return ""


def _grpc_version(response: Any, record: RequestRecord) -> str:
    oip_version = getattr(response, "model_version", None)
    if isinstance(oip_version, str) and oip_version:
        return oip_version
    spec = getattr(response, "model_spec", None)
    if spec is not None and spec.HasField("version"):
        return str(spec.version.value)
    return record.version


def grpc_interceptor(observers: Sequence[RequestObserver]) -> Any:
    """A ``grpc.aio.ServerInterceptor`` recording every TF Serving unary RPC."""
    import grpc

    class GrpcInstrumentation(grpc.aio.ServerInterceptor):
        """Wraps the unary handlers of PredictionService and ModelService. Event-loop only."""

        def __init__(self) -> None:
            self._wrapped: dict[str, tuple[Any, Any]] = {}

        async def intercept_service(self, continuation: Any, details: Any) -> Any:
            handler = await continuation(details)
            method = details.method
            api = GRPC_APIS.get(method)
            protocol = "grpc"
            if api is None:
                api = OIP_GRPC_APIS.get(method)
                protocol = "oip-grpc"
            if handler is None or api is None or handler.unary_unary is None:
                return handler
            cached = self._wrapped.get(method)
            if cached is not None and cached[0] is handler:
                return cached[1]
            wrapped = grpc.unary_unary_rpc_method_handler(
                _observed(handler.unary_unary, api, tuple(observers), protocol),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
            self._wrapped[method] = (handler, wrapped)
            return wrapped

    return GrpcInstrumentation()


def _observed(behavior: Any, api: str, observers: tuple[RequestObserver, ...], protocol: str = "grpc") -> Any:
    import asyncio

    import grpc

    async def observed(request: Any, context: Any) -> Any:
        record = RequestRecord(protocol, api, _grpc_model(request))
        token = CURRENT_REQUEST.set(record)
        for observer in observers:
            observer.started(record)
        started = time.perf_counter()
        try:
            response = await behavior(request, context)
            record.version = _grpc_version(response, record)
            return response
        except grpc.aio.AbortError:
            code = context.code()
            record.code = code.name if code is not None else StatusCode.UNKNOWN.name
            raise
        except asyncio.CancelledError:
            record.code = StatusCode.CANCELLED.name
            raise
        except BaseException:
            record.code = StatusCode.UNKNOWN.name
            raise
        finally:
            record.seconds = time.perf_counter() - started
            CURRENT_REQUEST.reset(token)
            for observer in observers:
                observer.finished(record)

    return observed
