"""JSON value <-> ndarray conversion with TF Serving's typing rules and error texts.

The fast path hands whole lists to numpy; only when numpy refuses (ragged
lists, wrong types) does the slow path walk the values to name the first bad one
exactly as TF Serving does. Imports no TensorFlow.
"""

from __future__ import annotations

import base64
import binascii
import math
import reprlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson

from pyserving.core.errors import InvalidArgumentError, UnimplementedError
from pyserving.tensors.dtypes import DataType, base_dtype, short_name, to_numpy
from pyserving.tensors.limits import NUMPY_MAX_RANK

_FLOAT_TYPES = {DataType.DT_FLOAT, DataType.DT_DOUBLE}
_INT_TYPES = {
    DataType.DT_INT8,
    DataType.DT_INT16,
    DataType.DT_INT32,
    DataType.DT_UINT8,
    DataType.DT_INT64,
    DataType.DT_UINT16,
    DataType.DT_UINT32,
    DataType.DT_UINT64,
}
INT_RANGES = {
    # TF Serving range-checks int32/int64/uint32/uint64; 8/16-bit values are truncated later.
    DataType.DT_INT8: (-(2**31), 2**31 - 1),
    DataType.DT_INT16: (-(2**31), 2**31 - 1),
    DataType.DT_UINT8: (-(2**31), 2**31 - 1),
    DataType.DT_UINT16: (-(2**31), 2**31 - 1),
    DataType.DT_INT32: (-(2**31), 2**31 - 1),
    DataType.DT_INT64: (-(2**63), 2**63 - 1),
    DataType.DT_UINT32: (0, 2**32 - 1),
    DataType.DT_UINT64: (0, 2**64 - 1),
}


def json_type_name(value: Any) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


RENDER_MAX_CHARS = 256
_INDENT = "    "


class _NonFinite(Exception):
    """rapidjson's writer stops at NaN/Infinity: the rendering ends where it stood."""


def render(value: Any) -> str:
    """``value`` as TF Serving prints it in error messages, cut at ~256 characters.

    rapidjson's PrettyWriter with single-line arrays: objects one member per line,
    indented 4 spaces per nesting level, ``"key": value``; arrays ``[1, 2]``.
    """
    chunks: list[str] = []
    size = 0
    try:
        for chunk in _pretty(value, 0):
            chunks.append(chunk)
            size += len(chunk)
            if size > RENDER_MAX_CHARS:
                break
    except _NonFinite:
        pass
    except RecursionError:  # deeper than Python's stack: the compact form says as much
        chunks = [_json_scalar(value)]
    text = "".join(chunks)
    return text if len(text) <= RENDER_MAX_CHARS else text[:RENDER_MAX_CHARS] + "..."


def _pretty(value: Any, depth: int) -> Iterator[str]:
    if isinstance(value, dict):
        if not value:
            yield "{}"
            return
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield ("," if i else "") + "\n" + _INDENT * (depth + 1) + _json_scalar(key) + ": "
            yield from _pretty(item, depth + 1)
        yield "\n" + _INDENT * depth + "}"
    elif isinstance(value, list):
        if not value:
            yield "[]"
            return
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ", "
            yield from _pretty(item, depth + 1)
        yield "]"
    else:
        if isinstance(value, float) and not math.isfinite(value):
            raise _NonFinite
        yield _json_scalar(value)


