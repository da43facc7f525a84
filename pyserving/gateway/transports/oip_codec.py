"""OIP v2 tensors for the gateway: datatypes, raw little-endian bytes, JSON data, model metadata.

Why the gateway has its own small codec: it is a *client* of the protocol and
needs only the encodings both transports share (binary HTTP chunks and gRPC
raw contents are byte-identical, ``docs/gateway.md``). Framework-free: numpy
and the tensors package only.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from pyserving.tensors.dtypes import NUMPY_DTYPES, DataType
from pyserving.tensors.signature import Signature, TensorSpec

#: OIP datatype -> TensorFlow DataType (the gateway's signatures speak TF dtypes).
OIP_TO_DT: dict[str, DataType] = {
    "BOOL": DataType.DT_BOOL,
    "UINT8": DataType.DT_UINT8,
    "UINT16": DataType.DT_UINT16,
    "UINT32": DataType.DT_UINT32,
    "UINT64": DataType.DT_UINT64,
    "INT8": DataType.DT_INT8,
    "INT16": DataType.DT_INT16,
    "INT32": DataType.DT_INT32,
    "INT64": DataType.DT_INT64,
    "FP16": DataType.DT_HALF,
    "FP32": DataType.DT_FLOAT,
    "FP64": DataType.DT_DOUBLE,
    "BYTES": DataType.DT_STRING,
    "BF16": DataType.DT_BFLOAT16,
}
DT_TO_OIP: dict[int, str] = {int(v): k for k, v in OIP_TO_DT.items()}


class CodecError(ValueError):
    """Bytes or JSON that do not decode as the datatype and shape say."""


def datatype_of(array: np.ndarray) -> str:
    """The OIP datatype of an input array (strings and objects are BYTES)."""
    if array.dtype.kind in "OSU":
        return "BYTES"
    for dt, np_dtype in NUMPY_DTYPES.items():
        if np_dtype == array.dtype and dt in DT_TO_OIP:
            return DT_TO_OIP[dt]
    raise CodecError(f"no OIP datatype for numpy dtype {array.dtype}")


def _wire_dtype(datatype: str) -> np.dtype:
    try:
        dt = OIP_TO_DT[datatype]
    except KeyError:
        raise CodecError(f"unknown OIP datatype {datatype!r}") from None
    if datatype == "BOOL":
        return np.dtype("u1")
    if datatype == "BF16":
        return np.dtype("<u2")
    return NUMPY_DTYPES[dt].newbyteorder("<")


def to_raw(array: np.ndarray, datatype: str) -> bytes:
    """Row-major little-endian bytes; BYTES as 4-byte length-prefixed elements (no padding)."""
    if datatype == "BYTES":
        parts = []
        for item in array.reshape(-1):
            value = item.encode("utf-8") if isinstance(item, str) else bytes(item)
            parts.append(struct.pack("<I", len(value)))
            parts.append(value)
        return b"".join(parts)
    if datatype == "BF16":
        return np.ascontiguousarray(array).view("<u2").tobytes()
    return np.ascontiguousarray(array, dtype=_wire_dtype(datatype)).tobytes()


def from_raw(buf: bytes | memoryview, datatype: str, shape: Iterable[int]) -> np.ndarray:
    """The inverse of :func:`to_raw`; BYTES become an object array of ``bytes``."""
    dims = [int(d) for d in shape]
    count = math.prod(dims)
    if datatype == "BYTES":
        items: list[bytes] = []
        view, off = memoryview(buf), 0
        while off < len(view):
            if off + 4 > len(view):
                raise CodecError("truncated BYTES element length")
            (n,) = struct.unpack_from("<I", view, off)
            if off + 4 + n > len(view):
                raise CodecError("BYTES element runs past the end of its tensor")
            items.append(bytes(view[off + 4 : off + 4 + n]))
            off += 4 + n
        if len(items) != count:
            raise CodecError(f"BYTES tensor has {len(items)} elements, shape {dims} needs {count}")
        out = np.empty(count, dtype=object)
        out[:] = items
        return out.reshape(dims)
    wire = _wire_dtype(datatype)
    if len(buf) != count * wire.itemsize:
        raise CodecError(f"{datatype} tensor of shape {dims} needs {count * wire.itemsize} bytes, got {len(buf)}")
    array = np.frombuffer(buf, dtype=wire).reshape(dims)
    if datatype == "BOOL":
        return array != 0
    if datatype == "BF16":
        return array.view(NUMPY_DTYPES[DataType.DT_BFLOAT16])
    return array.astype(wire.newbyteorder("="), copy=False)


def to_json_data(array: np.ndarray, datatype: str) -> list[Any]:
    """A flat JSON ``data`` list; BYTES elements must be UTF-8 (JSON strings)."""
    flat = array.reshape(-1)
    if datatype == "BYTES":
        try:
            return [item.decode("utf-8") if isinstance(item, bytes) else str(item) for item in flat]
        except UnicodeDecodeError:
            raise CodecError("a BYTES element is not UTF-8, which JSON cannot carry; use binary tensors") from None
    if datatype in ("BF16",):
        raise CodecError("BF16 tensors cannot travel as JSON; use binary tensors")
    return list(flat.tolist())


def from_json_data(data: Any, datatype: str, shape: Iterable[int]) -> np.ndarray:
    """A flat or nested JSON ``data`` list as an array of ``shape``."""
    dims = [int(d) for d in shape]
    if datatype == "BYTES":
        flat = np.array(data, dtype=object).reshape(-1)
        out = np.empty(len(flat), dtype=object)
        out[:] = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in flat]
        array = out
    else:
        try:
            array = np.array(data, dtype=NUMPY_DTYPES[OIP_TO_DT[datatype]]).reshape(-1)
        except (KeyError, ValueError, TypeError) as exc:
            raise CodecError(f"cannot read {datatype} data: {exc}") from None
    if array.size != math.prod(dims):
        raise CodecError(f"data has {array.size} elements, shape {dims} needs {math.prod(dims)}")
    return array.reshape(dims)


def signature_from_metadata(
    name: str, inputs: Iterable[Mapping[str, Any]], outputs: Iterable[Mapping[str, Any]]
) -> Signature:
    """OIP model metadata (``inputs``/``outputs`` with name, datatype, shape) as a Signature.

    OIP serves one function per model, so the signature keeps the route's
    name (``serving_default``) and has no method name.
    """

    def specs(tensors: Iterable[Mapping[str, Any]]) -> dict[str, TensorSpec]:
        out = {}
        for tensor in tensors:
            datatype = str(tensor["datatype"])
            if datatype not in OIP_TO_DT:
                raise CodecError(f"tensor {tensor['name']!r} has unknown datatype {datatype!r}")
            out[str(tensor["name"])] = TensorSpec(
                str(tensor["name"]), int(OIP_TO_DT[datatype]), tuple(int(d) for d in tensor["shape"])
            )
        return out

    return Signature(name, "", specs(inputs), specs(outputs))
