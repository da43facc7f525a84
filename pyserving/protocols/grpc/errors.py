"""StatusCode to grpc.StatusCode, and the one place RPC failures become gRPC statuses.

Why one decorator: every servicer method must turn a ServingError into the same
status TF Serving would send (code by number, message cut at 1024 bytes plus
"...TRUNCATED", as ``ToGRPCStatus`` does), and anything unexpected into INTERNAL
rather than a dropped stream.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc

from pyserving.core.errors import ServingError, StatusCode, as_serving_error
from pyserving.protocols.grpc.handlers import UndecodableRequest

logger = logging.getLogger("pyserving.grpc")

GRPC_STATUS: dict[StatusCode, grpc.StatusCode] = {code: grpc.StatusCode[code.name] for code in StatusCode}

MESSAGE_LIMIT = 1024  # bytes, ToGRPCStatus's kErrorMessageLimit

R = TypeVar("R")


def grpc_status(code: StatusCode) -> grpc.StatusCode:
    return GRPC_STATUS.get(code, grpc.StatusCode.UNKNOWN)


def truncate(message: str) -> str:
    raw = message.encode("utf-8")
    if len(raw) <= MESSAGE_LIMIT:
        return message
    return raw[:MESSAGE_LIMIT].decode("utf-8", "ignore") + "...TRUNCATED"


async def abort(context: grpc.aio.ServicerContext, error: ServingError) -> NoReturn:
    await context.abort(grpc_status(error.code), truncate(error.message))
    raise AssertionError("unreachable: context.abort raises")  # pragma: no cover


Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]


def rpc(method: Handler[R]) -> Handler[R]:
    """Wraps a servicer method: ServingError -> its status, anything else -> INTERNAL.

    A request whose bytes did not parse (``handlers.UndecodableRequest``) is INTERNAL too,
    as gRPC servers answer a request they cannot deserialize.
    """

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        if isinstance(request, UndecodableRequest):
            await abort(context, ServingError(str(request), StatusCode.INTERNAL))
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except ServingError as exc:
            await abort(context, exc)
        except Exception as exc:  # the edge: never let a bug drop the stream
            logger.exception("Unexpected error in %s", method.__name__)
            await abort(context, as_serving_error(exc))

    return wrapper
