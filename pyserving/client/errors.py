"""Typed errors that carry the server's status code and message, the same for REST and gRPC.

Why one hierarchy: code written against one transport keeps working on the other. A REST
answer's HTTP status is mapped back to the gRPC code of TF Serving's table (400 ->
INVALID_ARGUMENT, 404 -> NOT_FOUND, 503 -> UNAVAILABLE, 504 -> DEADLINE_EXCEEDED, ...).
"""

from __future__ import annotations

import json

import grpc

__all__ = [
    "ServingError",
    "InvalidArgument",
    "NotFound",
    "FailedPrecondition",
    "ResourceExhausted",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DeadlineExceeded",
    "error_for",
    "from_http",
    "from_rpc_error",
]

_C = grpc.StatusCode

# TF Serving's absl code -> HTTP table (docs/tfserving-api.md §2.2), read backwards. 400 is
# INVALID_ARGUMENT although FAILED_PRECONDITION and OUT_OF_RANGE also answer 400.
HTTP_TO_CODE: dict[int, grpc.StatusCode] = {
    400: _C.INVALID_ARGUMENT,
    401: _C.UNAUTHENTICATED,
    403: _C.PERMISSION_DENIED,
    404: _C.NOT_FOUND,
    409: _C.ABORTED,
    429: _C.RESOURCE_EXHAUSTED,
    499: _C.CANCELLED,
    500: _C.INTERNAL,
    501: _C.UNIMPLEMENTED,
    503: _C.UNAVAILABLE,
    504: _C.DEADLINE_EXCEEDED,
}


class ServingError(Exception):
    """A call the server (or the connection to it) failed.

    ``code`` is a :class:`grpc.StatusCode`; ``message`` the server's text; ``http_status``
    the HTTP status of a REST answer (None over gRPC or when no answer came).
    """

    code: grpc.StatusCode = _C.UNKNOWN

    def __init__(self, message: str, code: grpc.StatusCode | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.http_status = http_status

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


class InvalidArgument(ServingError):
    code = _C.INVALID_ARGUMENT


class NotFound(ServingError):
    code = _C.NOT_FOUND


class FailedPrecondition(ServingError):
    code = _C.FAILED_PRECONDITION


class ResourceExhausted(ServingError):
    code = _C.RESOURCE_EXHAUSTED


class Unimplemented(ServingError):
    code = _C.UNIMPLEMENTED


class Internal(ServingError):
    code = _C.INTERNAL


class Unavailable(ServingError):
    code = _C.UNAVAILABLE


class DeadlineExceeded(ServingError):
    code = _C.DEADLINE_EXCEEDED


_BY_CODE: dict[grpc.StatusCode, type[ServingError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        FailedPrecondition,
        ResourceExhausted,
        Unimplemented,
        Internal,
        Unavailable,
        DeadlineExceeded,
    )
}


def error_for(code: grpc.StatusCode, message: str, http_status: int | None = None) -> ServingError:
    """The most specific :class:`ServingError` subclass for ``code``."""
    return _BY_CODE.get(code, ServingError)(message, code, http_status)


def from_http(status: int, body: bytes) -> ServingError:
    """A non-200 REST answer: its JSON ``{"error": ...}`` message (or the raw body) and mapped code."""
    message = body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        message = parsed["error"]
    code = HTTP_TO_CODE.get(status, _C.INTERNAL if status >= 500 else _C.UNKNOWN)
    return error_for(code, message or f"HTTP {status}", status)


def from_rpc_error(error: grpc.RpcError) -> ServingError:
    """A failed gRPC call (the code and details the server sent, or grpcio's own)."""
    code = error.code() if hasattr(error, "code") else _C.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    return error_for(code, details or "", None)
