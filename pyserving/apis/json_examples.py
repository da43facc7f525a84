"""Classify/regress REST bodies (``examples`` and ``context``) to serialized tf.Examples.

Typing follows TF Serving: an integer literal becomes an int64_list, a decimal
number a float_list, a string or ``{"b64": ...}`` a bytes_list, true/false int64.
"""

from __future__ import annotations

from typing import Any

from pyserving.apis.json_values import decode_b64, is_b64, json_type_name, render
from pyserving.core.errors import InvalidArgumentError

_KINDS = {"bytes": "bytes_list", "float": "float_list", "int64": "int64_list"}


def examples_from_body(doc: dict[str, Any], method: str) -> list[bytes]:
    """The serialized examples of a classify/regress body, context merged into each."""
    if "examples" not in doc:
        raise InvalidArgumentError(
            f"JSON Value: {render(doc)} When method is classify, key 'examples' is expected and was not found"
        )
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise InvalidArgumentError(f"JSON Value: {render(doc)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise InvalidArgumentError(f"JSON Value: {render(doc)} 'examples' value is an empty array")
    prefix = b""
    if "context" in doc:
        prefix = _example(doc["context"]).SerializeToString()
    return [prefix + _example(item).SerializeToString() for item in examples]


def _example(value: Any) -> Any:
    from pyserving.protos.tensorflow.core.example import example_pb2

    if not isinstance(value, dict):
        raise InvalidArgumentError(f"Example must be JSON object but got JSON {json_type_name(value)}")
    example = example_pb2.Example()
    features = example.features.feature
    for name, feature_value in value.items():
        values = feature_value if isinstance(feature_value, list) else [feature_value]
        kind, converted = _feature_values(name, values)
        feature = features[name]
        if kind is not None:
            getattr(feature, _KINDS[kind]).value.extend(converted)
    return example


def _feature_values(name: str, values: list[Any]) -> tuple[str | None, list[Any]]:
    kind: str | None = None
    converted: list[Any] = []
    for value in values:
        item: int | float | bytes
        if isinstance(value, bool):
            this, item = "int64", int(value)
        elif isinstance(value, int):
            if value >= 2**63:
                raise InvalidArgumentError(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
            this, item = "int64", value
        elif isinstance(value, float):
            this, item = "float", value
        elif isinstance(value, str):
            this, item = "bytes", value.encode("utf-8")
        elif is_b64(value):
            this, item = "bytes", decode_b64(value)
        else:
            raise InvalidArgumentError(
                f"Feature: {name} has element with unexpected JSON type: {json_type_name(value)}"
            )
        if kind is None:
            kind = this
        elif this != kind:
            # int64 literals may follow floats ("[1.5, 2]"), never the reverse.
            if kind == "float" and this == "int64":
                item = float(item)
            else:
                raise InvalidArgumentError(f"Unexpected element type in feature: {name} expecting type: {kind}")
        converted.append(item)
    return kind, converted
