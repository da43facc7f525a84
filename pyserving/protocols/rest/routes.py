"""TF Serving's REST routes (http_rest_api_util.cc): case-insensitive, names ``[^/:]+``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from pyserving.core.errors import InvalidArgumentError

_POST = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_GET = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Route:
    """A matched ``/v1/models`` request; ``action`` is predict/classify/regress/status/metadata."""

    action: str
    model: str
    version: int | None
    label: str | None


class MalformedRequest(InvalidArgumentError):
    pass


def match(method: str, path: str) -> Route:
    """Matches ``path`` (still percent-encoded) or raises TF Serving's 400 errors."""
    if method == "POST":
        found = _POST.fullmatch(path)
        # The regex ignores case but the verb comparison does not (":PREDICT" is malformed).
        if found is None or found.group(4) not in ("classify", "regress", "predict"):
            raise _malformed(method, path)
        name, version, label, verb = found.groups()
        return Route(verb, unquote(name), _version(version), _label(label))
    if method == "GET":
        found = _GET.fullmatch(path)
        if found is None:
            raise _malformed(method, path)
        name, version, label, metadata = found.groups()
        if not name:
            raise InvalidArgumentError("Missing model name in request.")
        action = "metadata" if metadata == "metadata" else "status"
        return Route(action, unquote(name), _version(version), _label(label))
    raise _malformed(method, path)


def _malformed(method: str, path: str) -> MalformedRequest:
    return MalformedRequest(f"Malformed request: {method} {unquote(path)}")


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    if value > _INT64_MAX:
        raise InvalidArgumentError(f"Failed to convert version: {text} to numeric.")
    return value


def _label(text: str | None) -> str | None:
    return None if text is None else unquote(text)
