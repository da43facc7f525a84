"""What one request's tensor may be: rank, extent and bytes, checked before anything converts it.

Why here, in the framework-neutral tensor layer: every protocol decodes into the same
numpy arrays, and every backend receives them from ``ServerCore.run``, so one set of rules
guards all of them. The rules exist because the frameworks below do not guard themselves:

* **rank of string tensors at most 32.** TensorFlow converts a numpy object array with a
  fixed 32-entry dimension buffer (NPY_MAXDIMS of the numpy 1.x headers it is built with);
  a rank-33 string array overflows it and the process dies with SIGSEGV (TF 2.21, numpy 2.4;
  ``tests/apis/test_tensor_limits.py`` checks both sides in a child process).
* **rank at most 64** (numpy's NPY_MAXDIMS; TF's own TensorShape allows 254): numpy cannot
  hold more, so a higher rank could never reach a model anyway.
* **extent and bytes.** A TensorProto may ask for far more memory than it carries (the last
  value repeats to fill the shape), and a zero-element tensor may still have huge dims
  (``[2**40, 0]``) that a model's ops expand: TensorFlow's allocator then retries the
  allocation for 10 s while holding a process-wide lock, stalling every other model. The
  extent (the product of the dims with zeros counted as one) and the bytes the tensor will
  take (string elements counted as TF's 24-byte ``tstring`` plus their contents) are bounded
  by ``--max_tensor_elements`` and ``--max_tensor_bytes``, and an empty tensor may span at
  most 2**20 (``[0, 512, 512, 3]`` passes, ``[2**21, 0]`` does not).

Violations are :class:`TensorLimitError` (a ``ValueError``); the codecs turn them into
INVALID_ARGUMENT naming the input and the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pyserving.tensors.dtypes import DataType, from_numpy, short_name
from pyserving.tensors.shapes import dims_text

NUMPY_MAX_RANK = 64
STRING_MAX_RANK = 32
# sizeof(tensorflow::tstring): what each string element costs in a TensorFlow tensor.
STRING_ELEMENT_BYTES = 24

__all__ = ["NUMPY_MAX_RANK", "STRING_MAX_RANK", "TensorLimitError", "TensorLimits", "extent"]


class TensorLimitError(ValueError):
    """A tensor that breaks one of :class:`TensorLimits`' rules; the message names the rule."""


def extent(dims: Sequence[int]) -> int:
    """The product of ``dims`` with zero dims counted as one: what ops may expand the tensor to."""
    total = 1
    for dim in dims:
        if dim > 1:
            total *= dim
    return total


@dataclass(frozen=True)
class TensorLimits:
    """Per-tensor bounds (flags ``--max_tensor_rank``, ``--max_tensor_elements``, ``--max_tensor_bytes``)."""

    max_rank: int = NUMPY_MAX_RANK
    # 2**29 float32 values are 2 GiB: as much as one gRPC message can carry.
    max_elements: int = 2**29
    max_bytes: int = 2**31
    # A tensor with no elements carries nothing that could justify a large extent, yet ops expand
    # its dims ([2**28, 0] made the lstm model's Pad ask for 64 GB); empty batches of images fit.
    max_empty_extent: int = 2**20

    def max_rank_for(self, dtype: int) -> int:
        if dtype == DataType.DT_STRING:
            return min(self.max_rank, STRING_MAX_RANK, NUMPY_MAX_RANK)
        return min(self.max_rank, NUMPY_MAX_RANK)

    def check_dims(self, dims: Sequence[int], dtype: int, itemsize: int, string_bytes: int = 0) -> None:
        """The rules for a shape about to be allocated (``string_bytes``: contents of string elements)."""
        rank_limit = self.max_rank_for(dtype)
        if len(dims) > rank_limit:
            if rank_limit < self.max_rank:
                why = "TensorFlow cannot convert string tensors of higher rank"
            elif rank_limit == NUMPY_MAX_RANK:
                why = "numpy holds no more dimensions"
            else:
                why = "--max_tensor_rank"
            raise TensorLimitError(
                f"rank {len(dims)} is over the limit of {rank_limit} for {short_name(dtype)} tensors ({why})"
            )
        for dim in dims:
            if dim < 0:
                raise TensorLimitError(f"shape {dims_text(dims)} has a negative dimension")
        size = extent(dims)
        if 0 in dims and size > self.max_empty_extent:
            raise TensorLimitError(
                f"shape {dims_text(dims)} holds no elements but spans {size} (zero dimensions counted as 1); "
                f"an empty tensor may span at most {self.max_empty_extent}"
            )
        if size > self.max_elements:
            raise TensorLimitError(
                f"shape {dims_text(dims)} spans {size} elements (zero dimensions counted as 1); "
                f"the limit is {self.max_elements} (--max_tensor_elements)"
            )
        count = 0 if 0 in dims else size
        nbytes = count * (STRING_ELEMENT_BYTES if dtype == DataType.DT_STRING else itemsize) + string_bytes
        if nbytes > self.max_bytes:
            raise TensorLimitError(
                f"shape {dims_text(dims)} of {short_name(dtype)} takes {nbytes} bytes; "
                f"the limit is {self.max_bytes} (--max_tensor_bytes)"
            )

    def check_array(self, array: np.ndarray) -> None:
        """The rules for an array already decoded (REST JSON, warmup, a backend-neutral caller).

        Its bytes are already held, so only the rank and the extent matter here, and the
        contents of string elements are not summed (their size was bounded by the body).
        """
        try:
            dtype: int = from_numpy(array.dtype)
        except ValueError:
            dtype = DataType.DT_INVALID
        if array.ndim > self.max_rank_for(dtype) or array.ndim > 1 and array.size == 0:
            self.check_dims(array.shape, dtype, array.dtype.itemsize)


DEFAULT_LIMITS = TensorLimits()
