"""``make_tensor_proto`` / ``make_ndarray`` without TensorFlow.

Why: users of the stock ``tensorflow-serving-api`` stubs import TensorFlow (~1.5 GB, ~3 s)
only for ``tf.make_tensor_proto`` and ``tf.make_ndarray``. These two functions build and
read the same ``tensorflow.TensorProto`` messages with numpy alone, and faster: numeric
values travel as one ``tensor_content`` byte string, never element by element.

Conversion rules follow TensorFlow's: Python ints become DT_INT32 (DT_INT64 when they do
not fit), Python floats DT_FLOAT, ``str``/``bytes`` DT_STRING; numpy arrays keep their dtype.
``make_ndarray`` follows ``Tensor::FromProto``: a typed field with fewer values than the
shape needs repeats its last value, and an empty one means zeros.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pyserving.client._protos import tensor_pb2, types_pb2

__all__ = ["make_tensor_proto", "make_ndarray", "numpy_dtype", "datatype_of", "DTYPE_NAMES"]

TensorProto = tensor_pb2.TensorProto
_T = types_pb2

if not np.little_endian:  # pragma: no cover
    raise ImportError("pyserving.client assumes a little-endian host (as TensorFlow does)")

try:  # ml_dtypes (a TensorFlow dependency) is numpy's bfloat16; optional here.
    import ml_dtypes

    _BFLOAT16: np.dtype | None = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
    _BFLOAT16 = None

# DataType -> (numpy dtype, typed repeated field, numpy dtype of one value in that field)
_FIELDS: dict[int, tuple[np.dtype, str, np.dtype]] = {
    _T.DT_FLOAT: (np.dtype(np.float32), "float_val", np.dtype(np.float32)),
    _T.DT_DOUBLE: (np.dtype(np.float64), "double_val", np.dtype(np.float64)),
    _T.DT_INT32: (np.dtype(np.int32), "int_val", np.dtype(np.int32)),
    _T.DT_INT16: (np.dtype(np.int16), "int_val", np.dtype(np.int32)),
    _T.DT_INT8: (np.dtype(np.int8), "int_val", np.dtype(np.int32)),
    _T.DT_UINT8: (np.dtype(np.uint8), "int_val", np.dtype(np.int32)),
    _T.DT_UINT16: (np.dtype(np.uint16), "int_val", np.dtype(np.int32)),
    _T.DT_INT64: (np.dtype(np.int64), "int64_val", np.dtype(np.int64)),
    _T.DT_UINT32: (np.dtype(np.uint32), "uint32_val", np.dtype(np.uint32)),
    _T.DT_UINT64: (np.dtype(np.uint64), "uint64_val", np.dtype(np.uint64)),
    _T.DT_BOOL: (np.dtype(np.bool_), "bool_val", np.dtype(np.bool_)),
    _T.DT_HALF: (np.dtype(np.float16), "half_val", np.dtype(np.int32)),
    _T.DT_COMPLEX64: (np.dtype(np.complex64), "scomplex_val", np.dtype(np.float32)),
    _T.DT_COMPLEX128: (np.dtype(np.complex128), "dcomplex_val", np.dtype(np.float64)),
    _T.DT_STRING: (np.dtype(object), "string_val", np.dtype(object)),
}
if _BFLOAT16 is not None:
    _FIELDS[_T.DT_BFLOAT16] = (_BFLOAT16, "half_val", np.dtype(np.int32))

_BY_NUMPY: dict[np.dtype, int] = {np_dtype: dt for dt, (np_dtype, _, _) in _FIELDS.items() if dt != _T.DT_STRING}

#: ``"DT_FLOAT"`` -> 1 and so on (REST metadata names dtypes by their enum names).
DTYPE_NAMES: dict[str, int] = dict(_T.DataType.items())


def numpy_dtype(dtype: int | str) -> np.dtype | None:
    """The numpy dtype of a DataType (number or ``DT_*`` name; ``_REF`` types map to their base)."""
    number = DTYPE_NAMES.get(dtype, 0) if isinstance(dtype, str) else int(dtype)
    if number > 100:
        number -= 100
    entry = _FIELDS.get(number)
    return entry[0] if entry else None


def datatype_of(array: np.ndarray) -> int:
    """The DataType a numpy array is sent as (``O``, ``S`` and ``U`` arrays are DT_STRING)."""
    if array.dtype.kind in "OSU":
        return _T.DT_STRING
    dt = _BY_NUMPY.get(array.dtype.newbyteorder("=")) if array.dtype.byteorder == ">" else _BY_NUMPY.get(array.dtype)
    if dt is None:
        raise TypeError(f"numpy dtype {array.dtype} has no TensorFlow DataType")
    return dt


def _as_array(values: Any, dtype: Any) -> np.ndarray:
    if isinstance(values, (bytes, str)):
        scalar = np.empty((), dtype=object)  # "S" arrays would drop trailing NUL bytes
        scalar[()] = values
        return scalar
    if dtype is not None:
        return np.asarray(values, dtype=dtype)
    if isinstance(values, (np.ndarray, np.generic)):
        return np.asarray(values)
    array = np.asarray(values)
    # TensorFlow's defaults for Python numbers: int -> int32 when it fits, float -> float32.
    if array.dtype == np.int64 and array.size and -(2**31) <= array.min() and array.max() < 2**31:
        return array.astype(np.int32)
    if array.dtype == np.int64 and not array.size:
        return array.astype(np.int32)
    if array.dtype == np.float64:
        return array.astype(np.float32)
    if array.dtype.kind == "U":
        return array.astype(object)
    return array


def _numpy_for(dtype: Any) -> Any:
    """``dtype`` given as a DataType number/name, a numpy dtype or None."""
    if dtype is None:
        return None
    if isinstance(dtype, (int, np.integer, str)) and not isinstance(dtype, bool):
        if isinstance(dtype, str) and not dtype.startswith("DT_"):
            return np.dtype(dtype)  # "float32" and the like
        found = numpy_dtype(dtype if isinstance(dtype, str) else int(dtype))
        if found is None:
            raise TypeError(f"unsupported DataType {dtype}")
        return found
    if hasattr(dtype, "as_numpy_dtype"):  # a tf.DType, when TensorFlow happens to be there
        return np.dtype(dtype.as_numpy_dtype)
    return np.dtype(dtype)


def make_tensor_proto(values: Any, dtype: Any = None, shape: Any = None, use_tensor_content: bool = True) -> Any:
    """``tf.make_tensor_proto`` without TensorFlow: a ``tensorflow.TensorProto`` of ``values``.

    ``dtype``: a numpy dtype, a DataType number or ``"DT_*"`` name (default: inferred as TF
    does). ``shape``: reshape to it; a single value is repeated to fill it, as in TF.
    Numeric values go in ``tensor_content`` (one copy); strings in ``string_val``.
    """
    np_dtype = _numpy_for(dtype)
    array = _as_array(values, None if np_dtype is not None and np_dtype.kind == "O" else np_dtype)
    if np_dtype is not None and np_dtype.kind == "O" and array.dtype.kind != "O":
        array = array.astype(object)
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        if array.size == math.prod(shape):
            array = array.reshape(shape)
        elif array.size == 1:
            array = np.full(
                shape, array.reshape(()).item() if array.dtype.kind != "O" else array.reshape(-1)[0], dtype=array.dtype
            )
        else:
            raise ValueError(f"{array.size} values cannot fill shape {list(shape)}")
    return _encode(array, use_tensor_content)


def _encode(array: np.ndarray, use_tensor_content: bool = True, out: Any = None) -> Any:
    dt = datatype_of(array)
    proto = TensorProto() if out is None else out
    proto.dtype = dt
    proto.tensor_shape.SetInParent()
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add().size = size
    if array.size == 0:
        return proto
    if dt == _T.DT_STRING:
        proto.string_val.extend(_bytes_list(array))
    elif use_tensor_content:
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("="))
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    else:
        field = _FIELDS[dt][1]
        flat = array.ravel()
        if field == "half_val":
            flat = flat.view(np.uint16)
        elif array.dtype.kind == "c":
            flat = flat.view(flat.real.dtype)
        getattr(proto, field)[:] = flat.tolist()
    return proto


def _bytes_list(array: np.ndarray) -> list[bytes]:
    values = array.ravel().tolist()
    if array.dtype.kind == "S":
        return values
    out = []
    for v in values:
        if isinstance(v, bytes):
            out.append(v)
        elif isinstance(v, str):
            out.append(v.encode("utf-8"))
        elif isinstance(v, (bytearray, memoryview, np.bytes_)):
            out.append(bytes(v))
        else:
            raise TypeError(f"a string tensor element must be str or bytes, not {type(v).__name__}")
    return out


def make_ndarray(proto: Any) -> np.ndarray:
    """``tf.make_ndarray`` without TensorFlow: the numpy array a ``TensorProto`` holds.

    Strings come back as an ``object`` array of ``bytes`` (as in TF).
    """
    entry = _FIELDS.get(proto.dtype)
    if entry is None:
        raise TypeError(
            f"unsupported DataType {types_pb2.DataType.Name(proto.dtype) if proto.dtype in types_pb2.DataType.values() else proto.dtype}"
        )
    np_dtype, field_name, wire = entry
    shape = tuple([d.size for d in proto.tensor_shape.dim])
    count = math.prod(shape)
    content = proto.tensor_content
    if content:
        if proto.dtype == _T.DT_STRING:
            return _decode_string_list(content, count).reshape(shape)
        if len(content) != count * np_dtype.itemsize:
            raise ValueError(
                f"tensor_content holds {len(content)} bytes; shape {list(shape)} needs {count * np_dtype.itemsize}"
            )
        return np.frombuffer(content, dtype=np_dtype).reshape(shape).copy()
    if count == 0:
        return np.empty(shape, dtype=np_dtype)
    field = getattr(proto, field_name)
    if np_dtype.kind == "O":
        values = np.empty(len(field), dtype=object)
        values[:] = list(field)
    else:
        raw = np.array(list(field), dtype=wire) if len(field) <= 16 else np.asarray(field, dtype=wire)
        if np_dtype.kind == "c":
            values = raw[: raw.size - raw.size % 2].view(np_dtype)
        elif field_name == "half_val":
            values = raw.astype(np.uint16).view(np_dtype)
        else:
            values = raw.astype(np_dtype, copy=False)
    return _filled(values, count, np_dtype).reshape(shape)


def _filled(values: np.ndarray, count: int, dtype: np.dtype) -> np.ndarray:
    """TF's FromProtoField: extra values dropped, the last one repeated, zeros when none."""
    have = values.size
    if have >= count:
        return values[:count]
    out = np.empty(count, dtype=dtype)
    if have == 0:
        out[:] = b"" if dtype.kind == "O" else 0
        return out
    out[:have] = values
    out[have:] = values[-1]
    return out


def _decode_string_list(content: bytes, count: int) -> np.ndarray:
    """TF's packed string ``tensor_content``: ``count`` varint lengths, then the bytes."""
    lengths: list[int] = []
    pos = 0
    for _ in range(count):
        value = shift = 0
        while True:
            if pos >= len(content) or shift > 28:
                raise ValueError("truncated string tensor_content")
            byte = content[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        lengths.append(value)
    if pos + sum(lengths) != len(content):
        raise ValueError("string tensor_content lengths do not match its size")
    out = np.empty(count, dtype=object)
    for i, length in enumerate(lengths):
        out[i] = content[pos : pos + length]
        pos += length
    return out
