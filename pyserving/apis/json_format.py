"""TF Serving's REST JSON: request bodies to tensors, results to response bodies.

Row format (``instances``) and columnar format (``inputs``), ``{"b64": ...}``
binary values, classify/regress ``examples``. Error texts follow TF Serving's
(``shared/docs/tfserving-api.md`` section 2). Imports no TensorFlow.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from pyserving.apis.json_numeric import numeric_body
from pyserving.apis.json_values import has_non_finite, is_b64, jsonable, render, to_array
from pyserving.core.errors import InvalidArgumentError
from pyserving.tensors.shapes import dims_text
from pyserving.tensors.signature import Signature

_JSON_CONSTANTS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def parse_json(body: bytes) -> Any:
    """Parses a request body as TF Serving's rapidjson does.

    NaN/Infinity tokens are accepted, parsing stops after the first document
    (trailing bytes are ignored) and a repeated key keeps its *first* value. orjson
    parses every body; the rare ones it refuses or whose keys repeat are parsed again
    by the standard library with those rules.
    """
    if not body or not body.strip():
        raise InvalidArgumentError("JSON Parse error: The document is empty")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        reason = str(exc)
        if "depth limit" in reason:  # orjson's 1024 levels; json's decoder would recurse past Python's stack
            raise InvalidArgumentError(
                f"JSON Parse error: Nesting too deep. at offset: {exc.pos} (at most 1024 levels)"
            ) from None
        if "surrogate" in reason:  # a lone UTF-16 half: no string can hold it
            raise InvalidArgumentError(
                f"JSON Parse error: The surrogate pair in string is invalid. at offset: {exc.pos}"
            ) from None
        return _parse_leniently(body, exc.pos)
    if isinstance(doc, (dict, list)) and _keys_may_repeat(body, doc):
        return _parse_leniently(body, 0)
    return doc


def _keys_may_repeat(body: bytes, doc: Any) -> bool:
    """True when ``body`` may hold a repeated key, which orjson resolved to the last value.

    Every object member of the body has one ':' outside strings. When the body holds no
    more ':'s than ``doc`` has members (counted cheaply, never more than there are), no
    member was dropped. Otherwise the ':'s may be in strings: orjson's re-encoding keeps
    those, so equal counts again rule a repeat out, unless an escaped ``\\u003a`` made one.
    """
    colons = body.count(b":")
    if colons < 2 or colons == _members(doc):
        return False
    if b"\\u003a" in body or b"\\u003A" in body:
        return True
    return orjson.dumps(doc).count(b":") != colons


def _members(value: Any) -> int:
    """Members of the objects in ``value``, or fewer, never more (fewer only sends a body to the
    slower check). Cheap on TF Serving's bodies: a list is judged by its first item (a list of
    numeric lists holds no object), and a list of objects is counted at C speed, entering only
    the keys whose first value holds objects."""
    if type(value) is dict:
        return len(value) + sum(_members(item) for item in value.values() if type(item) in _CONTAINERS)
    if type(value) is not list or not value:
        return 0
    first = value[0]
    if type(first) is list:
        return sum(_members(item) for item in value) if _members(first) else 0
    if type(first) is not dict or list(map(type, value)).count(dict) != len(value):
        return 0
    count = sum(map(len, value))
    for key, item in first.items():
        if type(item) is dict or (type(item) is list and _members(item)):
            count += sum(_members(row.get(key)) for row in value)
    return count


_CONTAINERS = (dict, list)


def _parse_leniently(body: bytes, error_offset: int) -> Any:
    decoder = json.JSONDecoder(parse_constant=_JSON_CONSTANTS.__getitem__, object_pairs_hook=_first_value)
    try:
        text = body.decode("utf-8")
        return decoder.raw_decode(text, len(text) - len(text.lstrip(" \t\n\r")))[0]
    except (ValueError, KeyError, RecursionError):
        raise InvalidArgumentError(f"JSON Parse error: Invalid value. at offset: {error_offset}") from None


def _first_value(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """rapidjson's FindMember finds a repeated key's first member."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        obj.setdefault(key, value)
    return obj


