"""TensorProto <-> numpy for the server: the one codec (``pyserving/client/tensors.py``, which
the client installs alone) within the server's :class:`~pyserving.tensors.limits.TensorLimits`.

Why the limits here: a request's declared shape is checked against ``--max_tensor_*`` before
anything is allocated (``docs/security.md``); a client decoding its own server's answers has no
such limits. Protocol edges turn :class:`TensorProtoError` into INVALID_ARGUMENT
"tensor parsing error: <alias>".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyserving.client.tensors import TensorProtoError, decode, encode, numpy_dtype_for
from pyserving.tensors.limits import DEFAULT_LIMITS, TensorLimitError, TensorLimits

__all__ = ["TensorProtoError", "array_to_tensor", "tensor_to_array", "numpy_dtype_for"]


def tensor_to_array(proto: Any, limits: TensorLimits = DEFAULT_LIMITS) -> np.ndarray:
    """TF ``Tensor::FromProto`` into numpy, within ``limits``. Raises :class:`TensorProtoError`.

    Every check runs before anything is allocated. Arrays decoded from ``tensor_content``
    are read-only views of the bytes.
    """

    def check(shape: tuple[int, ...], dtype: int, itemsize: int, string_bytes: int) -> None:
        try:
            limits.check_dims(shape, dtype, itemsize, string_bytes)
        except TensorLimitError as exc:
            raise TensorProtoError(str(exc)) from None

    return decode(proto, check)


def array_to_tensor(array: Any, use_tensor_content: bool = False, out: Any = None) -> Any:
    """numpy (or anything ``np.asarray`` takes) to a TensorProto, as TF Serving answers.

    ``out``: an existing (empty) TensorProto to fill in place, e.g. a map entry of
    a response, which saves one copy of the values. Returns the proto filled.
    """
    return encode(array, use_tensor_content, out)
