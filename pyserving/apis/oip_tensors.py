"""OIP tensors for the server: the one codec (``pyserving/client/oip_tensors.py``) within its rules.

Framework-free and shared by the REST and gRPC front ends (``../shared/docs/oip-v2.md`` §2-§3).
What the server adds to the codec: a declared shape is checked against :class:`TensorLimits`
before anything is allocated (and the codec then checks it against the bytes or values actually
sent), so a request can never ask for more memory than it carries; and every error is an
INVALID_ARGUMENT that names the input or output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyserving.apis.oip_datatypes import NUMPY, OIP_TO_TF
from pyserving.client import oip_tensors as codec
from pyserving.client.oip_tensors import CONTENTS_FIELD, OipTensorError, to_raw
from pyserving.core.errors import InvalidArgumentError
from pyserving.tensors.limits import TensorLimitError, TensorLimits

#: ``to_raw`` (an output's bytes) is the codec's own: outputs need no server rule.
__all__ = [
    "CONTENTS_FIELD",
    "check_datatype",
    "check_shape",
    "from_contents",
    "from_json",
    "from_raw",
    "to_json",
    "to_raw",
]


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
    if type(shape) is not list and not isinstance(shape, (list, tuple)):
        raise InvalidArgumentError(f"input '{name}': shape must be a list of non-negative integers, got {shape!r}")
    for d in shape:  # a loop, not all(generator): this runs once per input of every request
        if type(d) is not int or d < 0:
            raise InvalidArgumentError(f"input '{name}': shape must be a list of non-negative integers, got {shape!r}")
    dims = tuple(shape)
    itemsize = 0 if datatype == "BYTES" else NUMPY[datatype].itemsize
    try:
        limits.check_dims(dims, OIP_TO_TF[datatype], itemsize)
    except TensorLimitError as exc:
        raise InvalidArgumentError(f"input '{name}': {exc}") from None
    return dims


def from_json(name: str, datatype: str, shape: tuple[int, ...], data: Any) -> np.ndarray:
    """JSON ``data`` (flat or nested to any depth) -> an array of ``shape``; only the count must match."""
    try:
        return codec.from_json_data(datatype, shape, data)
    except OipTensorError as exc:
        raise InvalidArgumentError(f"input '{name}': {exc}") from None


def to_json(name: str, array: np.ndarray, datatype: str) -> Any:
    """A flat, JSON-ready value: the numpy array itself for numbers (orjson writes it), str for BYTES."""
    try:
        return codec.to_json_data(array, datatype, lists=False)
    except OipTensorError:
        what = "is BF16" if datatype == "BF16" else "holds bytes that are not UTF-8"
        raise InvalidArgumentError(
            f"output '{name}' {what}, which JSON cannot carry; request it with binary_data: true"
        ) from None


def from_raw(name: str, datatype: str, shape: tuple[int, ...], buffer: bytes | memoryview) -> np.ndarray:
    """One binary chunk (HTTP) or raw_input_contents entry (gRPC) -> an array of ``shape``."""
    try:
        return codec.from_raw(datatype, shape, buffer)
    except OipTensorError as exc:
        raise InvalidArgumentError(f"input '{name}': {exc}") from None


def from_contents(name: str, datatype: str, shape: tuple[int, ...], contents: Any) -> np.ndarray:
    """``InferTensorContents`` -> an array; only the field of ``datatype`` may hold values."""
    if datatype not in CONTENTS_FIELD:
        raise InvalidArgumentError(f"input '{name}': {datatype} can only be sent in raw_input_contents")
    try:
        return codec.from_contents(datatype, shape, contents)
    except OipTensorError as exc:
        raise InvalidArgumentError(f"input '{name}': {exc}") from None