def parse_object(body: bytes) -> dict[str, Any]:
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise InvalidArgumentError(f"JSON Value: {render(doc)} Is not object")
    return doc


def signature_name_of(doc: dict[str, Any]) -> str:
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise InvalidArgumentError(
            f"JSON Value: {render(doc)} not formatted correctly. 'signature_name' key must be a string value."
        )
    return name


@dataclass(frozen=True)
class PredictTensors:
    inputs: dict[str, np.ndarray]
    row_format: bool


# Below this size orjson + numpy is as fast as simdjson and the fast path's checks cost more.
NUMERIC_MIN_BYTES = 1024


class PredictBody:
    """A predict request body: numeric bodies take simdjson's fast path, all others the general one."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._numeric = numeric_body(body) if len(body) >= NUMERIC_MIN_BYTES else None
        self._doc: dict[str, Any] | None = None
        if self._numeric is not None:
            self.signature_name = self._numeric.signature_name
        else:
            self._doc = parse_object(body)
            self.signature_name = signature_name_of(self._doc)

    def tensors(self, signature: Signature) -> PredictTensors:
        numeric, self._numeric = self._numeric, None  # its parser's buffers go now, not after the run
        if numeric is not None:
            inputs = numeric.tensors(signature)
            if inputs is not None:
                return PredictTensors(inputs, numeric.row_format)
            self._doc = parse_object(self._body)
        return predict_inputs(self._doc, signature)  # type: ignore[arg-type]


def predict_inputs(doc: dict[str, Any], signature: Signature) -> PredictTensors:
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise InvalidArgumentError(
            f"JSON Value: {render(doc)} Not formatted correctly expecting only one of "
            "'inputs' or 'instances' keys to exist "
        )
    if has_instances:
        return PredictTensors(_row_inputs(doc["instances"], doc, signature), True)
    if has_inputs:
        return PredictTensors(_columnar_inputs(doc["inputs"], signature), False)
    raise InvalidArgumentError("Missing 'inputs' or 'instances' key")


def _row_inputs(instances: Any, doc: dict[str, Any], signature: Signature) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise InvalidArgumentError(f"JSON Value: {render(doc)} Expecting 'instances' to be an list/array")
    if not instances:
        raise InvalidArgumentError(f"JSON Value: {render(doc)} No values in 'instances' array")
    specs = signature.inputs
    first = instances[0]
    named = isinstance(first, dict) and not is_b64(first)
    if len(specs) > 1 and not named:
        raise InvalidArgumentError(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )
    if not named:
        ((alias, spec),) = specs.items()
        for i, item in enumerate(instances):
            if isinstance(item, dict) and not is_b64(item):
                raise InvalidArgumentError(f"Expecting value/list but got object at item {i} of input list")
        return {alias: _batch(instances, alias, spec.dtype)}
    expected = sorted(specs)
    columns: dict[str, list[Any]] = {alias: [] for alias in specs}
    for i, item in enumerate(instances):
        if not isinstance(item, dict) or is_b64(item):
            kind = "list" if isinstance(item, list) else "value"
            raise InvalidArgumentError(f"Expecting object but got {kind} at item {i} of input list")
        for key in item:
            if key not in specs:
                raise InvalidArgumentError(
                    f"Failed to process element: {i} key: {key} of 'instances' list. "
                    f"Error: INVALID_ARGUMENT: JSON object: does not have named input: {key}"
                )
        if len(item) != len(specs):
            raise InvalidArgumentError(
                f"Failed to process element: {i} of 'instances' list. JSON object: "
                f"{render(item)} keys must be equal to: {','.join(expected)}"
            )
        for alias, column in columns.items():
            column.append(item[alias])
    return {alias: _batch(columns[alias], alias, specs[alias].dtype) for alias in specs}


def _batch(values: list[Any], alias: str, dtype: int) -> np.ndarray:
    """Stacks per-instance values into one tensor with a leading batch dimension."""
    try:
        array = to_array(values, dtype)
        if array.ndim >= 1 and array.shape[0] == len(values):
            return array
    except InvalidArgumentError:
        pass
    # Name the instance at fault, as TF Serving does.
    first_shape: tuple[int, ...] | None = None
    for i, value in enumerate(values):
        try:
            element = to_array(value, dtype)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(
                f"Failed to process element: {i} of 'instances' list. Error: INVALID_ARGUMENT: {exc.message}"
            ) from None
        if first_shape is None:
            first_shape = element.shape
        elif element.shape != first_shape:
            if element.size != int(np.prod(first_shape)):
                detail = f"Expecting tensor size: {int(np.prod(first_shape))} but got: {element.size}"
            else:
                detail = f"Expecting shape {dims_text(first_shape)} but got: {dims_text(element.shape)}"
            raise InvalidArgumentError(
                f"Failed to process element: {i} of 'instances' list. Error: INVALID_ARGUMENT: {detail}"
            )
    raise InvalidArgumentError(f"Failed to process 'instances' for input: {alias}")


def _columnar_inputs(value: Any, signature: Signature) -> dict[str, np.ndarray]:
    specs = signature.inputs
    if not isinstance(value, dict) or is_b64(value):
        if len(specs) != 1:
            raise InvalidArgumentError(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        ((alias, spec),) = specs.items()
        return {alias: to_array(value, spec.dtype)}
    tensors = {}
    for alias, spec in specs.items():
        if alias not in value:
            raise InvalidArgumentError(f"Missing named input: {alias} in 'inputs' object.")
        tensors[alias] = to_array(value[alias], spec.dtype)
    return tensors


def predict_response(outputs: dict[str, Any], row_format: bool) -> bytes:
    if not outputs:
        raise InvalidArgumentError("Cannot convert empty tensor map to JSON")
    if row_format:
        batch = None
        for alias, array in outputs.items():
            shape = np.shape(array)
            if not shape:
                raise InvalidArgumentError(f"Tensor name: {alias} has no shape information ")
            if batch is None:
                batch = shape[0]
            elif shape[0] != batch:
                raise InvalidArgumentError(
                    f"Tensor name: {alias} has inconsistent batch size: {shape[0]} expecting: {batch}"
                )
        if len(outputs) == 1:
            ((alias, array),) = outputs.items()
            body: Any = {"predictions": jsonable(array, alias)}
        else:
            columns = {alias: jsonable(array, alias) for alias, array in outputs.items()}
            body = {"predictions": [{alias: column[i] for alias, column in columns.items()} for i in range(batch or 0)]}
    elif len(outputs) == 1:
        ((alias, array),) = outputs.items()
        body = {"outputs": jsonable(array, alias)}
    else:
        body = {"outputs": {alias: jsonable(array, alias) for alias, array in outputs.items()}}
    payload = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    # orjson writes NaN and infinities as null; only then look for them (cheaper than per array).
    if b"null" in payload and has_non_finite(outputs):
        return dumps(body, non_finite=True)
    return payload


def dumps(body: Any, non_finite: bool = False) -> bytes:
    """orjson, except when NaN/Infinity must be written as TF Serving's bare tokens."""
    if not non_finite:
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(plain(body), ensure_ascii=False, allow_nan=True).encode()


def plain(value: Any) -> Any:
    """numpy values inside nested dicts/lists as Python ones (for ``json`` and TF's JSON readers).

    Bytes become UTF-8 text, or ``{"b64": ...}`` when they are not text (TF Serving's rule).
    """
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def error_body(message: str) -> bytes:
    try:
        return orjson.dumps({"error": message})
    except TypeError:  # a lone surrogate echoed from the request: escape it rather than fail
        return json.dumps({"error": message}).encode()
