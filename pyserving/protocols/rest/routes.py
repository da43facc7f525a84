"""TF Serving's REST routes (http_rest_api_util.cc): case-insensitive, names ``[^/:]+``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from pyserving.core.errors import InvalidArgumentError

_POST = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE | re.ASCII,  # RE2's \d: ASCII digits only
)
_GET = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE | re.ASCII,  # RE2's \d: ASCII digits only
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
    shown = unquote(path)
    if len(shown) > 256:
        shown = f"{shown[:256]}... ({len(shown)} characters)"
    return MalformedRequest(f"Malformed request: {method} {shown}")


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    # Checked before int(): Python refuses to convert more than 4,300 digits (a ValueError).
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(_INT64_MAX)) or int(digits) > _INT64_MAX:
        shown = text if len(text) <= 64 else f"{text[:64]}... ({len(text)} digits)"
        raise InvalidArgumentError(f"Failed to convert version: {shown} to numeric.")
    return int(digits)


def _label(text: str | None) -> str | None:
    return None if text is None else unquote(text)
