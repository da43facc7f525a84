"""One error shape for every gateway failure, and the upstream-code to HTTP table.

Why: callers of the gateway may not be Python and may not know TF Serving;
they get ``{"error": {"code", "message", "request_id"}}`` with a stable short
``code`` to switch on, whatever went wrong and wherever (auth, a transform,
a model server). Tracebacks never reach the caller; the request id ties the
response to the log line that has them.
"""

from __future__ import annotations

import orjson

#: Upstream (canonical gRPC) codes to (HTTP status, gateway error code).
#: Codes not listed become 502 ``upstream_error``.
UPSTREAM_STATUS: dict[str, tuple[int, str]] = {
    "UNAVAILABLE": (503, "upstream_unavailable"),
    "DEADLINE_EXCEEDED": (504, "upstream_timeout"),
    "NOT_FOUND": (503, "model_unavailable"),
    "RESOURCE_EXHAUSTED": (503, "upstream_overloaded"),
    "INVALID_ARGUMENT": (400, "invalid_argument"),
    "FAILED_PRECONDITION": (400, "invalid_argument"),
    "OUT_OF_RANGE": (400, "invalid_argument"),
}


class GatewayError(Exception):
    """An error the caller sees: HTTP status, short code, human message, extra headers.

    Immutable after construction, so safe to share between tasks.
    """

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"GatewayError({self.status}, {self.code!r}, {self.message!r})"


def bad_request(message: str) -> GatewayError:
    return GatewayError(400, "bad_request", message)


def from_upstream(code: str, message: str, upstream: str) -> GatewayError:
    """An upstream failure as the caller sees it (message names the upstream, not its address)."""
    status, short = UPSTREAM_STATUS.get(code, (502, "upstream_error"))
    headers = {"Retry-After": "1"} if status == 503 else None
    return GatewayError(status, short, f"upstream {upstream!r}: {message}", headers)


def error_body(error: GatewayError, request_id: str) -> bytes:
    return orjson.dumps({"error": {"code": error.code, "message": error.message, "request_id": request_id}})
