"""TensorFlow DataType numbers, their short names and their numpy dtypes.

The numbers are the wire values of ``tensorflow.DataType`` (types.proto), so both
REST and gRPC can use them without importing TensorFlow.
"""

from __future__ import annotations

import enum

import numpy as np


class DataType(enum.IntEnum):
    DT_INVALID = 0
    DT_FLOAT = 1
    DT_DOUBLE = 2
    DT_INT32 = 3
    DT_UINT8 = 4
    DT_INT16 = 5
    DT_INT8 = 6
    DT_STRING = 7
    DT_COMPLEX64 = 8
    DT_INT64 = 9
    DT_BOOL = 10
    DT_QINT8 = 11
    DT_QUINT8 = 12
    DT_QINT32 = 13
    DT_BFLOAT16 = 14
    DT_QINT16 = 15
    DT_QUINT16 = 16
    DT_UINT16 = 17
    DT_COMPLEX128 = 18
    DT_HALF = 19
    DT_RESOURCE = 20
    DT_VARIANT = 21
    DT_UINT32 = 22
    DT_UINT64 = 23

    @property
    def base(self) -> DataType:
        return self


REF_OFFSET = 100

# TF's DataTypeString() short names, used in error messages ("expected type: float").
SHORT_NAMES: dict[int, str] = {
    DataType.DT_FLOAT: "float",
    DataType.DT_DOUBLE: "double",
    DataType.DT_INT32: "int32",
    DataType.DT_UINT8: "uint8",
    DataType.DT_INT16: "int16",
    DataType.DT_INT8: "int8",
    DataType.DT_STRING: "string",
    DataType.DT_COMPLEX64: "complex64",
    DataType.DT_INT64: "int64",
    DataType.DT_BOOL: "bool",
    DataType.DT_QINT8: "qint8",
    DataType.DT_QUINT8: "quint8",
    DataType.DT_QINT32: "qint32",
    DataType.DT_BFLOAT16: "bfloat16",
    DataType.DT_QINT16: "qint16",
    DataType.DT_QUINT16: "quint16",
    DataType.DT_UINT16: "uint16",
    DataType.DT_COMPLEX128: "complex128",
    DataType.DT_HALF: "half",
    DataType.DT_RESOURCE: "resource",
    DataType.DT_VARIANT: "variant",
    DataType.DT_UINT32: "uint32",
    DataType.DT_UINT64: "uint64",
}

NUMPY_DTYPES: dict[int, np.dtype] = {
    DataType.DT_FLOAT: np.dtype(np.float32),
    DataType.DT_DOUBLE: np.dtype(np.float64),
    DataType.DT_INT32: np.dtype(np.int32),
    DataType.DT_UINT8: np.dtype(np.uint8),
    DataType.DT_INT16: np.dtype(np.int16),
    DataType.DT_INT8: np.dtype(np.int8),
    DataType.DT_STRING: np.dtype(object),
    DataType.DT_COMPLEX64: np.dtype(np.complex64),
    DataType.DT_INT64: np.dtype(np.int64),
    DataType.DT_BOOL: np.dtype(np.bool_),
    DataType.DT_UINT16: np.dtype(np.uint16),
    DataType.DT_COMPLEX128: np.dtype(np.complex128),
    DataType.DT_HALF: np.dtype(np.float16),
    DataType.DT_UINT32: np.dtype(np.uint32),
    DataType.DT_UINT64: np.dtype(np.uint64),
}

try:  # ml_dtypes ships with TensorFlow; without it bfloat16 is simply not mapped
    import ml_dtypes

    NUMPY_DTYPES[DataType.DT_BFLOAT16] = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover
    pass

_FROM_NUMPY: dict[np.dtype, DataType] = {v: DataType(k) for k, v in NUMPY_DTYPES.items() if k != DataType.DT_STRING}


def base_dtype(dtype: int) -> int:
    """Strip the reference bit (DT_FLOAT_REF -> DT_FLOAT)."""
    return dtype - REF_OFFSET if dtype > REF_OFFSET else dtype


def short_name(dtype: int) -> str:
    base = base_dtype(dtype)
    name = SHORT_NAMES.get(base, f"type{base}")
    return name + "_ref" if dtype > REF_OFFSET else name


def enum_name(dtype: int) -> str:
    """``DT_FLOAT`` / ``DT_FLOAT_REF``, as TF Serving prints dtypes in metadata."""
    base = base_dtype(dtype)
    try:
        name = DataType(base).name
    except ValueError:
        name = f"DT_{base}"
    return name + "_REF" if dtype > REF_OFFSET else name


def to_numpy(dtype: int) -> np.dtype:
    try:
        return NUMPY_DTYPES[base_dtype(dtype)]
    except KeyError:
        raise ValueError(f"no numpy dtype for {enum_name(dtype)}") from None


def from_numpy(dtype: np.dtype) -> DataType:
    """The DataType of a numpy array; bytes/str/object arrays are DT_STRING."""
    if dtype.kind in ("O", "S", "U"):
        return DataType.DT_STRING
    try:
        return _FROM_NUMPY[dtype]
    except KeyError:
        raise ValueError(f"unsupported numpy dtype {dtype}") from None
