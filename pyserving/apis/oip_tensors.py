"""OIP tensors <-> numpy arrays: JSON ``data``, binary chunks / raw contents, typed gRPC contents.

Framework-free and shared by the REST and gRPC front ends (``../shared/docs/oip-v2.md`` §2-§3).
Why the checks come first: a shape is checked against :class:`TensorLimits` and against the
bytes or values actually sent before anything is allocated, so a request can never ask for
more memory than it carries. Numeric data never goes through a per-element Python loop;
only BYTES elements (length-prefixed) are walked one by one.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyserving.apis.oip_datatypes import FLOAT_TYPES, INTEGER_TYPES, NUMPY, OIP_TO_TF, WIRE
from pyserving.core.errors import InvalidArgumentError
from pyserving.tensors.limits import TensorLimitError, TensorLimits

_LENGTH = struct.Struct("<I")
MAX_JSON_DEPTH = 100  # Triton's bound on nested ``data``

#: OIP datatype -> the InferTensorContents field that carries it (FP16/BF16: raw only).
CONTENTS_FIELD: dict[str, str] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def check_datatype(name: str, datatype: Any) -> str:
    if not isinstance(datatype, str) or datatype not in OIP_TO_TF:
        raise InvalidArgumentError(
            f"input '{name}': unknown datatype {datatype!r}; expected one of {', '.join(sorted(OIP_TO_TF))}"
        )
    if datatype not in NUMPY:  # BF16 without ml_dtypes
        raise InvalidArgumentError(f"input '{name}': datatype {datatype} is not supported by this server")
    return datatype


def check_shape(name: str, shape: Any, datatype: str, limits: TensorLimits) -> tuple[int, ...]:
    """A list of non-negative integers within ``limits``; the element count is ``math.prod`` of it."""
    if not isinstance(shape, (list, tuple)) or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidArgumentError(f"input '{name}': shape must be a list of non-negative integers, got {shape!r}")
    dims = tuple(shape)
    itemsize = 0 if datatype == "BYTES" else NUMPY[datatype].itemsize
    try:
        limits.check_dims(dims, OIP_TO_TF[datatype], itemsize)
    except TensorLimitError as exc:
        raise InvalidArgumentError(f"input '{name}': {exc}") from None
    return dims


# -- JSON ------------------------------------------------------------------------------


def from_json(name: str, datatype: str, shape: tuple[int, ...], data: Any) -> np.ndarray:
    """JSON ``data`` (flat or nested to any depth) -> an array of ``shape``; only the count must match."""
    if not isinstance(data, list):
        raise InvalidArgumentError(f"input '{name}': data must be a JSON array")
    count = math.prod(shape)
    if datatype == "BF16":
        raise InvalidArgumentError(f"input '{name}': BF16 cannot travel as JSON; send it as binary data")
    if datatype == "BYTES":
        flat = _flatten(name, data)
        _check_count(name, len(flat), count)
        if not all(type(item) is str for item in flat):
            raise InvalidArgumentError(f"input '{name}': BYTES data must be JSON strings")
        array = np.empty(count, dtype=object)
        array[:] = [item.encode("utf-8") for item in flat]
        return array.reshape(shape)
    try:
        guessed = np.asarray(data)
    except ValueError:  # ragged nesting: flatten by hand, then judge the leaves
        guessed = np.asarray(_flatten(name, data))
    if guessed.dtype == object:
        guessed = np.asarray(_flatten(name, data))
    _check_count(name, guessed.size, count)
    kind = guessed.dtype.kind
    target = NUMPY[datatype]
    if count and not _kind_fits(datatype, kind):
        expected = {"BOOL": "true/false", "FP16": "numbers", "FP32": "numbers", "FP64": "numbers"}.get(
            datatype, "integers"
        )
        raise InvalidArgumentError(f"input '{name}': {datatype} data must be {expected}")
    if datatype in INTEGER_TYPES and count and kind in "iu":
        info = np.iinfo(target)
        if guessed.min() < info.min or guessed.max() > info.max:
            raise InvalidArgumentError(f"input '{name}': a value is out of range for {datatype}")
    with np.errstate(over="ignore"):  # a number beyond FP16/FP32 becomes infinity, as in numpy and TF
        return guessed.astype(target, copy=False).reshape(shape)


def _kind_fits(datatype: str, kind: str) -> bool:
    if datatype == "BOOL":
        return kind == "b"
    if datatype in FLOAT_TYPES:
        return kind in "iuf"
    return kind in "iu"


def _check_count(name: str, got: int, expected: int) -> None:
    if got != expected:
        raise InvalidArgumentError(
            f"input '{name}': data holds {got} elements, but its shape needs {expected} (the product of the shape)"
        )


def _flatten(name: str, data: list[Any]) -> list[Any]:
    """Leaves of nested lists, row-major; nesting deeper than ``MAX_JSON_DEPTH`` is refused."""
    if not any(type(item) is list for item in data):
        return data
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if type(item) is list:
                if len(stack) > MAX_JSON_DEPTH:
                    raise InvalidArgumentError(f"input '{name}': data is nested deeper than {MAX_JSON_DEPTH} levels")
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def to_json(name: str, array: np.ndarray, datatype: str) -> Any:
    """A flat, JSON-ready value: the numpy array itself for numbers (orjson writes it), str for BYTES."""
    if datatype == "BYTES":
        try:
            return [_as_bytes(item).decode("utf-8") for item in array.reshape(-1).tolist()]
        except UnicodeDecodeError:
            raise InvalidArgumentError(
                f"output '{name}' holds bytes that are not UTF-8, which JSON cannot carry; "
                "request it with binary_data: true"
            ) from None
    if datatype == "BF16":
        raise InvalidArgumentError(
            f"output '{name}' is BF16, which JSON cannot carry; request it with binary_data: true"
        )
    return np.ascontiguousarray(array).reshape(-1)


# -- binary chunks and raw contents -------------------------------------------------------


def from_raw(name: str, datatype: str, shape: tuple[int, ...], buffer: bytes | memoryview) -> np.ndarray:
    """One binary chunk (HTTP) or raw_input_contents entry (gRPC) -> an array of ``shape``."""
    count = math.prod(shape)
    if datatype == "BYTES":
        return _bytes_from_raw(name, shape, count, memoryview(buffer))
    wire = WIRE[datatype]
    if len(buffer) != count * wire.itemsize:
        raise InvalidArgumentError(
            f"input '{name}': {len(buffer)} bytes of data, but shape {list(shape)} of {datatype} "
            f"needs {count * wire.itemsize} bytes"
        )
    array = np.frombuffer(buffer, wire).reshape(shape)
    if datatype == "BOOL":
        flags: np.ndarray = array != 0
        return flags
    return array if wire.isnative else array.astype(wire.newbyteorder("="))


def _bytes_from_raw(name: str, shape: tuple[int, ...], count: int, buffer: memoryview) -> np.ndarray:
    items: list[bytes] = []
    offset, end = 0, len(buffer)
    while offset < end:
        if offset + 4 > end or len(items) == count:
            raise InvalidArgumentError(
                f"input '{name}': BYTES data does not hold exactly {count} length-prefixed elements"
            )
        (size,) = _LENGTH.unpack_from(buffer, offset)
        offset += 4
        if offset + size > end:
            raise InvalidArgumentError(f"input '{name}': a BYTES element of {size} bytes runs past the data")
        items.append(bytes(buffer[offset : offset + size]))
        offset += size
    if len(items) != count:
        raise InvalidArgumentError(
            f"input '{name}': BYTES data holds {len(items)} elements, but its shape needs {count}"
        )
    array = np.empty(count, dtype=object)  # object, never 'S': 'S' drops trailing NUL bytes
    array[:] = items
    return array.reshape(shape)


def to_raw(array: np.ndarray, datatype: str) -> bytes:
    """An output's bytes: little-endian C order; BYTES as 4-byte length + bytes per element."""
    if datatype == "BYTES":
        parts: list[bytes] = []
        for item in array.reshape(-1).tolist():
            data = _as_bytes(item)
            parts.append(_LENGTH.pack(len(data)))
            parts.append(data)
        return b"".join(parts)
    wire = WIRE[datatype]
    if datatype == "BOOL":
        return np.ascontiguousarray(array, dtype=np.bool_).tobytes()
    return np.ascontiguousarray(array, dtype=wire).tobytes()


def _as_bytes(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    return str(item).encode("utf-8")


# -- typed gRPC contents ---------------------------------------------------------------


def from_contents(name: str, datatype: str, shape: tuple[int, ...], contents: Any) -> np.ndarray:
    """``InferTensorContents`` -> an array; only the field of ``datatype`` may hold values."""
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise InvalidArgumentError(f"input '{name}': {datatype} can only be sent in raw_input_contents")
    for descriptor, _ in contents.ListFields():
        if descriptor.name != field:
            raise InvalidArgumentError(f"input '{name}': {datatype} data must be in {field}, not {descriptor.name}")
    values: Sequence[Any] = getattr(contents, field)
    count = math.prod(shape)
    _check_count(name, len(values), count)
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    target = NUMPY[datatype]
    if field in ("int_contents", "uint_contents") and target.itemsize < 4 and count:
        wide = np.asarray(values, dtype=np.int64)
        info = np.iinfo(target)
        if wide.min() < info.min or wide.max() > info.max:
            raise InvalidArgumentError(f"input '{name}': a value is out of range for {datatype}")
        return wide.astype(target).reshape(shape)
    return np.asarray(values, dtype=target).reshape(shape)
