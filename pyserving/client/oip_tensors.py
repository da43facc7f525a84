"""numpy <-> the Open Inference Protocol's tensors: datatypes, raw bytes, JSON data, typed contents.

The one OIP tensor codec: the client, the gateway and the server (``apis/oip_tensors.py``, which
adds the tensor limits and names the input in its errors) all use it. Why one byte layout: the
binary REST extension and gRPC's ``raw_*_contents`` share it (``oip-v2.md`` §3.3): little-endian
values in row-major order, BOOL one byte each, BF16 the upper half of a float32, BYTES a 4-byte
little-endian length before each element. Numeric data never goes through a per-element Python
loop (raw bytes become a read-only ``np.frombuffer`` view); only BYTES elements are walked.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "CONTENTS_FIELD",
    "DATATYPES",
    "OipTensorError",
    "UnsupportedDtypeError",
    "datatype_of",
    "from_contents",
    "from_json_data",
    "from_raw",
    "to_json_data",
    "to_raw",
]


class OipTensorError(ValueError):
    """Bytes, JSON data or contents that do not decode as their datatype and shape say."""


class UnsupportedDtypeError(OipTensorError, TypeError):
    """A numpy dtype the protocol has no datatype for (a TypeError too: the caller's array is wrong)."""


#: OIP datatype -> the numpy dtype of a decoded array (BYTES: object arrays of ``bytes``;
#: BF16 only with ml_dtypes, a TensorFlow and ONNX dependency).
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
try:
    import ml_dtypes

    DATATYPES["BF16"] = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
    pass

#: OIP datatype -> the little-endian dtype of its raw encoding (BOOL as one byte).
_WIRE: dict[str, np.dtype] = {
    k: (np.dtype("u1") if k == "BOOL" else v.newbyteorder("<")) for k, v in DATATYPES.items() if k != "BYTES"
}
_BY_NUMPY = {dtype: name for name, dtype in DATATYPES.items() if name != "BYTES"}
_INTEGERS = frozenset({"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"})
_FLOATS = frozenset({"FP16", "FP32", "FP64", "BF16"})
_LENGTH = struct.Struct("<I")
_FP32_MAX = float(np.finfo(np.float32).max)
_SMALL = 64  # flat JSON data up to this many numbers gets its FP32 range checked by min/max
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


def datatype_of(array: np.ndarray) -> str:
    """The OIP datatype an array travels as: object, ``S`` and ``U`` arrays are BYTES."""
    if array.dtype.kind in "OSU":
        return "BYTES"
    name = _BY_NUMPY.get(array.dtype.newbyteorder("=") if array.dtype.byteorder in "<>" else array.dtype)
    if name is None:
        raise UnsupportedDtypeError(f"numpy dtype {array.dtype} has no Open Inference Protocol datatype")
    return name


def _wire(datatype: str) -> np.dtype:
    wire = _WIRE.get(datatype)
    if wire is None:
        raise OipTensorError(f"unknown OIP datatype {datatype!r}")
    return wire


def _as_bytes(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, (bytearray, memoryview)):
        return bytes(item)
    return str(item).encode("utf-8")


# -- raw bytes (binary REST chunks, gRPC raw contents) ---------------------------------------


def to_raw(array: np.ndarray, datatype: str) -> bytes:
    """The tensor's bytes: little-endian, C order; BYTES as a 4-byte length + bytes per element."""
    if datatype == "BYTES":
        parts: list[bytes] = []
        for item in array.reshape(-1).tolist():
            data = _as_bytes(item)
            parts.append(_LENGTH.pack(len(data)))
            parts.append(data)
        return b"".join(parts)
    if datatype == "BOOL":
        return np.ascontiguousarray(array, dtype=np.bool_).tobytes()
    return np.ascontiguousarray(array, dtype=_wire(datatype)).tobytes()


def from_raw(datatype: str, shape: Sequence[int], buffer: bytes | memoryview) -> np.ndarray:
    """One tensor from its raw bytes, which must be exactly what ``shape`` needs.

    Numeric arrays are read-only views of ``buffer``; BYTES an object array of ``bytes``
    (never ``S``, which drops trailing NUL bytes).
    """
    count = math.prod(shape)
    if datatype == "BYTES":
        return _bytes_from_raw(shape, count, memoryview(buffer))
    wire = _wire(datatype)
    if len(buffer) != count * wire.itemsize:
        raise OipTensorError(
            f"{datatype} tensor of shape {list(shape)} needs {count * wire.itemsize} bytes, got {len(buffer)}"
        )
    array = np.frombuffer(buffer, wire).reshape(shape)
    if datatype == "BOOL":
        flags: np.ndarray = array != 0
        return flags
    return array if wire.isnative else array.astype(wire.newbyteorder("="))


def _bytes_from_raw(shape: Sequence[int], count: int, buffer: memoryview) -> np.ndarray:
    items: list[bytes] = []
    offset, end = 0, len(buffer)
    while offset < end:
        if len(items) == count:  # stop at once: the rest is never walked
            raise OipTensorError(f"BYTES tensor has more than {count} elements, shape {list(shape)} needs {count}")
        if offset + 4 > end:
            raise OipTensorError("a BYTES element's 4-byte length is cut short")
        (size,) = _LENGTH.unpack_from(buffer, offset)
        offset += 4
        if offset + size > end:
            raise OipTensorError(f"a BYTES element of {size} bytes runs past the end of its tensor")
        items.append(bytes(buffer[offset : offset + size]))
        offset += size
    if len(items) != count:
        raise OipTensorError(f"BYTES tensor has {len(items)} elements, shape {list(shape)} needs {count}")
    array = np.empty(count, dtype=object)
    array[:] = items
    return array.reshape(shape)


# -- JSON data ------------------------------------------------------------------------------


def to_json_data(array: np.ndarray, datatype: str, *, lists: bool = True) -> Any:
    """The flat ``data`` of a JSON tensor; BYTES as UTF-8 strings; NaN/Inf stay floats.

    ``lists=False``: numbers stay a flat ndarray, for a JSON writer that takes numpy (orjson).
    """
    if datatype == "BYTES":
        try:
            return [_as_bytes(item).decode("utf-8") for item in array.reshape(-1).tolist()]
        except UnicodeDecodeError:
            raise OipTensorError(
                "a BYTES element is not UTF-8, which JSON cannot carry; send it as binary data"
            ) from None
    if datatype == "BF16":
        raise OipTensorError("BF16 cannot travel as JSON; send it as binary data")
    flat = np.ascontiguousarray(array).reshape(-1)
    return flat.tolist() if lists else flat


def from_json_data(datatype: str, shape: Sequence[int], data: Any) -> np.ndarray:
    """JSON ``data`` (flat, or nested to any depth) -> an array of ``shape``; only the count must match.

    Values are checked against the datatype (integers in range, true/false for BOOL, strings
    for BYTES); NaN and Infinity (already floats when parsed) are kept; a number beyond
    FP16/FP32 becomes infinity, as in numpy and TF.
    """
    if not isinstance(data, list):
        raise OipTensorError("data must be a JSON array")
    count = math.prod(shape)
    if datatype == "BF16":
        raise OipTensorError("BF16 cannot travel as JSON; send it as binary data")
    if datatype == "BYTES":
        flat = _flatten(data)
        _check_count(len(flat), count)
        if not all(type(item) is str for item in flat):
            raise OipTensorError("BYTES data must be JSON strings")
        array = np.empty(count, dtype=object)
        array[:] = [item.encode("utf-8") for item in flat]
        return array.reshape(shape)
    target = DATATYPES.get(datatype)
    if target is None:
        raise OipTensorError(f"unknown OIP datatype {datatype!r}")
    flat_numbers = False  # data is a flat list of numbers (so min/max of it are C-level and exact)
    try:
        guessed = np.asarray(data)
    except ValueError:  # ragged nesting: flatten by hand, then judge the leaves
        guessed = np.asarray(_flatten(data))
    else:
        flat_numbers = guessed.ndim == 1 and guessed.dtype != object
    if guessed.dtype == object:
        guessed = np.asarray(_flatten(data))
    _check_count(guessed.size, count)
    kind = guessed.dtype.kind
    if count and not _kind_fits(datatype, kind):
        expected = "true/false" if datatype == "BOOL" else "numbers" if datatype in _FLOATS else "integers"
        raise OipTensorError(f"{datatype} data must be {expected}")
    if datatype in _INTEGERS and count and kind in "iu":
        info = np.iinfo(target)
        if guessed.min() < info.min or guessed.max() > info.max:
            raise OipTensorError(f"a value is out of range for {datatype}")
    if (
        flat_numbers
        and datatype == "FP32"
        and 0 < guessed.size <= _SMALL
        and -_FP32_MAX <= min(data)
        and max(data) <= _FP32_MAX  # NaN fails these: it takes the errstate path below
    ):
        # Nothing can overflow: skip np.errstate, about a microsecond, a large share of a 1-row request.
        return guessed.astype(target).reshape(shape)
    with np.errstate(over="ignore"):
        return guessed.astype(target, copy=False).reshape(shape)


def _kind_fits(datatype: str, kind: str) -> bool:
    if datatype == "BOOL":
        return kind == "b"
    if datatype in _FLOATS:
        return kind in "iuf"
    return kind in "iu"


def _check_count(got: int, expected: int) -> None:
    if got != expected:
        raise OipTensorError(f"data holds {got} elements, but its shape needs {expected} (the product of the shape)")


def _flatten(data: list[Any]) -> list[Any]:
    """Leaves of nested lists, row-major; nesting deeper than ``MAX_JSON_DEPTH`` is refused."""
    if not any(type(item) is list for item in data):
        return data
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if type(item) is list:
                if len(stack) > MAX_JSON_DEPTH:
                    raise OipTensorError(f"data is nested deeper than {MAX_JSON_DEPTH} levels")
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


# -- typed gRPC contents ----------------------------------------------------------------------


def from_contents(datatype: str, shape: Sequence[int], contents: Any) -> np.ndarray:
    """``InferTensorContents`` -> an array; only the field of ``datatype`` may hold values."""
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise OipTensorError(f"{datatype} has no typed contents field; it travels as raw contents only")
    for descriptor, _ in contents.ListFields():
        if descriptor.name != field:
            raise OipTensorError(f"{datatype} data must be in {field}, not {descriptor.name}")
    values: Sequence[Any] = getattr(contents, field)
    count = math.prod(shape)
    _check_count(len(values), count)
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    target = DATATYPES[datatype]
    if field in ("int_contents", "uint_contents") and target.itemsize < 4 and count:
        wide = np.asarray(values, dtype=np.int64)
        info = np.iinfo(target)
        if wide.min() < info.min or wide.max() > info.max:
            raise OipTensorError(f"a value is out of range for {datatype}")
        return wide.astype(target).reshape(shape)
    return np.asarray(values, dtype=target).reshape(shape)
