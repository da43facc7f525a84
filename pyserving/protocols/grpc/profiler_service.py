"""``tensorflow.ProfilerService`` on the gRPC port (``--enable_profiler``, on by default as in TF Serving).

``tf.profiler.experimental.client.trace("grpc://host:8500", logdir, duration_ms)``
sends ``Profile``: the process is traced for ``duration_ms`` (requests keep being
served meanwhile: the wait is on the event loop) and the trace comes back in the
response's ``tool_data`` as ``xplane.pb``, which the client writes under
``logdir/plugins/profile/<session>/`` for TensorBoard. ``Terminate`` ends a
session early. ``Monitor`` and continuous profiling are not served (UNIMPLEMENTED),
as in TensorFlow's own profiler server.

TensorFlow ships no Python messages for this service; the few fields used are
declared here, in a private descriptor pool (ProfileOptions and XSpace travel as bytes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from pyserving.core.errors import InvalidArgumentError, ServingError
from pyserving.protocols.grpc.errors import abort

SERVICE = "tensorflow.ProfilerService"
XPLANE_TOOL = "xplane.pb"
# TF's profiler server caps nothing; a day keeps a typo from holding the profiler for ever.
MAX_DURATION_MS = 24 * 3600 * 1000


class Session(Protocol):
    def stop(self) -> bytes: ...


StartSession = Callable[[bytes], Session]

_T = descriptor_pb2.FieldDescriptorProto
_MESSAGES: dict[
    str, list[tuple[str, int, int, bool, str | None]]
] = {  # name -> [(field, number, type, repeated, message type)]
    "ProfileRequest": [
        ("duration_ms", 1, _T.TYPE_UINT64, False, None),
        ("max_events", 2, _T.TYPE_UINT64, False, None),
        ("tools", 3, _T.TYPE_STRING, True, None),
        ("opts", 4, _T.TYPE_BYTES, False, None),  # tensorflow.ProfileOptions
        ("repository_root", 5, _T.TYPE_STRING, False, None),
        ("session_id", 6, _T.TYPE_STRING, False, None),
        ("host_name", 7, _T.TYPE_STRING, False, None),
    ],
    "ProfileToolData": [("name", 1, _T.TYPE_STRING, False, None), ("data", 2, _T.TYPE_BYTES, False, None)],
    "ProfileResponse": [
        ("tool_data", 6, _T.TYPE_MESSAGE, True, "ProfileToolData"),
        ("empty_trace", 7, _T.TYPE_BOOL, False, None),
    ],
    "TerminateRequest": [("session_id", 1, _T.TYPE_STRING, False, None)],
    "TerminateResponse": [],
}


def _message_classes() -> dict[str, Any]:
    package = "pyserving.profiler"
    file = descriptor_pb2.FileDescriptorProto(name="pyserving/profiler_service.proto", package=package, syntax="proto3")
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field, number, kind, repeated, type_name in fields:
            message.field.add(
                name=field,
                number=number,
                type=kind,
                label=_T.LABEL_REPEATED if repeated else _T.LABEL_OPTIONAL,
                type_name=f".{package}.{type_name}" if type_name else None,
            )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}")) for name in _MESSAGES
    }


MESSAGES = _message_classes()


class ProfilerService:
    """Event-loop only; the profiler starts and stops on a worker thread."""

    def __init__(self, start_session: StartSession) -> None:
        self._start_session = start_session
        self._terminate: dict[str, asyncio.Event] = {}

    async def Profile(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            if not 0 < request.duration_ms <= MAX_DURATION_MS:
                raise InvalidArgumentError(
                    f"duration_ms must be between 1 and {MAX_DURATION_MS}, not {request.duration_ms}"
                )
            session = await asyncio.to_thread(self._start_session, request.opts)
            stop = self._terminate.setdefault(request.session_id, asyncio.Event())
            try:
                await asyncio.wait_for(stop.wait(), request.duration_ms / 1000)
            except TimeoutError:
                pass
            finally:
                self._terminate.pop(request.session_id, None)
                trace = await asyncio.shield(asyncio.to_thread(session.stop))
        except ServingError as error:
            await abort(context, error)
        response = MESSAGES["ProfileResponse"](empty_trace=not trace)
        if trace:
            response.tool_data.add(name=XPLANE_TOOL, data=trace)
        return response

    async def Terminate(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        stop = self._terminate.get(request.session_id)
        if stop is not None:
            stop.set()
        return MESSAGES["TerminateResponse"]()


def profiler_handler(service: ProfilerService) -> grpc.GenericRpcHandler:
    def unary(method: Callable[..., Any], request: str, response: str) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(
            method,
            request_deserializer=MESSAGES[request].FromString,
            response_serializer=MESSAGES[response].SerializeToString,
        )

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Profile": unary(service.Profile, "ProfileRequest", "ProfileResponse"),
            "Terminate": unary(service.Terminate, "TerminateRequest", "TerminateResponse"),
        },
    )
