"""create_server(core, options) -> grpc.aio.Server with TF Serving's services registered.

Why grpc.aio: REST and gRPC share one event loop and one ServerCore; model runs
leave the loop through ``ServerCore.run_blocking``. The caller adds ports, starts
and stops the server (``runner.py``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import (
    model_service_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2,
    prediction_service_pb2_grpc,
)

from pyserving.core.errors import InvalidArgumentError
from pyserving.protocols.grpc.model_service import ModelService
from pyserving.protocols.grpc.prediction_service import PredictionService
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
            raise InvalidArgumentError(
                f"Invalid --grpc_channel_arguments entry {token!r}: expected key=value")
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

    @classmethod
    def from_settings(cls, settings: Any) -> GrpcOptions:
        return cls(
            channel_arguments=parse_channel_arguments(settings.grpc_channel_arguments),
            enable_healthcheck=settings.enable_grpc_healthcheck_service,
            enable_reflection=settings.enable_grpc_reflection,
            use_tensor_content=settings.enable_serialization_as_tensor_content,
        )

    def server_options(self) -> list[ChannelArgument]:
        """Message size limits first; user arguments override them (last wins per key)."""
        merged: dict[str, int | str] = {
            "grpc.max_send_message_length": self.max_message_bytes,
            "grpc.max_receive_message_length": self.max_message_bytes,
        }
        merged.update(self.channel_arguments)
        return list(merged.items())


class HealthService(health_pb2_grpc.HealthServicer):
    """grpc.health.v1.Health with fixed statuses: every registered name is SERVING.

    Why not grpc_health's servicer: its status setter is a coroutine, and the
    statuses here never change while the server runs.
    """

    def __init__(self, names: tuple[str, ...] = HEALTH_SERVICE_NAMES) -> None:
        self._serving = frozenset(names)

    def _status(self, service: str) -> Any:
        if service in self._serving:
            return health_pb2.HealthCheckResponse.SERVING
        return None

    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        status = self._status(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"Service {request.service} not found")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        status = self._status(request.service)
        if status is None:
            status = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        await context.write(health_pb2.HealthCheckResponse(status=status))
        await asyncio.Event().wait()  # no changes to report; ends when the client cancels


def create_server(core: ServerCore, options: GrpcOptions) -> grpc.aio.Server:
    """A grpc.aio.Server with the services registered; not bound, not started."""
    server = grpc.aio.server(options=options.server_options())
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(core, options.use_tensor_content), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(core), server)
    services = [PREDICTION_SERVICE, MODEL_SERVICE]
    if options.enable_healthcheck:
        health_pb2_grpc.add_HealthServicer_to_server(HealthService(), server)
        services.append(health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
    if options.enable_reflection:
        from grpc_reflection.v1alpha import reflection

        services.append(reflection.SERVICE_NAME)
        reflection.enable_server_reflection(services, server)
    return server
