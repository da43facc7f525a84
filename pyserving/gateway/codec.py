"""Model inputs and outputs between transforms, JSON and the model's signature.

Why the signature: a transform returns plain Python (``[["很", "好"]]``, ``[2]``)
and the model wants typed tensors (DT_STRING, DT_INT32). Converting against
the signature (fetched from the upstream, cached) gives every transport the
same typed arrays in and ``{alias: ndarray}`` out, with strings as ``bytes``,
whether the model server speaks gRPC or REST. JSON rules are TF Serving's,
reused from ``pyserving.apis`` (no TensorFlow import).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from pyserving.apis import json_format
from pyserving.apis.json_format import plain
from pyserving.apis.json_values import is_b64, jsonable, to_array
from pyserving.core.errors import ServingError  # what pyserving.apis raises for bad JSON values
from pyserving.tensors.dtypes import DataType, to_numpy
from pyserving.tensors.signature import Signature, TensorSpec

_BODY_KEYS = frozenset({"instances", "inputs"})


class InputError(ValueError):
    """Model inputs that do not fit the signature (the message says which and why)."""


def is_predict_body(value: Mapping[str, Any], signature: Signature) -> bool:
    """A TF Serving predict body, not ``{alias: value}`` (an input may be *named* "inputs")."""
    keys = set(value)
    return bool(keys & _BODY_KEYS) and not keys <= set(signature.inputs)


def model_inputs(raw: Any, signature: Signature) -> dict[str, np.ndarray]:
    """Typed input arrays from a transform's result (or a caller's predict body)."""
    if not isinstance(raw, Mapping):
        raise InputError(f"model inputs must be a dict of input name -> value, got {type(raw).__name__}")
    if is_predict_body(raw, signature):
        try:
            return json_format.predict_inputs(plain(dict(raw)), signature).inputs
        except ServingError as exc:
            raise InputError(exc.message) from None
    unknown = sorted(set(raw) - set(signature.inputs))
    if unknown:
        raise InputError(
            f"no model input named {unknown[0]!r} (signature "
            f"{signature.name!r} has: {', '.join(sorted(signature.inputs))})"
        )
    missing = sorted(set(signature.inputs) - set(raw) - signature.defaults)
    if missing:
        raise InputError(
            f"missing model input {missing[0]!r} (signature "
            f"{signature.name!r} needs: {', '.join(sorted(signature.inputs))})"
        )
    return {alias: _array(value, signature.inputs[alias], alias) for alias, value in raw.items()}


def _array(value: Any, spec: TensorSpec, alias: str) -> np.ndarray:
    if spec.dtype == DataType.DT_STRING:
        return _strings(value, alias)
    if isinstance(value, np.ndarray):
        target = to_numpy(spec.dtype)
        if value.dtype == target:
            return value
        if value.dtype.kind not in "biuf" or (value.dtype.kind == "f" and target.kind in "iub"):
            raise InputError(f"input {alias!r}: cannot use a {value.dtype} array as {spec.dtype_name}")
        return value.astype(target)
    try:
        return to_array(value, spec.dtype)
    except ServingError as exc:
        try:  # numpy scalars or arrays nested in lists: retry once as plain Python
            return to_array(plain(value), spec.dtype)
        except ServingError:
            raise InputError(f"input {alias!r}: {exc.message}") from None


def _strings(value: Any, alias: str) -> np.ndarray:
    """Nested lists / arrays of str or bytes as an object array of bytes (str -> UTF-8)."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "S":
        array = value.astype(object)
    else:
        try:
            array = np.array(value, dtype=object)
        except ValueError as exc:
            raise InputError(f"input {alias!r}: {exc}") from None
    flat = array.reshape(-1)
    for i, item in enumerate(flat):
        if isinstance(item, str):
            flat[i] = item.encode("utf-8")
        elif isinstance(item, dict) and is_b64(item):
            flat[i] = base64.b64decode(item["b64"])
        elif not isinstance(item, bytes):
            what = "a ragged nested list" if isinstance(item, list) else type(item).__name__
            raise InputError(f"input {alias!r}: expected strings, found {what}")
    return flat.reshape(array.shape)


def rest_predict_body(inputs: Mapping[str, np.ndarray], signature_name: str) -> bytes:
    """Typed inputs as a columnar TF Serving REST body."""
    body = {
        "signature_name": signature_name,
        "inputs": {alias: jsonable(array, alias) for alias, array in inputs.items()},
    }
    return json_format.dumps(body, non_finite=_non_finite(inputs))


def _non_finite(arrays: Mapping[str, np.ndarray]) -> bool:
    return any(a.dtype.kind == "f" and not np.isfinite(a).all() for a in arrays.values())


def outputs_from_json(doc: Any, signature: Signature) -> dict[str, np.ndarray]:
    """A TF Serving REST predict response as ``{alias: ndarray}`` with the signature's dtypes."""
    if not isinstance(doc, dict):
        raise InputError("model server response is not a JSON object")
    specs = signature.outputs
    if "outputs" in doc:
        value = doc["outputs"]
        if not (isinstance(value, dict) and not is_b64(value) and set(value) <= set(specs)) and len(specs) == 1:
            value = {next(iter(specs)): value}
    elif "predictions" in doc:
        rows = doc["predictions"]
        if rows and isinstance(rows, list) and isinstance(rows[0], dict) and not is_b64(rows[0]):
            value = {alias: [row[alias] for row in rows] for alias in rows[0]}
        elif len(specs) == 1:
            value = {next(iter(specs)): rows}
        else:
            raise InputError("model server response has predictions without output names")
    else:
        raise InputError("model server response has neither 'outputs' nor 'predictions'")
    if not isinstance(value, dict):
        raise InputError("model server response has outputs without output names")
    result = {}
    for alias, item in value.items():
        spec = specs.get(alias)
        try:
            result[alias] = to_array(item, spec.dtype) if spec else np.asarray(item)
        except ServingError as exc:
            raise InputError(f"output {alias!r}: {exc.message}") from None
    return result


def default_response(outputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The answer of a transform without postprocess: TF Serving's columnar ``{"outputs": ...}``."""
    return {"outputs": {alias: jsonable(array, alias) for alias, array in outputs.items()}}


def dumps(value: Any) -> bytes:
    """Any transform result as JSON: numpy arrays and scalars, bytes as UTF-8 (or base64)."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, np.ndarray, np.generic)):
        return plain(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
