"""TensorProto <-> numpy without TensorFlow: the one codec for tensors on TF Serving's gRPC
wire, for the server (``pyserving.apis.tensor_proto`` adds its tensor limits) and the client
(``make_tensor_proto`` / ``make_ndarray``, drop-in for ``tf.make_tensor_proto`` /
``tf.make_ndarray``).

Why here: the client installs alone (numpy, grpcio, protobuf), so the codec lives where it can
be imported without the server. Why hand-written instead of TensorFlow's: those walk elements
in Python and are the slowest part of a naive gRPC server or client. Here no Python loop
touches numeric elements:

* ``tensor_content`` is decoded with ``np.frombuffer(...).reshape``;
* typed repeated fields (``float_val``, ``int_val``, ...) are read with
  ``np.asarray(field, dtype)`` (upb containers convert in C);
* fixed-width values (float, double, complex) are written as one packed wire-format field
  merged into the message (a memcpy); varint fields go through one ``tolist()`` slice
  assignment; ``make_tensor_proto`` writes numbers as one ``tensor_content`` copy, as TF does.

Decoding follows TF's ``Tensor::FromProto``: the shape must be valid (no negative dims, at
most 254 of them, no int64 overflow, no dims or values with ``unknown_rank``);
``tensor_content`` must hold exactly ``num_elements * itemsize`` bytes, even for zero
elements; otherwise values come from the dtype's typed field, where fewer values than the
shape needs repeat the last one, no values mean zeros, and extra values are ignored.

Encoding follows TF Serving's predict outputs: ``dtype`` and ``tensor_shape`` always set (an
empty ``tensor_shape`` for scalars), values in the typed field, or in ``tensor_content`` when
asked. String tensors always use ``string_val``: TF's packed string encoding in
``tensor_content`` is unreadable by ``tf.make_ndarray`` and most clients.

Errors are :class:`TensorProtoError` (a ``ValueError``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyserving.client._protos import tensor_pb2, types_pb2

__all__ = [
    "DTYPE_NAMES",
    "TensorProtoError",
    "datatype_of",
    "decode",
    "encode",
    "make_ndarray",
    "make_tensor_proto",
    "numpy_dtype",
    "numpy_dtype_for",
]

TensorProto = tensor_pb2.TensorProto
_T = types_pb2
#: ``check(shape, dtype, itemsize, string_bytes)``: a hook :func:`decode` runs before allocating.
CheckDims = Callable[[tuple[int, ...], int, int, int], None]
_REF_OFFSET = 100

#: ``"DT_FLOAT"`` -> 1 and so on (REST metadata names dtypes by their enum names).
DTYPE_NAMES: dict[str, int] = dict(_T.DataType.items())
_NAMES_BY_NUMBER = {number: name for name, number in DTYPE_NAMES.items()}


def _dtype_name(dtype: int) -> str:
    """``DT_FLOAT`` / ``DT_FLOAT_REF``, as TF Serving prints dtypes."""
    base = dtype - _REF_OFFSET if dtype > _REF_OFFSET else dtype
    name = _NAMES_BY_NUMBER.get(base, f"DT_{base}")
    return name + "_REF" if dtype > _REF_OFFSET else name


_MAX_DIMS = 254  # TensorShape::MaxDimensions()
# Byte layouts below (tensor_content, packed fields) are little-endian, like every
# platform TensorFlow ships for; numpy's native order is assumed to match.
if not np.little_endian:  # pragma: no cover
    raise ImportError("pyserving's TensorProto codec assumes a little-endian host (as TensorFlow does)")
_INT64_MAX = 2**63 - 1

try:  # ml_dtypes (a TensorFlow dependency) is numpy's bfloat16; optional here.
    import ml_dtypes

    _BFLOAT16: np.dtype | None = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
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
        _T.DT_FLOAT: _Codec(np.dtype(np.float32), "float_val", f32, packed_fixed=True),
        _T.DT_DOUBLE: _Codec(np.dtype(np.float64), "double_val", f64, packed_fixed=True),
        _T.DT_COMPLEX64: _Codec(np.dtype(np.complex64), "scomplex_val", f32, 2, True),
        _T.DT_COMPLEX128: _Codec(np.dtype(np.complex128), "dcomplex_val", f64, 2, True),
        _T.DT_INT32: _Codec(np.dtype(np.int32), "int_val", np.dtype(np.int32)),
        _T.DT_INT16: _Codec(np.dtype(np.int16), "int_val", np.dtype(np.int32)),
        _T.DT_INT8: _Codec(np.dtype(np.int8), "int_val", np.dtype(np.int32)),
        _T.DT_UINT8: _Codec(np.dtype(np.uint8), "int_val", np.dtype(np.int32)),
        _T.DT_UINT16: _Codec(np.dtype(np.uint16), "int_val", np.dtype(np.int32)),
        _T.DT_INT64: _Codec(np.dtype(np.int64), "int64_val", np.dtype(np.int64)),
        _T.DT_UINT32: _Codec(np.dtype(np.uint32), "uint32_val", np.dtype(np.uint32)),
        _T.DT_UINT64: _Codec(np.dtype(np.uint64), "uint64_val", np.dtype(np.uint64)),
        _T.DT_BOOL: _Codec(np.dtype(np.bool_), "bool_val", np.dtype(np.bool_)),
        # half_val holds the 16-bit patterns, widened to int32 on the wire.
        _T.DT_HALF: _Codec(np.dtype(np.float16), "half_val", np.dtype(np.int32)),
        _T.DT_STRING: _Codec(np.dtype(object), "string_val", np.dtype(object)),
    }
    if _BFLOAT16 is not None:
        table[_T.DT_BFLOAT16] = _Codec(_BFLOAT16, "half_val", np.dtype(np.int32))
    return table


_CODECS = _codecs()
_BY_NUMPY: dict[np.dtype, int] = {codec.numpy: dtype for dtype, codec in _CODECS.items() if dtype != _T.DT_STRING}
_FIELD_NUMBERS = {f.name: f.number for f in TensorProto.DESCRIPTOR.fields}


def numpy_dtype_for(dtype: int) -> np.dtype:
    """The numpy dtype :func:`decode` produces for a DataType number."""
    codec = _CODECS.get(dtype)
    if codec is None:
        raise TensorProtoError(f"unsupported dtype {_dtype_name(dtype)}")
    return codec.numpy


# -- decoding ---------------------------------------------------------------------------


def decode(proto: Any, check: CheckDims | None = None) -> np.ndarray:
    """TF ``Tensor::FromProto`` into numpy. Raises :class:`TensorProtoError`.

    ``check(shape, dtype, itemsize, string_bytes)`` (the server's tensor limits) runs after the
    shape is validated and before anything is allocated; what it raises propagates. Arrays
    decoded from ``tensor_content`` are read-only views of the bytes.
    """
    codec = _CODECS.get(proto.dtype)
    if codec is None:
        raise TensorProtoError(f"unsupported dtype {_dtype_name(proto.dtype)}")
    shape = _shape(proto.tensor_shape)
    content = proto.tensor_content
    field = None if content else getattr(proto, codec.field)
    if proto.tensor_shape.unknown_rank and (content or field):
        raise TensorProtoError("a tensor of unknown rank (tensor_shape.unknown_rank) cannot hold values")
    count = math.prod(shape)
    if check is not None:
        check(shape, proto.dtype, codec.numpy.itemsize, _string_bytes(proto, content, field, count))
    if content:
        if proto.dtype == _T.DT_STRING:
            return _decode_string_list(content, count).reshape(shape)
        if len(content) != count * codec.numpy.itemsize:
            raise TensorProtoError(
                f"tensor_content holds {len(content)} bytes; shape {list(shape)} of "
                f"{_dtype_name(proto.dtype)} needs {count * codec.numpy.itemsize}"
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
    if proto.dtype != _T.DT_STRING:
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


def encode(array: Any, use_tensor_content: bool = False, out: Any = None) -> Any:
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
    if dtype == _T.DT_STRING:
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
        return _T.DT_STRING
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


# -- the client's drop-ins for tf.make_tensor_proto / tf.make_ndarray ----------------------


def numpy_dtype(dtype: int | str) -> np.dtype | None:
    """The numpy dtype of a DataType (number or ``DT_*`` name; ``_REF`` types map to their base)."""
    number = DTYPE_NAMES.get(dtype.removesuffix("_REF"), 0) if isinstance(dtype, str) else int(dtype)
    if number > _REF_OFFSET:
        number -= _REF_OFFSET
    codec = _CODECS.get(number)
    return codec.numpy if codec else None


def datatype_of(array: np.ndarray) -> int:
    """The DataType a numpy array is sent as (``O``, ``S`` and ``U`` arrays are DT_STRING)."""
    return _dtype_of(array if array.dtype.byteorder != ">" else array.astype(array.dtype.newbyteorder("=")))


def _as_array(values: Any, dtype: np.dtype | None) -> np.ndarray:
    if isinstance(values, (bytes, str)):
        scalar = np.empty((), dtype=object)  # "S" arrays would drop trailing NUL bytes
        scalar[()] = values
        return scalar
    if dtype is not None:
        if dtype.kind == "O":
            array = np.asarray(values)
            return array if array.dtype.kind == "O" else array.astype(object)
        return np.asarray(values, dtype=dtype)
    if isinstance(values, (np.ndarray, np.generic)):
        return np.asarray(values)
    array = np.asarray(values)
    # TensorFlow's defaults for Python numbers: int -> int32 when it fits, float -> float32.
    if array.dtype == np.int64 and (not array.size or (-(2**31) <= array.min() and array.max() < 2**31)):
        return array.astype(np.int32)
    if array.dtype == np.float64:
        return array.astype(np.float32)
    if array.dtype.kind == "U":
        return array.astype(object)
    return array


def _numpy_for(dtype: Any) -> np.dtype | None:
    """``dtype`` given as a DataType number or ``DT_*`` name, a numpy dtype, a tf.DType or None."""
    if dtype is None:
        return None
    if isinstance(dtype, (int, np.integer, str)) and not isinstance(dtype, bool):
        if isinstance(dtype, str) and not dtype.startswith("DT_"):
            return np.dtype(dtype)  # "float32" and the like
        found = numpy_dtype(dtype if isinstance(dtype, str) else int(dtype))
        if found is None:
            raise TensorProtoError(f"unsupported DataType {dtype}")
        return found
    if hasattr(dtype, "as_numpy_dtype"):  # a tf.DType, when TensorFlow happens to be there
        return np.dtype(dtype.as_numpy_dtype)
    return np.dtype(dtype)


def make_tensor_proto(values: Any, dtype: Any = None, shape: Any = None, use_tensor_content: bool = True) -> Any:
    """``tf.make_tensor_proto`` without TensorFlow: a ``tensorflow.TensorProto`` of ``values``.

    ``dtype``: a numpy dtype, a DataType number or ``"DT_*"`` name (default: inferred as TF
    does). ``shape``: reshape to it; a single value is repeated to fill it, as in TF.
    Numbers go in ``tensor_content`` (one copy; ``use_tensor_content=False``: typed fields).
    """
    array = _as_array(values, _numpy_for(dtype))
    if shape is not None:
        dims = tuple(int(d) for d in shape)
        if array.size == math.prod(dims):
            array = array.reshape(dims)
        elif array.size == 1:
            filled = np.empty(dims, dtype=array.dtype)
            filled[...] = array.reshape(-1)[0]
            array = filled
        else:
            raise TensorProtoError(f"{array.size} values cannot fill shape {list(dims)}")
    return encode(array, use_tensor_content)


def make_ndarray(proto: Any) -> np.ndarray:
    """``tf.make_ndarray`` without TensorFlow: the (writable) numpy array a ``TensorProto`` holds.

    Strings come back as an ``object`` array of ``bytes``, as in TF.
    """
    array = decode(proto)
    return array if array.flags.writeable else array.copy()
