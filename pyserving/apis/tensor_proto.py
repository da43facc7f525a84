"""TensorProto <-> numpy: the one codec for tensors on the gRPC wire.

Why hand-written instead of ``tf.make_tensor_proto`` / ``tf.make_ndarray``: those
walk elements in Python and are the slowest part of a naive gRPC server. Here no
Python loop touches numeric elements:

* ``tensor_content`` is decoded with ``np.frombuffer(...).reshape``;
* typed repeated fields (``float_val``, ``int_val``, ...) are read with
  ``np.asarray(field, dtype)`` (upb containers convert in C);
* fixed-width outputs (float, double, complex) are written as one packed
  wire-format field merged into the message (a memcpy); varint fields go
  through one ``tolist()`` slice assignment.

Decoding follows TF's ``Tensor::FromProto``: the shape must be valid (no
negative dims, at most 254 of them, no int64 overflow, no dims or values with
``unknown_rank``) and within :class:`~pyserving.tensors.limits.TensorLimits`
(checked before anything is allocated); ``tensor_content`` must hold exactly
``num_elements * itemsize`` bytes, even for zero elements; otherwise values come
from the dtype's typed field, where fewer values than the shape needs repeat
the last one, no values mean zeros, and extra values are ignored.

Encoding follows TF Serving's predict outputs: ``dtype`` and ``tensor_shape``
always set (an empty ``tensor_shape`` for scalars), values in the typed field,
or in ``tensor_content`` when asked (``--enable_serialization_as_tensor_content``).
String tensors always use ``string_val``: TF's packed string encoding in
``tensor_content`` is unreadable by ``tf.make_ndarray`` and most clients.

Errors are :class:`TensorProtoError` (a ``ValueError``); protocol edges turn
them into INVALID_ARGUMENT "tensor parsing error: <alias>".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyserving.protos.tensorflow.core.framework import tensor_pb2
from pyserving.tensors.dtypes import DataType, enum_name
from pyserving.tensors.limits import DEFAULT_LIMITS, TensorLimitError, TensorLimits

__all__ = ["TensorProtoError", "array_to_tensor", "tensor_to_array", "numpy_dtype_for"]

TensorProto = tensor_pb2.TensorProto

_MAX_DIMS = 254  # TensorShape::MaxDimensions()
# Byte layouts below (tensor_content, packed fields) are little-endian, like every
# platform TensorFlow ships for; numpy's native order is assumed to match.
if not np.little_endian:  # pragma: no cover
    raise ImportError("pyserving's TensorProto codec assumes a little-endian host")
_INT64_MAX = 2**63 - 1

try:  # ml_dtypes ships with TensorFlow; it is numpy's bfloat16.
    import ml_dtypes

    _BFLOAT16: np.dtype | None = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - TF always brings it
    _BFLOAT16 = None


class TensorProtoError(ValueError):
    """A TensorProto that TF's FromProto would reject (or that we cannot represent)."""


@dataclass(frozen=True)
class _Codec:
    """How one DataType maps to numpy and to its typed repeated field."""

    numpy: np.dtype  # the array dtype we produce (object for strings)
    field: str  # typed repeated field name in TensorProto
    wire: np.dtype  # dtype of one value as stored in ``field``
    per_element: int = 1  # values per element (2 for complex pairs)
    packed_fixed: bool = False  # field is fixed-width: write it as raw packed bytes


def _codecs() -> dict[int, _Codec]:
    f32, f64 = np.dtype("<f4"), np.dtype("<f8")
    table: dict[int, _Codec] = {
        DataType.DT_FLOAT: _Codec(np.dtype(np.float32), "float_val", f32, packed_fixed=True),
        DataType.DT_DOUBLE: _Codec(np.dtype(np.float64), "double_val", f64, packed_fixed=True),
        DataType.DT_COMPLEX64: _Codec(np.dtype(np.complex64), "scomplex_val", f32, 2, True),
        DataType.DT_COMPLEX128: _Codec(np.dtype(np.complex128), "dcomplex_val", f64, 2, True),
        DataType.DT_INT32: _Codec(np.dtype(np.int32), "int_val", np.dtype(np.int32)),
        DataType.DT_INT16: _Codec(np.dtype(np.int16), "int_val", np.dtype(np.int32)),
        DataType.DT_INT8: _Codec(np.dtype(np.int8), "int_val", np.dtype(np.int32)),
        DataType.DT_UINT8: _Codec(np.dtype(np.uint8), "int_val", np.dtype(np.int32)),
        DataType.DT_UINT16: _Codec(np.dtype(np.uint16), "int_val", np.dtype(np.int32)),
        DataType.DT_INT64: _Codec(np.dtype(np.int64), "int64_val", np.dtype(np.int64)),
        DataType.DT_UINT32: _Codec(np.dtype(np.uint32), "uint32_val", np.dtype(np.uint32)),
        DataType.DT_UINT64: _Codec(np.dtype(np.uint64), "uint64_val", np.dtype(np.uint64)),
        DataType.DT_BOOL: _Codec(np.dtype(np.bool_), "bool_val", np.dtype(np.bool_)),
        # half_val holds the 16-bit patterns, widened to int32 on the wire.
        DataType.DT_HALF: _Codec(np.dtype(np.float16), "half_val", np.dtype(np.int32)),
        DataType.DT_STRING: _Codec(np.dtype(object), "string_val", np.dtype(object)),
    }
    if _BFLOAT16 is not None:
        table[DataType.DT_BFLOAT16] = _Codec(_BFLOAT16, "half_val", np.dtype(np.int32))
    return table


