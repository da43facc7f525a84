"""Registers a servicer's unary methods with request decoding that never raises.

Why not the generated ``add_*Servicer_to_server``: with their deserializers grpcio answers a
request whose bytes do not parse (truncated, invalid UTF-8 in a string field, junk in a nested
message) with UNKNOWN ``Unexpected <class 'google.protobuf.message.DecodeError'>: ...``. gRPC
servers, TF Serving's included, answer a request they cannot deserialize with INTERNAL. Here
such bytes become an :class:`UndecodableRequest`, which ``errors.rpc`` answers with INTERNAL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor


@dataclass(frozen=True)
class UndecodableRequest:
    """What a method receives instead of a request whose bytes did not parse."""

    message_type: str
    reason: str

    def __str__(self) -> str:
        return f"Failed to parse the request as {self.message_type}: {self.reason}"


def safe_deserializer(message_class: Any) -> Callable[[bytes], Any]:
    parse = message_class.FromString
    name = message_class.DESCRIPTOR.full_name

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception as exc:  # noqa: BLE001 - DecodeError, or anything the parser raises
            return UndecodableRequest(name, str(exc) or type(exc).__name__)

    return deserialize


def add_service(server: grpc.aio.Server, service: ServiceDescriptor, servicer: Any) -> None:
    """Every unary-unary method of ``service``, served by the same-named method of ``servicer``."""
    handlers = {}
    for method in service.methods:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=safe_deserializer(request_class),
            response_serializer=response_class.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
