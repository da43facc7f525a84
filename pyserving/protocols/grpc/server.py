"""create_server(core, options) -> grpc.aio.Server with TF Serving's services registered.

Why grpc.aio: REST and gRPC share one event loop and one ServerCore; model runs
leave the loop through ``ServerCore.run_blocking``. The caller adds ports, starts
and stops the server (``runner.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pyserving.core.errors import InvalidArgumentError, ServingError
from pyserving.protocols.grpc.errors import abort
from pyserving.protocols.grpc.handlers import add_service
from pyserving.protocols.grpc.model_service import ModelService
from pyserving.protocols.grpc.prediction_service import PredictionService
from pyserving.protocols.grpc.profiler_service import ProfilerService, StartSession, profiler_handler
from pyserving.protocols.limits import InFlightLimit
from pyserving.protocols.oip_models import OipOptions
from pyserving.protos.tensorflow_serving.apis import model_service_pb2, prediction_service_pb2
from pyserving.serving.server_core import ServerCore

# TF Serving sets ServerBuilder::SetMaxMessageSize(kint32max) for both directions.
MAX_MESSAGE_BYTES = 2**31 - 1
_INT32_RANGE = range(-(2**31), 2**31)

PREDICTION_SERVICE = prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"].full_name
MODEL_SERVICE = model_service_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name
# TF Serving registers its health statuses under these short names (not fully qualified).
HEALTH_SERVICE_NAMES = ("", "ModelService", "PredictionService")

ChannelArgument = tuple[str, int | str]


def parse_channel_arguments(text: str) -> tuple[ChannelArgument, ...]:
    """``--grpc_channel_arguments``: ``k=v,k2=v2``; values that parse as int32 become ints.

    Unlike TF Serving (which crashes), a token without ``=`` is a startup error.
    """
    arguments: list[ChannelArgument] = []
    for token in text.split(","):
        if not token.strip():
            continue
        key, sep, value = token.partition("=")
        if not sep or not key.strip():
            raise InvalidArgumentError(f"Invalid --grpc_channel_arguments entry {token!r}: expected key=value")
        arguments.append((key.strip(), _int32_or_str(value)))
    return tuple(arguments)


def _int32_or_str(value: str) -> int | str:
    try:
        number = int(value.strip())
    except ValueError:
        return value
    return number if number in _INT32_RANGE else value


@dataclass(frozen=True)
class GrpcOptions:
    channel_arguments: tuple[ChannelArgument, ...] = ()
    enable_healthcheck: bool = False
    enable_reflection: bool = False
    use_tensor_content: bool = False
    max_message_bytes: int = MAX_MESSAGE_BYTES
    workers: int = 1  # --num_workers: processes sharing the port (SO_REUSEPORT)
    reload_config: bool = True  # --enable_reload_config_rpc

    @classmethod
    def from_settings(cls, settings: Any) -> GrpcOptions:
        return cls(
            channel_arguments=parse_channel_arguments(settings.grpc_channel_arguments),
            enable_healthcheck=settings.enable_grpc_healthcheck_service,
            enable_reflection=settings.enable_grpc_reflection,
            use_tensor_content=settings.enable_serialization_as_tensor_content,
            max_message_bytes=getattr(settings, "grpc_max_message_bytes", MAX_MESSAGE_BYTES),
            workers=getattr(settings, "num_workers", 1),
            reload_config=getattr(settings, "enable_reload_config_rpc", True),
        )

    def server_options(self) -> list[ChannelArgument]:
        """Message size limits first; user arguments override them (last wins per key)."""
        merged: dict[str, int | str] = {
            "grpc.max_send_message_length": self.max_message_bytes,
            "grpc.max_receive_message_length": self.max_message_bytes,
        }
        # grpcio sets SO_REUSEPORT by default on Linux, which lets a second server bind the same
        # port and take part of the connections. Only --num_workers siblings may share it (their
        # supervisor holds the port: cli/workers.py); a single process binds it alone.
        merged["grpc.so_reuseport"] = 1 if self.workers > 1 else 0
        merged.update(self.channel_arguments)
        return list(merged.items())


class HealthService(health_pb2_grpc.HealthServicer):
    """grpc.health.v1.Health that tells the truth about readiness.

    Every registered name reports SERVING while ``serving()`` holds (the runner
    passes "every configured model has an AVAILABLE version and no shutdown has
    started") and NOT_SERVING otherwise. ``notify()`` wakes Watch streams after a
    change; ``shutdown()`` reports NOT_SERVING to them and ends them, so open
    Watch streams do not hold up a graceful stop.

    Why not grpc_health's servicer: its status setter is a coroutine the model
    lifecycle (a synchronous event bus) cannot call. Event-loop only.
    """

    def __init__(
        self, serving: Callable[[], bool] = lambda: True, names: tuple[str, ...] = HEALTH_SERVICE_NAMES
    ) -> None:
        self._serving = serving
        self._names = frozenset(names)
        self._changed = asyncio.Event()
        self._closed = False

    def notify(self, *_: Any) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def shutdown(self) -> None:
        self._closed = True
        self.notify()

    def _status(self, service: str) -> Any:
        if service not in self._names:
            return None
        if not self._closed and self._serving():
            return health_pb2.HealthCheckResponse.SERVING
        return health_pb2.HealthCheckResponse.NOT_SERVING

    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        status = self._status(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"Service {request.service} not found")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        last = None
        while True:
            changed = self._changed
            status = self._status(request.service)
            if status is None:
                status = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
            if status != last:
                await context.write(health_pb2.HealthCheckResponse(status=status))
                last = status
            if self._closed:
                return
            await changed.wait()


INFERENCE_METHODS = frozenset(
    {
        f"/{PREDICTION_SERVICE}/Predict",
        f"/{PREDICTION_SERVICE}/Classify",
        f"/{PREDICTION_SERVICE}/Regress",
        f"/{PREDICTION_SERVICE}/MultiInference",
        "/inference.GRPCInferenceService/ModelInfer",
    }
)


def _model_of(request: Any) -> str:
    model_name = getattr(request, "model_name", None)  # inference.ModelInferRequest
    if model_name is not None:
        return str(model_name)
    spec = getattr(request, "model_spec", None)
    if spec is not None:
        return str(spec.name)
    tasks = getattr(request, "tasks", None)
    return str(tasks[0].model_spec.name) if tasks else ""


class InFlightLimitInterceptor(grpc.aio.ServerInterceptor):
    """``--max_concurrent_requests_per_model`` for PredictionService inference RPCs. Event-loop only."""

    def __init__(self, limit: InFlightLimit) -> None:
        self.limit = limit
        self._wrapped: dict[str, tuple[Any, Any]] = {}

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = await continuation(details)
        if handler is None or details.method not in INFERENCE_METHODS or handler.unary_unary is None:
            return handler
        cached = self._wrapped.get(details.method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = grpc.unary_unary_rpc_method_handler(
            self._limited(handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[details.method] = (handler, wrapped)
        return wrapped

    def _limited(self, behavior: Any) -> Any:
        limit = self.limit

        async def limited(request: Any, context: grpc.aio.ServicerContext) -> Any:
            model = _model_of(request)
            try:
                limit.acquire(model)
            except ServingError as exc:
                await abort(context, exc)
            try:
                return await behavior(request, context)
            finally:
                limit.release(model)

        return limited


def create_server(
    core: ServerCore,
    options: GrpcOptions,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    health: HealthService | None = None,
    profiler: StartSession | None = None,
    oip: OipOptions | None = None,
) -> grpc.aio.Server:
    """A grpc.aio.Server with the services registered; not bound, not started.

    ``interceptors`` run outermost first (metrics, then limits). ``health`` is the
    Health servicer to register when the health check is enabled (default: SERVING
    once every configured model is available); it is woken on every model state change.
    ``profiler`` starts a profiler session: given, ``tensorflow.ProfilerService`` is served.
    ``oip``: given, ``inference.GRPCInferenceService`` (the Open Inference Protocol v2) is served too.
    """
    server = grpc.aio.server(options=options.server_options(), interceptors=list(interceptors) or None)
    add_service(
        server,
        prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"],
        PredictionService(core, options.use_tensor_content),
    )
    add_service(
        server,
        model_service_pb2.DESCRIPTOR.services_by_name["ModelService"],
        ModelService(core, options.workers, options.reload_config),
    )
    services = [PREDICTION_SERVICE, MODEL_SERVICE]
    if oip is not None:
        from pyserving.protocols.oip_grpc.servicer import add_oip_service

        services.append(add_oip_service(server, core, oip))
    if profiler is not None:
        server.add_generic_rpc_handlers((profiler_handler(ProfilerService(profiler)),))
    if options.enable_healthcheck:
        health = health or HealthService(core.is_ready)
        core.bus.subscribe(health.notify)
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        services.append(health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
    if options.enable_reflection:
        from grpc_reflection.v1alpha import reflection

        services.append(reflection.SERVICE_NAME)
        reflection.enable_server_reflection(services, server)
    return server
