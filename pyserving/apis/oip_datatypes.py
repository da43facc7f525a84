"""Open Inference Protocol v2 datatypes <-> TensorFlow DataTypes <-> numpy dtypes.

Why a table of its own: OIP names types by string (``FP32``, ``BYTES``), TF Serving by
``DataType`` number, backends by numpy dtype; both OIP front ends (REST and gRPC) and the
model-config view must agree on one mapping (docs/oip.md, ``../shared/docs/oip-v2.md`` §2.1).
"""

from __future__ import annotations

import numpy as np

from pyserving.client.oip_tensors import DATATYPES, datatype_of
from pyserving.tensors.dtypes import DataType, base_dtype

#: OIP datatype -> TensorFlow DataType.
OIP_TO_TF: dict[str, DataType] = {
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
TF_TO_OIP: dict[int, str] = {int(v): k for k, v in OIP_TO_TF.items()}

#: OIP datatype -> the numpy dtype a decoded array has: the codec's table (``client/oip_tensors.py``).
NUMPY: dict[str, np.dtype] = DATATYPES

#: OIP datatype -> Triton model config ``DataType`` name (model_config.proto).
CONFIG_TYPES: dict[str, str] = {k: "TYPE_STRING" if k == "BYTES" else f"TYPE_{k}" for k in OIP_TO_TF}


def oip_datatype(tf_dtype: int) -> str | None:
    """The OIP name of a signature dtype (reference types map to their base); None when OIP has none."""
    return TF_TO_OIP.get(base_dtype(tf_dtype))


def array_datatype(array: np.ndarray) -> str:
    """The OIP datatype of a result array: object, ``S`` and ``U`` arrays are BYTES (a ValueError if none)."""
    return datatype_of(array)