_CODECS = _codecs()
_BY_NUMPY: dict[np.dtype, int] = {codec.numpy: dtype for dtype, codec in _CODECS.items() if dtype != DataType.DT_STRING}
_FIELD_NUMBERS = {f.name: f.number for f in TensorProto.DESCRIPTOR.fields}


def numpy_dtype_for(dtype: int) -> np.dtype:
    """The numpy dtype :func:`tensor_to_array` produces for a DataType number."""
    codec = _CODECS.get(dtype)
    if codec is None:
        raise TensorProtoError(f"unsupported dtype {enum_name(dtype)}")
    return codec.numpy


# -- decoding ---------------------------------------------------------------------------


def tensor_to_array(proto: Any, limits: TensorLimits = DEFAULT_LIMITS) -> np.ndarray:
    """TF ``Tensor::FromProto`` into numpy, within ``limits``. Raises :class:`TensorProtoError`.

    Every check runs before anything is allocated. Arrays decoded from ``tensor_content``
    are read-only views of the bytes.
    """
    codec = _CODECS.get(proto.dtype)
    if codec is None:
        raise TensorProtoError(f"unsupported dtype {enum_name(proto.dtype)}")
    shape = _shape(proto.tensor_shape)
    content = proto.tensor_content
    field = None if content else getattr(proto, codec.field)
    if proto.tensor_shape.unknown_rank and (content or field):
        raise TensorProtoError("a tensor of unknown rank (tensor_shape.unknown_rank) cannot hold values")
    count = math.prod(shape)
    try:
        limits.check_dims(shape, proto.dtype, codec.numpy.itemsize, _string_bytes(proto, content, field, count))
    except TensorLimitError as exc:
        raise TensorProtoError(str(exc)) from None
    if content:
        if proto.dtype == DataType.DT_STRING:
            return _decode_string_list(content, count).reshape(shape)
        if len(content) != count * codec.numpy.itemsize:
            raise TensorProtoError(
                f"tensor_content holds {len(content)} bytes; shape {list(shape)} of "
                f"{enum_name(proto.dtype)} needs {count * codec.numpy.itemsize}"
            )
        return np.frombuffer(content, dtype=codec.numpy).reshape(shape)
    if count == 0:
        return np.empty(shape, dtype=codec.numpy)
    return _filled(_typed_values(field, codec), count, codec.numpy).reshape(shape)


def _shape(shape_proto: Any) -> tuple[int, ...]:
    # TensorShape::IsValid; unknown_rank is tolerated without dims (a scalar), as in TF.
    dims = tuple([d.size for d in shape_proto.dim])
    if shape_proto.unknown_rank and dims:
        raise TensorProtoError("an unknown shape (tensor_shape.unknown_rank) must not have any dimensions set")
    if len(dims) > _MAX_DIMS:
        raise TensorProtoError(f"shape has {len(dims)} dimensions; at most {_MAX_DIMS} allowed")
    if dims and min(dims) < 0:
        raise TensorProtoError(f"shape {list(dims)} has a negative dimension")
    if math.prod(dims) > _INT64_MAX:
        raise TensorProtoError(f"shape {list(dims)} has too many elements")
    return dims


def _string_bytes(proto: Any, content: bytes, field: Any, count: int) -> int:
    """The bytes a string tensor's elements will hold once the shape is filled (0 for numbers)."""
    if proto.dtype != DataType.DT_STRING:
        return 0
    if content:
        return len(content)
    have = len(field)
    total = sum(map(len, field))
    if 0 < have < count:  # the last value repeats to fill the shape
        total += (count - have) * len(field[have - 1])
    return total


