"""ONNX Runtime's tensor type strings (``NodeArg.type``) <-> TensorFlow DataTypes and numpy dtypes."""

from __future__ import annotations

import numpy as np

from pyserving.tensors.dtypes import DataType, to_numpy

#: ``tensor(...)`` element types a signature can carry, as TF Serving clients know them.
ORT_TO_TF: dict[str, DataType] = {
    "tensor(float)": DataType.DT_FLOAT,
    "tensor(double)": DataType.DT_DOUBLE,
    "tensor(float16)": DataType.DT_HALF,
    "tensor(bfloat16)": DataType.DT_BFLOAT16,
    "tensor(int8)": DataType.DT_INT8,
    "tensor(int16)": DataType.DT_INT16,
    "tensor(int32)": DataType.DT_INT32,
    "tensor(int64)": DataType.DT_INT64,
    "tensor(uint8)": DataType.DT_UINT8,
    "tensor(uint16)": DataType.DT_UINT16,
    "tensor(uint32)": DataType.DT_UINT32,
    "tensor(uint64)": DataType.DT_UINT64,
    "tensor(bool)": DataType.DT_BOOL,
    "tensor(string)": DataType.DT_STRING,
    "tensor(complex64)": DataType.DT_COMPLEX64,
    "tensor(complex128)": DataType.DT_COMPLEX128,
}


class UnsupportedType(ValueError):
    """An input or output whose ONNX type no TF Serving client can send or read."""


def tf_dtype(ort_type: str) -> DataType:
    """The DataType of an ONNX Runtime type string; UnsupportedType for sequences, maps,
    optionals and element types TensorFlow has no DataType for (float8, int4, ...)."""
    try:
        return ORT_TO_TF[ort_type]
    except KeyError:
        hint = ""
        if ort_type.startswith(("seq(", "map(")):
            hint = (
                " (sequences and maps have no TensorProto form; a scikit-learn classifier exported "
                "by skl2onnx gives plain tensors with options={id(model): {'zipmap': False}})"
            )
        raise UnsupportedType(f"type {ort_type} is not supported{hint}") from None


def numpy_dtype(dtype: DataType) -> np.dtype:
    return to_numpy(dtype)
