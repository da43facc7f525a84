"""The calls a protocol makes, separate from how they are sent (sync or asyncio).

Why: each protocol method is a generator that yields :class:`Rest` or :class:`Rpc` calls
and receives their answers, so one implementation serves :class:`~pyserving.client.Client`
and :class:`~pyserving.client.AsyncClient` alike.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np

from pyserving.client.errors import from_http
from pyserving.client.http import Response

__all__ = ["Rest", "Rpc", "Plan", "ok_json", "model_path", "as_arrays"]


@dataclass
class Rest:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] | None = None
    timeout: float | None = None


@dataclass
class Rpc:
    method: str  # "/package.Service/Method"
    request: Any
    response_type: Any
    timeout: float | None = None


Plan = Generator[Any, Any, Any]


def ok_json(response: Response) -> Any:
    """The JSON body of a 200 answer; a typed :class:`ServingError` for anything else."""
    if response.status != 200:
        raise from_http(response.status, response.body)
    return json.loads(response.body) if response.body else None


def model_path(prefix: str, model: str, version: int | None, version_label: str | None = None) -> str:
    path = f"{prefix}/models/{quote(model, safe='')}"
    if version is not None and version_label is not None:
        raise ValueError("give a version or a version_label, not both")
    if version is not None:
        path += f"/versions/{int(version)}"
    elif version_label is not None:
        path += f"/labels/{quote(version_label, safe='')}"
    return path


def as_arrays(inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Inputs as numpy arrays; ``str``/``bytes`` scalars and lists of them as object arrays."""
    out = {}
    for name, value in inputs.items():
        if isinstance(value, np.ndarray):
            out[name] = value
        elif isinstance(value, (str, bytes)):
            scalar = np.empty((), dtype=object)
            scalar[()] = value
            out[name] = scalar
        else:
            array = np.asarray(value)
            out[name] = array.astype(object) if array.dtype.kind in "SU" else array
    return out
