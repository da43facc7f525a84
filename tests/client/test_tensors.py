"""make_tensor_proto / make_ndarray against TensorFlow's own, both ways, for every dtype."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf

from pyserving.client import make_ndarray, make_tensor_proto
from pyserving.client.oip_tensors import datatype_of, from_raw, to_raw

ARRAYS = {
    "float32": np.array([[1.5, -2.0], [np.inf, np.nan]], dtype=np.float32),
    "float64": np.array([0.1, 1e300], dtype=np.float64),
    "float16": np.array([1.5, -0.25, 65504], dtype=np.float16),
    "int8": np.array([-128, 127], dtype=np.int8),
    "int16": np.array([-300, 300], dtype=np.int16),
    "int32": np.arange(6, dtype=np.int32).reshape(2, 3),
    "int64": np.array([2**62, -(2**62)], dtype=np.int64),
    "uint8": np.array([0, 255], dtype=np.uint8),
    "uint16": np.array([0, 65535], dtype=np.uint16),
    "uint32": np.array([0, 2**32 - 1], dtype=np.uint32),
    "uint64": np.array([0, 2**64 - 1], dtype=np.uint64),
    "bool": np.array([[True], [False]]),
    "complex64": np.array([1 + 2j, -3j], dtype=np.complex64),
    "complex128": np.array([1 + 2j], dtype=np.complex128),
    "scalar": np.array(3.25, dtype=np.float32),
    "empty": np.zeros((0, 4), dtype=np.float32),
    "bytes": np.array([[b"a\x00", b""], [b"\xff\xfe", "酒店".encode()]], dtype=object),
    "str": np.array(["很", "喜欢"], dtype=object),
}


def _as_bytes(array: np.ndarray) -> np.ndarray:
    if array.dtype != object:
        return array
    return np.vectorize(lambda s: s.encode() if isinstance(s, str) else s, otypes=[object])(array)


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype, (a, b)
    if a.dtype.kind == "f" or a.dtype.kind == "c":
        np.testing.assert_array_equal(a, b)  # NaN == NaN here
    else:
        assert a.tolist() == b.tolist()


@pytest.mark.parametrize("name", sorted(ARRAYS))
@pytest.mark.parametrize("use_tensor_content", [True, False])
def test_ours_read_by_tensorflow(name: str, use_tensor_content: bool) -> None:
    array = ARRAYS[name]
    proto = make_tensor_proto(array, use_tensor_content=use_tensor_content)
    _same(tf.make_ndarray(proto), _as_bytes(array))
    _same(make_ndarray(proto), _as_bytes(array))


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_tensorflows_read_by_ours(name: str) -> None:
    array = ARRAYS[name]
    _same(make_ndarray(tf.make_tensor_proto(array)), tf.make_ndarray(tf.make_tensor_proto(array)))


@pytest.mark.parametrize(
    "values, kwargs",
    [
        (2, {"shape": [1]}),  # the seed tutorial's nwords
        (["很", "喜欢"], {"shape": [1, 2]}),  # and its words
        ([1.0, 2.0, 5.0], {}),
        ([[1, 2], [3, 4]], {}),
        ([1, 2**40], {}),
        (7.0, {"shape": [2, 2]}),
        (True, {}),
        (b"raw", {}),
        ([1, 2], {"dtype": np.float64}),
        ([1, 2], {"dtype": tf.int64}),
        ([1.5], {"dtype": 1}),  # DT_FLOAT by number
    ],
)
def test_python_values_infer_tensorflows_dtypes(values: object, kwargs: dict) -> None:
    ours = make_tensor_proto(values, **kwargs)
    theirs = tf.make_tensor_proto(values, **kwargs)
    assert ours.dtype == theirs.dtype
    assert ours.tensor_shape == theirs.tensor_shape
    _same(make_ndarray(ours), tf.make_ndarray(theirs))


def test_typed_fields_follow_from_proto_rules() -> None:
    """Fewer values than the shape needs: the last repeats; none: zeros (TF's FromProto)."""
    proto = tf.make_tensor_proto(0.0, shape=[3])
    del proto.float_val[:]
    proto.tensor_content = b""
    _same(make_ndarray(proto), tf.make_ndarray(proto))
    proto.float_val.extend([1.0, 2.0])
    _same(make_ndarray(proto), np.array([1.0, 2.0, 2.0], dtype=np.float32))
    _same(tf.make_ndarray(proto), make_ndarray(proto))


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot fill"):
        make_tensor_proto([1, 2, 3], shape=[2, 2])
    with pytest.raises(ValueError, match="datetime64"):
        make_tensor_proto(np.array([np.datetime64("2020-01-01")]))
    proto = make_tensor_proto(np.zeros(4, np.float32))
    proto.tensor_content = proto.tensor_content[:-1]
    with pytest.raises(ValueError, match="bytes"):
        make_ndarray(proto)


@pytest.mark.parametrize("name", sorted(set(ARRAYS) - {"complex64", "complex128"}))
def test_oip_raw_round_trip(name: str) -> None:
    array = ARRAYS[name]
    datatype = datatype_of(array)
    back = from_raw(datatype, list(array.shape), to_raw(array, datatype))
    _same(back, _as_bytes(array))
