"""The ``/v2`` routes (``../shared/docs/oip-v2.md`` §1.1): exact paths and one model regex.

Why a table of (method, action): a known path with the wrong method answers 405 and an unknown
path 404, both with a JSON body (tritonclient cannot read Starlette-style plain-text errors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from pyserving.core.errors import ServingError, StatusCode

_MODEL = re.compile(
    r"/v2/models/([^/]+)(?:/versions/([^/]+))?"
    r"(?:/(ready|infer|stats|config|trace/setting|generate|generate_stream))?/?"
)
_REPOSITORY_MODEL = re.compile(r"/v2/repository/models/([^/]+)/(load|unload)/?")
_EXACT = {
    "/v2": ("GET", "server_metadata"),
    "/v2/": ("GET", "server_metadata"),
    "/v2/health/live": ("GET", "live"),
    "/v2/health/ready": ("GET", "server_ready"),
    "/v2/models/stats": ("GET", "all_stats"),
    "/v2/repository/index": ("POST", "repository_index"),
    "/v2/logging": ("*", "logging"),
    "/v2/trace/setting": ("*", "trace"),
}
_ACTION_METHODS = {
    None: "GET",  # metadata
    "ready": "GET",
    "stats": "GET",
    "config": "GET",
    "infer": "POST",
    "trace/setting": "*",
    "generate": "*",
    "generate_stream": "*",
}
#: Triton-only surfaces: 501 with a message naming the extension (§6.2).
UNIMPLEMENTED = {
    "logging": "the logging extension is not supported: use the server's logging flags",
    "trace": "the trace extension is not supported: tracing is not available on this server",
    "trace/setting": "the trace extension is not supported: tracing is not available on this server",
    "shared_memory": (
        "the shared-memory extensions (system and CUDA shared memory) are not supported: "
        "send tensor data in the request (binary tensor data extension)"
    ),
    "generate": "the generate extension is not supported",
    "generate_stream": "the generate extension is not supported",
    "repository_name": "'repository_name' specification is not supported: use /v2/repository/index and "
    "/v2/repository/models/{name}/load|unload",
}


@dataclass(frozen=True)
class OipRoute:
    """A matched ``/v2`` request: ``action`` names the handler; model and version as sent."""

    action: str
    model: str = ""
    version: str = ""


# Model routes already matched, by (method, path): the regex and unquoting once per path, not per request.
_MATCHED: dict[tuple[str, str], OipRoute] = {}


def match(method: str, path: str) -> OipRoute:
    """The route for ``path`` (still percent-encoded), or NOT_FOUND / a 405 error."""
    route = _MATCHED.get((method, path))
    if route is not None:
        return route
    exact = _EXACT.get(path)
    if exact is not None:
        _check_method(method, exact[0], path)
        return OipRoute(exact[1])
    found = _MODEL.fullmatch(path)
    if found is not None:
        name, version, action = found.groups()
        _check_method(method, _ACTION_METHODS[action], path)
        route = OipRoute(action or "metadata", unquote(name), unquote(version or ""))
        if len(_MATCHED) >= 1024:  # clients may send any path: keep the table small
            _MATCHED.clear()
        _MATCHED[(method, path)] = route
        return route
    found = _REPOSITORY_MODEL.fullmatch(path)
    if found is not None:
        _check_method(method, "POST", path)
        return OipRoute(f"repository_{found.group(2)}", unquote(found.group(1)))
    if path.startswith(("/v2/systemsharedmemory", "/v2/cudasharedmemory")):
        return OipRoute("shared_memory")
    if path.startswith("/v2/repository/"):
        return OipRoute("repository_name")
    raise ServingError(f"Not found: {method} {_shown(path)}", StatusCode.NOT_FOUND)


class MethodNotAllowed(ServingError):
    def __init__(self, message: str) -> None:
        super().__init__(message, StatusCode.UNIMPLEMENTED)


def _check_method(method: str, allowed: str, path: str) -> None:
    if allowed != "*" and method != allowed:
        raise MethodNotAllowed(f"Method {method} is not allowed on {_shown(path)}; use {allowed}")


def _shown(path: str) -> str:
    shown = unquote(path)
    return shown if len(shown) <= 256 else f"{shown[:256]}... ({len(shown)} characters)"
