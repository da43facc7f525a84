"""TensorLimits: the rules, and the TensorFlow behaviour that sets the string rank limit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from pyserving.tensors.dtypes import DataType
from pyserving.tensors.limits import STRING_MAX_RANK, TensorLimitError, TensorLimits, extent

LIMITS = TensorLimits()

_CONVERT = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
rank = int(sys.argv[1])
array = np.empty((1,) * rank, dtype=object)
array[(0,) * rank] = b"a"
tf.constant(array)
print("converted")
"""


def _convert_in_child(rank: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CONVERT, str(rank)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONFAULTHANDLER": ""},
    )


def test_tensorflow_converts_string_arrays_up_to_the_limit_and_crashes_past_it() -> None:
    # Both sides of STRING_MAX_RANK, in TensorFlow itself: if the second assertion fails, a
    # newer TensorFlow no longer crashes and the limit may be raised to NUMPY_MAX_RANK.
    at_limit = _convert_in_child(STRING_MAX_RANK)
    assert at_limit.returncode == 0 and "converted" in at_limit.stdout, at_limit.stderr[-2000:]
    past_limit = _convert_in_child(STRING_MAX_RANK + 1)
    assert past_limit.returncode == -signal.SIGSEGV, (past_limit.returncode, past_limit.stderr[-2000:])


def test_string_rank_limit_and_numeric_rank_limit() -> None:
    LIMITS.check_dims([1] * 32, DataType.DT_STRING, 8)
    with pytest.raises(
        TensorLimitError,
        match="rank 33 is over the limit of 32 for string tensors "
        r"\(TensorFlow cannot convert",
    ):
        LIMITS.check_dims([1] * 33, DataType.DT_STRING, 8)
    LIMITS.check_dims([1] * 64, DataType.DT_FLOAT, 4)
    with pytest.raises(TensorLimitError, match=r"rank 65 is over the limit of 64 for float tensors \(numpy"):
        LIMITS.check_dims([1] * 65, DataType.DT_FLOAT, 4)
    with pytest.raises(TensorLimitError, match=r"rank 9 is over the limit of 8 .*\(--max_tensor_rank\)"):
        TensorLimits(max_rank=8).check_dims([1] * 9, DataType.DT_FLOAT, 4)


def test_extent_counts_zero_dims_as_one() -> None:
    assert extent([]) == 1
    assert extent([2**40, 0]) == 2**40
    assert extent([0, 224, 224, 3]) == 224 * 224 * 3


@pytest.mark.parametrize(
    "dims, message",
    [
        ([2**29 + 1], "--max_tensor_elements"),
        ([2**62, 2**62], "--max_tensor_elements"),
        ([2**40, 0], "holds no elements but spans 1099511627776"),
        ([0, 2**21], "an empty tensor may span at most 1048576"),
        ([2**28, 4], "--max_tensor_elements"),
        ([2**28], "takes 2147483648 bytes"),  # 2**28 doubles: at the element limit, past the bytes one
        ([3, -1], "negative dimension"),
    ],
)
def test_dims_past_a_limit(dims: list[int], message: str) -> None:
    dtype, itemsize = (DataType.DT_DOUBLE, 8) if dims == [2**28] else (DataType.DT_FLOAT, 4)
    limits = TensorLimits(max_bytes=2**31 - 1)
    with pytest.raises(TensorLimitError, match=message):
        limits.check_dims(dims, dtype, itemsize)


def test_dims_within_the_limits() -> None:
    LIMITS.check_dims([0, 512, 512, 3], DataType.DT_FLOAT, 4)  # an empty batch of images
    LIMITS.check_dims([2**29], DataType.DT_FLOAT, 4)  # 2 GiB of float32: at both limits
    LIMITS.check_dims([0], DataType.DT_STRING, 8)


def test_string_bytes_count_their_contents() -> None:
    with pytest.raises(TensorLimitError, match="--max_tensor_bytes"):
        TensorLimits(max_bytes=1000).check_dims([10], DataType.DT_STRING, 8, string_bytes=800)
    TensorLimits(max_bytes=1000).check_dims([10], DataType.DT_STRING, 8, string_bytes=700)


def test_decoded_arrays() -> None:
    strings = np.empty((1,) * 33, dtype=object)
    with pytest.raises(TensorLimitError, match="rank 33"):
        LIMITS.check_array(strings)
    LIMITS.check_array(np.empty((1,) * 32, dtype=object))
    LIMITS.check_array(np.zeros((1,) * 64, dtype=np.float32))
    LIMITS.check_array(np.zeros((0, 1024), dtype=np.float32))
