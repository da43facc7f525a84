"""Canonical status codes and the serving error hierarchy.

Errors are defined once here and translated at the edges (REST status codes in
``protocols/rest/errors.py``, gRPC codes in ``protocols/grpc/errors.py``)::

    ServingError                 any failure a client can see, with a StatusCode
     +-- ServableNotFoundError   NOT_FOUND: no such model/version loaded
     +-- InvalidArgumentError    INVALID_ARGUMENT: the request is wrong
     +-- FailedPreconditionError FAILED_PRECONDITION
     +-- UnimplementedError      UNIMPLEMENTED
     +-- ResourceExhaustedError  RESOURCE_EXHAUSTED
     +-- UnavailableError        UNAVAILABLE
     +-- DeadlineExceededError   DEADLINE_EXCEEDED
     +-- InternalError           INTERNAL

``as_serving_error`` is the one mapping of any other exception (INTERNAL, naming its type).
"""

from __future__ import annotations

import enum


class StatusCode(enum.IntEnum):
    """absl / gRPC canonical codes; the numbers are the wire values."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class ServingError(Exception):
    """A failure with a canonical code and a client-visible message."""

    code: StatusCode = StatusCode.UNKNOWN
    # Whether a failed load may succeed when the manager tries again (a missing framework will not).
    retryable: bool = True

    def __init__(self, message: str, code: StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.name}: {self.message!r})"


class ServableNotFoundError(ServingError):
    code = StatusCode.NOT_FOUND


class InvalidArgumentError(ServingError):
    code = StatusCode.INVALID_ARGUMENT


class FailedPreconditionError(ServingError):
    code = StatusCode.FAILED_PRECONDITION


class PermissionDeniedError(ServingError):
    code = StatusCode.PERMISSION_DENIED


class UnimplementedError(ServingError):
    code = StatusCode.UNIMPLEMENTED


class ResourceExhaustedError(ServingError):
    code = StatusCode.RESOURCE_EXHAUSTED


class UnavailableError(ServingError):
    code = StatusCode.UNAVAILABLE


class DeadlineExceededError(ServingError):
    code = StatusCode.DEADLINE_EXCEEDED


class InternalError(ServingError):
    code = StatusCode.INTERNAL


def as_serving_error(exc: BaseException) -> ServingError:
    """A ServingError as it is; anything else is a bug, not a client's mistake: INTERNAL, naming its type.

    The one mapping of unexpected exceptions: a loader that raised (the manager keeps it as the
    version's error), and the REST and gRPC edges (500 / INTERNAL ``ZeroDivisionError: ...``).
    """
    if isinstance(exc, ServingError):
        return exc
    return InternalError(f"{type(exc).__name__}: {exc}")