def _typed_values(field: Any, codec: _Codec) -> np.ndarray:
    """The values of the dtype's typed field, as a flat array of ``codec.numpy``."""
    if codec.numpy.kind == "O":
        values = np.empty(len(field), dtype=object)
        values[:] = list(field)
        return values
    # np.asarray reads the field's buffer (fast when large) but costs ~2 µs to start;
    # a list is cheaper for the few values of a typical scalar or one-row request.
    raw = np.array(list(field), dtype=codec.wire) if len(field) <= 16 else np.asarray(field, dtype=codec.wire)
    if codec.per_element == 2:
        usable = raw.size - raw.size % 2  # a dangling real part is ignored, as in TF
        return raw[:usable].view(codec.numpy)
    if codec.field == "half_val":
        return raw.astype(np.uint16).view(codec.numpy)
    # int_val narrows with C++ static_cast semantics (wrap-around); numpy's astype does the same.
    return raw.astype(codec.numpy, copy=False)


def _filled(values: np.ndarray, count: int, dtype: np.dtype) -> np.ndarray:
    """TF's FromProtoField: truncate extra values, repeat the last, zeros when none."""
    have = values.size
    if have >= count:
        return values[:count]
    if have == 0:
        if dtype.kind == "O":
            out = np.empty(count, dtype=object)
            out[:] = b""
            return out
        return np.zeros(count, dtype=dtype)
    out = np.empty(count, dtype=dtype)
    out[:have] = values
    out[have:] = values[-1]
    return out


def _decode_string_list(content: bytes, count: int) -> np.ndarray:
    """TF's ``port::DecodeStringList``: ``count`` varint32 lengths, then the bytes."""
    lengths: list[int] = []
    pos = 0
    size = len(content)
    for _ in range(count):
        value = shift = 0
        while True:
            if pos >= size or shift > 28:
                raise TensorProtoError("truncated string tensor_content")
            byte = content[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        lengths.append(value)
    if pos + sum(lengths) != size:
        raise TensorProtoError("string tensor_content lengths do not match its size")
    out = np.empty(count, dtype=object)
    view = memoryview(content)
    for i, length in enumerate(lengths):
        out[i] = bytes(view[pos : pos + length])
        pos += length
    return out


# -- encoding ---------------------------------------------------------------------------


def array_to_tensor(array: Any, use_tensor_content: bool = False, out: Any = None) -> Any:
    """numpy (or anything ``np.asarray`` takes) to a TensorProto.

    ``out``: an existing (empty) TensorProto to fill in place, e.g. a map entry of
    a response, which saves one copy of the values. Returns the proto filled.
    """
    if isinstance(array, (bytes, str)):
        # A session returns string scalars as bytes; np.asarray would make them
        # fixed-width "S" values and drop trailing NUL bytes.
        scalar = np.empty((), dtype=object)
        scalar[()] = array
        array = scalar
    array = np.asarray(array)
    if array.dtype.byteorder == ">":  # non-native order (we only run on little-endian hosts)
        array = array.astype(array.dtype.newbyteorder("="))
    dtype = _dtype_of(array)
    codec = _CODECS[dtype]
    proto = TensorProto() if out is None else out
    proto.dtype = dtype
    proto.tensor_shape.SetInParent()  # present even for scalars
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add().size = size
    if array.size == 0:
        return proto
    if dtype == DataType.DT_STRING:
        proto.string_val.extend(_as_bytes_list(array))
    elif use_tensor_content:
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    elif codec.packed_fixed and array.size <= 16 and codec.per_element == 1:
        getattr(proto, codec.field)[:] = array.ravel().tolist()  # cheaper than a merge for a few
    elif codec.packed_fixed:
        flat = np.ascontiguousarray(array).reshape(-1).view(codec.wire)
        proto.MergeFromString(_packed(codec.field, flat))
    elif codec.field == "half_val":
        getattr(proto, codec.field)[:] = array.view(np.uint16).ravel().tolist()
    else:
        getattr(proto, codec.field)[:] = array.ravel().tolist()
    return proto


def _dtype_of(array: np.ndarray) -> int:
    if array.dtype.kind in ("O", "S", "U"):
        return DataType.DT_STRING
    dtype = _BY_NUMPY.get(array.dtype)
    if dtype is None:
        raise TensorProtoError(f"cannot encode numpy dtype {array.dtype} as a TensorProto")
    return dtype


def _as_bytes_list(array: np.ndarray) -> list[bytes]:
    values = array.ravel().tolist()
    if array.dtype.kind == "S":
        return values
    # str -> UTF-8; bytes (including non-UTF-8) are kept exactly as they are.
    return [v if isinstance(v, bytes) else _to_bytes(v) for v in values]


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TensorProtoError(f"string tensor element of type {type(value).__name__} is not str or bytes")


def _packed(field: str, values: np.ndarray) -> bytes:
    """One packed repeated field on the wire: tag, byte length, little-endian values."""
    payload = np.ascontiguousarray(values).tobytes()
    return _varint((_FIELD_NUMBERS[field] << 3) | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