def _json_scalar(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError:  # nested deeper than orjson writes, or a lone surrogate
        return reprlib.repr(value)


def is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def decode_b64(value: dict[str, Any]) -> bytes:
    encoded = value["b64"]
    if not isinstance(encoded, str):
        raise InvalidArgumentError(f"JSON Value: {render(value)} Type: Object is not of expected type: string")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:  # TF Serving also accepts web-safe base64, padding optional; nothing else (no skipped junk)
        padded = encoded + "=" * (-len(encoded) % 4)
        return base64.b64decode(padded.translate(_WEB_SAFE), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgumentError(f"Unable to base64 decode: {render(encoded)[:64]}") from None


# The web-safe alphabet's two letters as the standard alphabet's: "-_" for "+/"; "+/" are
# mapped away so that a mix of the two alphabets is refused, as absl's WebSafeBase64Unescape does.
_WEB_SAFE = str.maketrans("-_+/", "+/!!")


def _type_error(value: Any, dtype: int) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"JSON Value: {render(value)} Type: {json_type_name(value)} is not of expected type: {short_name(dtype)}"
    )


def convert_leaf(value: Any, dtype: int) -> Any:
    """One JSON scalar to a Python value of the tensor's type, or TF Serving's type error."""
    if dtype in _FLOAT_TYPES:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    elif dtype in _INT_TYPES:
        if isinstance(value, int) and not isinstance(value, bool):
            low, high = INT_RANGES[DataType(dtype)]
            if low <= value <= high:
                return value
    elif dtype == DataType.DT_BOOL:
        if isinstance(value, bool):
            return value
    elif dtype == DataType.DT_STRING:
        if isinstance(value, str):
            try:
                return value.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate that the NaN-tolerant parser let through
                raise InvalidArgumentError(
                    f"JSON Value: {render(value)} is not valid Unicode: a UTF-16 surrogate without its pair"
                ) from None
        if is_b64(value):
            return decode_b64(value)
    else:
        raise UnimplementedError(f"Conversion of JSON Value: {render(value)} to type: {short_name(dtype)}")
    raise _type_error(value, dtype)


def _shape_of(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _walk(value: Any, shape: list[int], level: int, dtype: int, out: list[Any]) -> None:
    if isinstance(value, list):
        if level >= len(shape):
            raise InvalidArgumentError(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
        if len(value) != shape[level]:
            raise InvalidArgumentError(
                f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}"
            )
        for item in value:
            _walk(item, shape, level + 1, dtype, out)
        return
    if level != len(shape):
        raise InvalidArgumentError(
            f"JSON Value: {render(value)} found at incorrect level: {level + 1} in the JSON DOM. "
            f"Expected at level: {len(shape)}"
        )
    out.append(convert_leaf(value, dtype))


def to_array(value: Any, dtype: int) -> np.ndarray:
    """A JSON value (scalar or nested lists) as an array of ``dtype``."""
    dtype = base_dtype(dtype)
    fast = _fast_array(value, dtype)
    if fast is not None:
        return fast
    shape = _shape_of(value)
    if len(shape) > NUMPY_MAX_RANK:
        raise InvalidArgumentError(
            f"JSON Value: {render(value)} is nested {len(shape)} levels deep; a tensor has at most "
            f"{NUMPY_MAX_RANK} dimensions"
        )
    flat: list[Any] = []
    _walk(value, shape, 0, dtype, flat)
    np_dtype = to_numpy(dtype)
    if dtype == DataType.DT_STRING:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    return np.array(flat, dtype=np_dtype).reshape(shape)


def _fast_array(value: Any, dtype: int) -> np.ndarray | None:
    """numpy's own conversion when it is unambiguous, else None (the slow path decides)."""
    if dtype == DataType.DT_STRING:
        return None
    try:
        array = np.array(value)
    except (ValueError, OverflowError):
        return None
    kind = array.dtype.kind
    if dtype in _FLOAT_TYPES:
        ok = kind in "fiu"
    elif dtype in _INT_TYPES:
        ok = kind in "iu"
        if ok and array.size:
            low, high = INT_RANGES[DataType(dtype)]
            ok = low <= int(array.min()) and int(array.max()) <= high
    elif dtype == DataType.DT_BOOL:
        ok = kind == "b"
    else:
        return None
    if not ok:
        return None
    return array.astype(to_numpy(dtype), copy=False)


def _string_value(value: bytes, as_b64: bool) -> Any:
    if not as_b64:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass  # not valid UTF-8: send it losslessly instead of writing invalid JSON
    return {"b64": base64.b64encode(value).decode("ascii")}


def jsonable(array: Any, alias: str) -> Any:
    """An output array in a form orjson writes directly (numeric arrays stay numpy)."""
    if not isinstance(array, np.ndarray):
        array = np.asarray(array)
    if array.dtype.kind in "OS":
        as_b64 = alias.endswith("_bytes")
        if array.ndim == 0:
            return _string_value(array.item(), as_b64)
        flat = [_string_value(v, as_b64) for v in array.reshape(-1).tolist()]
        return _nest(flat, array.shape)
    if array.ndim == 0:
        return _scalar(array)
    if array.dtype.kind == "c" or array.dtype == np.float16:
        return array.tolist()
    if not array.flags.c_contiguous or not array.dtype.isnative:
        array = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("="))
    return array


def _scalar(array: np.ndarray) -> Any:
    value = array.item()
    if isinstance(value, float) and array.dtype != np.float64 and np.isfinite(value):
        # numpy's shortest repr of the narrow float, not the widened double's digits.
        return float(str(array[()]))
    return value


def _nest(flat: list[Any], shape: tuple[int, ...]) -> Any:
    holder = np.empty(len(flat), dtype=object)
    holder[:] = flat
    return holder.reshape(shape).tolist()


def has_non_finite(arrays: dict[str, Any]) -> bool:
    for array in arrays.values():
        if isinstance(array, np.ndarray) and array.dtype.kind == "f" and not np.isfinite(array).all():
            return True
    return False
