"""classify/regress inputs: ``tf.train.Example`` features from plain Python values.

An example is a dict ``feature name -> value``; a value is a scalar or a list/array of
``float`` (float_list), ``int``/``bool`` (int64_list) or ``str``/``bytes`` (bytes_list).
REST sends them as TF Serving's JSON examples (bytes as ``{"b64": ...}``); gRPC as Example protos.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["Examples", "to_json", "to_input_proto"]

Examples = Iterable[Mapping[str, Any]]


def _values(value: Any) -> tuple[str, list[Any]]:
    """(kind, values) of one feature: kind is "float", "int64" or "bytes"."""
    if isinstance(value, np.ndarray):
        items = value.ravel().tolist()
        kind = {"f": "float", "i": "int64", "u": "int64", "b": "int64"}.get(value.dtype.kind, "bytes")
        return kind, items
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    items = [v.item() if isinstance(v, np.generic) else v for v in items]
    if not items:
        return "float", []
    first = items[0]
    if isinstance(first, (str, bytes)):
        return "bytes", items
    if isinstance(first, float) or any(isinstance(v, float) for v in items):
        return "float", [float(v) for v in items]
    if isinstance(first, (int, bool)):
        return "int64", [int(v) for v in items]
    raise TypeError(f"feature value {first!r} is not a float, int, str or bytes")


def _json_value(kind: str, items: list[Any]) -> list[Any]:
    if kind != "bytes":
        return items
    return [{"b64": base64.b64encode(v).decode("ascii")} if isinstance(v, bytes) else v for v in items]


def _json_features(example: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in example.items():
        kind, items = _values(value)
        out[name] = _json_value(kind, items)
    return out


def to_json(examples: Examples, context: Mapping[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"examples": [_json_features(e) for e in examples]}
    if context is not None:
        body["context"] = _json_features(context)
    return body


def _fill(example: Any, features: Mapping[str, Any]) -> Any:
    feature_map = example.features.feature
    for name, value in features.items():
        kind, items = _values(value)
        feature = feature_map[name]
        if kind == "float":
            feature.float_list.value.extend(items)
        elif kind == "int64":
            feature.int64_list.value.extend(items)
        else:
            feature.bytes_list.value.extend(v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in items)
    return example


def to_input_proto(examples: Examples, context: Mapping[str, Any] | None, out: Any) -> None:
    """Fills a ``tensorflow.serving.Input`` (``out``) with the examples (and context)."""
    if context is None:
        target = out.example_list.examples
    else:
        _fill(out.example_list_with_context.context, context)
        target = out.example_list_with_context.examples
    for features in examples:
        _fill(target.add(), features)
