"""numpy <-> the Open Inference Protocol's tensors (datatype strings, raw bytes, JSON data).

Why separate: the binary REST extension and gRPC's ``raw_*_contents`` share one byte layout
(docs: oip-v2 §3.3): little-endian values in row-major order, BOOL one byte each, BYTES a
4-byte little-endian length before each element.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

__all__ = ["DATATYPES", "datatype_of", "to_raw", "from_raw", "to_json_data", "from_json_data"]

#: OIP datatype -> numpy dtype (BYTES: object arrays of ``bytes``).
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
_BY_NUMPY = {dtype: name for name, dtype in DATATYPES.items() if name != "BYTES"}
_LENGTH = struct.Struct("<I")


def datatype_of(array: np.ndarray) -> str:
    """The OIP datatype a numpy array is sent as."""
    if array.dtype.kind in "OSU":
        return "BYTES"
    name = _BY_NUMPY.get(array.dtype.newbyteorder("<")) if array.dtype.itemsize > 1 else _BY_NUMPY.get(array.dtype)
    if name is None:
        raise TypeError(f"numpy dtype {array.dtype} has no Open Inference Protocol datatype")
    return name


def _element_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview, np.bytes_)):
        return bytes(value)
    raise TypeError(f"a BYTES element must be str or bytes, not {type(value).__name__}")


def to_raw(array: np.ndarray, datatype: str) -> bytes:
    """The tensor's bytes as the binary extension and gRPC raw contents carry them."""
    if datatype == "BYTES":
        parts = []
        for value in array.ravel().tolist():
            data = _element_bytes(value)
            parts.append(_LENGTH.pack(len(data)))
            parts.append(data)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=DATATYPES[datatype]).tobytes()


def from_raw(datatype: str, shape: list[int], buffer: bytes | memoryview) -> np.ndarray:
    """A tensor read from its raw bytes (numeric arrays are read-only views of ``buffer``)."""
    count = math.prod(shape)
    if datatype == "BYTES":
        view = memoryview(buffer)
        items = []
        pos = 0
        while pos < len(view):
            if pos + 4 > len(view):
                raise ValueError("truncated BYTES element")
            (length,) = _LENGTH.unpack_from(view, pos)
            items.append(bytes(view[pos + 4 : pos + 4 + length]))
            pos += 4 + length
        if pos != len(view) or len(items) != count:
            raise ValueError(f"BYTES tensor holds {len(items)} elements; shape {shape} needs {count}")
        out = np.empty(count, dtype=object)
        out[:] = items
        return out.reshape(shape)
    dtype = DATATYPES.get(datatype)
    if dtype is None:
        raise ValueError(f"unsupported datatype {datatype!r}")
    if len(buffer) != count * dtype.itemsize:
        raise ValueError(f"{datatype} tensor of shape {shape} needs {count * dtype.itemsize} bytes, got {len(buffer)}")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)


def to_json_data(array: np.ndarray, datatype: str) -> list[Any]:
    """The flat ``data`` list of a JSON tensor (BYTES elements as UTF-8 strings)."""
    flat = array.ravel().tolist()
    if datatype != "BYTES":
        return flat
    try:
        return [v if isinstance(v, str) else _element_bytes(v).decode("utf-8") for v in flat]
    except UnicodeDecodeError:
        raise ValueError("a BYTES element is not UTF-8: JSON cannot carry it; send it binary") from None


def from_json_data(datatype: str, shape: list[int], data: Any) -> np.ndarray:
    """A tensor from its JSON ``data`` (flat or nested)."""
    dtype = DATATYPES.get(datatype)
    if dtype is None:
        raise ValueError(f"unsupported datatype {datatype!r}")
    if datatype == "BYTES":
        flat = list(_flatten(data))
        out = np.empty(len(flat), dtype=object)
        out[:] = [v.encode("utf-8") if isinstance(v, str) else v for v in flat]
        return out.reshape(shape)
    return np.asarray(data, dtype=dtype).reshape(shape)


def _flatten(data: Any) -> Any:
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item)
    else:
        yield data
