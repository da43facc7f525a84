"""The TensorProto codec against TensorFlow itself.

Oracles: ``tf.io.parse_tensor`` runs TF's C++ ``Tensor::FromProto`` (the exact
decoding rules TF Serving applies to request tensors), ``tf.make_ndarray`` and
``tf.make_tensor_proto`` are what Python clients use on the other end.
"""

from __future__ import annotations

import os
import time
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from pyserving.apis.tensor_proto import (
    TensorProtoError,
    array_to_tensor,
    numpy_dtype_for,
    tensor_to_array,
)

NUMERIC = [
    np.float32,
    np.float64,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.bool_,
    np.complex64,
    np.complex128,
    np.float16,
    ml_dtypes.bfloat16,
]
SHAPES = [(), (0,), (1,), (3,), (2, 3), (2, 0, 3), (1, 1, 1, 1)]


def sample(dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape))
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return (np.arange(count) % 3 == 0).reshape(shape)
    if dtype.kind == "c":
        return (np.arange(count) + 1j * (np.arange(count) - 2)).astype(dtype).reshape(shape)
    if dtype.kind == "u":
        return (np.iinfo(dtype).max - np.arange(count, dtype=dtype) * 7).reshape(shape)
    if dtype.kind == "i":
        return (np.arange(count) - count // 2).astype(dtype).reshape(shape) * 3
    return (np.arange(count) * 0.5 - 1.25).astype(dtype).reshape(shape)


def tf_parse(proto: Any) -> np.ndarray:
    """TF's own FromProto, through the ParseTensor kernel."""
    out_type = tf.dtypes.as_dtype(proto.dtype)
    value = tf.io.parse_tensor(proto.SerializeToString(), out_type).numpy()
    return np.asarray(value, dtype=object if out_type == tf.string else None)


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    if expected.dtype.kind in "OSU":
        assert actual.dtype == object
        assert actual.tolist() == np.asarray(expected, dtype=object).tolist()
        return
    assert actual.dtype == expected.dtype
    if expected.dtype.kind in "fc" or expected.dtype == ml_dtypes.bfloat16:
        np.testing.assert_array_equal(actual.astype(np.complex128), expected.astype(np.complex128))
    else:
        np.testing.assert_array_equal(actual, expected)


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", NUMERIC, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("use_tensor_content", [False, True], ids=["typed", "content"])
def test_round_trip_every_dtype_and_shape(dtype: Any, shape: tuple[int, ...], use_tensor_content: bool) -> None:
    array = sample(dtype, shape)
    proto = array_to_tensor(array, use_tensor_content)
    assert proto.dtype == tf.dtypes.as_dtype(array.dtype).as_datatype_enum
    assert proto.HasField("tensor_shape")
    assert [d.size for d in proto.tensor_shape.dim] == list(shape)
    if use_tensor_content:
        assert proto.tensor_content or array.size == 0
    else:
        assert not proto.tensor_content
    assert_same(tensor_to_array(proto), array)
    assert_same(tf_parse(proto), array)  # TF reads what we write
    assert_same(tensor_to_array(tf.make_tensor_proto(array)), array)  # we read what TF writes


def test_typed_fields_match_tf_field_choice() -> None:
    # TF's AsProtoField field for each dtype (what TF Serving puts in PredictResponse).
    expected = {
        np.float32: "float_val",
        np.float64: "double_val",
        np.int8: "int_val",
        np.int16: "int_val",
        np.int32: "int_val",
        np.uint8: "int_val",
        np.uint16: "int_val",
        np.int64: "int64_val",
        np.uint32: "uint32_val",
        np.uint64: "uint64_val",
        np.bool_: "bool_val",
        np.complex64: "scomplex_val",
        np.complex128: "dcomplex_val",
        np.float16: "half_val",
        ml_dtypes.bfloat16: "half_val",
    }
    for dtype, field in expected.items():
        proto = array_to_tensor(sample(dtype, (2,)))
        assert [f.name for f, _ in proto.ListFields() if f.name.endswith("_val")] == [field]


def test_scalar_has_empty_but_present_shape() -> None:
    proto = array_to_tensor(np.float32(3.0))
    assert proto.HasField("tensor_shape") and not proto.tensor_shape.dim
    assert list(proto.float_val) == [3.0]
    assert tensor_to_array(proto).shape == ()


def test_half_values_are_bit_patterns() -> None:
    proto = array_to_tensor(np.array([1.5, -2.0], np.float16))
    assert list(proto.half_val) == [0x3E00, 0xC000]
    assert list(tf.make_tensor_proto(np.array([1.5], ml_dtypes.bfloat16)).half_val) == list(
        array_to_tensor(np.array([1.5], ml_dtypes.bfloat16)).half_val
    )


@pytest.mark.parametrize("use_tensor_content", [False, True])
def test_strings_keep_non_utf8_bytes(use_tensor_content: bool) -> None:
    values = np.array([b"plain", b"\xff\xfe\x00binary", "很喜欢".encode(), b""], dtype=object).reshape(2, 2)
    proto = array_to_tensor(values, use_tensor_content)
    assert list(proto.string_val) == values.ravel().tolist()  # strings never go to tensor_content
    assert not proto.tensor_content
    assert_same(tensor_to_array(proto), values)
    assert tf.make_ndarray(proto).tolist() == values.tolist()
    assert_same(tensor_to_array(tf.make_tensor_proto(values)), values)


def test_str_and_fixed_bytes_arrays_encode_as_utf8() -> None:
    assert list(array_to_tensor(np.array(["很", "a"])).string_val) == ["很".encode(), b"a"]
    assert list(array_to_tensor(np.array([b"ab", b"c"])).string_val) == [b"ab", b"c"]
    mixed = np.array(["é", b"\x80"], dtype=object)
    assert list(array_to_tensor(mixed).string_val) == ["é".encode(), b"\x80"]


def test_bytes_scalars_keep_trailing_nul_bytes() -> None:
    # tf.Session returns a scalar string output as a bare bytes object.
    proto = array_to_tensor(b"ab\x00\x00")
    assert list(proto.string_val) == [b"ab\x00\x00"] and not proto.tensor_shape.dim
    assert list(array_to_tensor("é").string_val) == ["é".encode()]


def test_non_string_objects_are_rejected() -> None:
    with pytest.raises(TensorProtoError):
        array_to_tensor(np.array([1, "a"], dtype=object))


def test_python_values_and_big_endian_arrays() -> None:
    assert_same(tensor_to_array(array_to_tensor([[1.0, 2.0]])), np.array([[1.0, 2.0]]))
    big = np.array([1.0, 2.5], dtype=">f4")
    for use_content in (False, True):
        assert_same(tensor_to_array(array_to_tensor(big, use_content)), np.array([1.0, 2.5], np.float32))


def test_special_floats_survive() -> None:
    values = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45], np.float32)
    for use_content in (False, True):
        back = tensor_to_array(array_to_tensor(values, use_content))
        assert back.tobytes() == values.tobytes()


def test_fill_into_existing_message() -> None:
    from tensorflow_serving.apis import predict_pb2

    response = predict_pb2.PredictResponse()
    array_to_tensor(np.array([1.0, 2.0], np.float32), out=response.outputs["y"])
    assert list(response.outputs["y"].float_val) == [1.0, 2.0]


# -- TF's FromProto rules ---------------------------------------------------------------------


def typed_proto(dtype: int, shape: list[int], field: str, values: list[Any]) -> Any:
    proto = tensor_pb2.TensorProto(dtype=dtype)
    proto.tensor_shape.SetInParent()
    for size in shape:
        proto.tensor_shape.dim.add().size = size
    getattr(proto, field).extend(values)
    return proto


@pytest.mark.parametrize(
    "dtype,field,values",
    [
        (types_pb2.DT_FLOAT, "float_val", [1.0, 2.0]),
        (types_pb2.DT_FLOAT, "float_val", []),
        (types_pb2.DT_FLOAT, "float_val", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
        (types_pb2.DT_INT8, "int_val", [300, -129]),
        (types_pb2.DT_UINT16, "int_val", [70000, -1]),
        (types_pb2.DT_INT64, "int64_val", [2**62]),
        (types_pb2.DT_BOOL, "bool_val", [True, False]),
        (types_pb2.DT_STRING, "string_val", [b"a", b"\xff"]),
        (types_pb2.DT_STRING, "string_val", []),
        (types_pb2.DT_COMPLEX64, "scomplex_val", [1.0, 2.0, 3.0]),
        (types_pb2.DT_COMPLEX128, "dcomplex_val", [1.0, 2.0, 3.0, 4.0]),
        (types_pb2.DT_HALF, "half_val", [0x3E00]),
        (types_pb2.DT_UINT64, "uint64_val", [2**64 - 1, 3]),
        (types_pb2.DT_FLOAT, "int_val", [5]),  # values in another dtype's field are not read: zeros
    ],
    ids=lambda v: str(v)[:20],
)
def test_fill_rule_matches_tensorflow(dtype: int, field: str, values: list[Any]) -> None:
    proto = typed_proto(dtype, [2, 3], field, values)
    assert_same(tensor_to_array(proto), tf_parse(proto))


def test_scalar_from_first_value() -> None:
    proto = typed_proto(types_pb2.DT_FLOAT, [], "float_val", [2.0, 9.0])
    assert_same(tensor_to_array(proto), np.array(2.0, np.float32))


def test_unknown_rank_without_values_is_a_scalar_like_tf() -> None:
    proto = typed_proto(types_pb2.DT_FLOAT, [], "float_val", [])
    proto.tensor_shape.unknown_rank = True
    assert_same(tensor_to_array(proto), tf_parse(proto))


def test_unknown_rank_with_values_or_dims_is_refused() -> None:
    # A deliberate difference: TF's FromProto reads [3.0] with unknown_rank as a scalar; a
    # sender that says it does not know the rank and sends values is refused here.
    proto = typed_proto(types_pb2.DT_FLOAT, [], "float_val", [3.0])
    proto.tensor_shape.unknown_rank = True
    with pytest.raises(TensorProtoError, match="unknown rank"):
        tensor_to_array(proto)
    proto = typed_proto(types_pb2.DT_FLOAT, [1], "float_val", [])
    proto.tensor_shape.unknown_rank = True
    with pytest.raises(TensorProtoError, match="must not have any dimensions"):
        tensor_to_array(proto)


def test_string_tensor_content_is_tf_string_list_encoding() -> None:
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING)
    proto.tensor_shape.dim.add().size = 3
    proto.tensor_content = bytes([2, 0, 200, 1]) + b"ab" + b"\xff" * 200
    assert_same(tensor_to_array(proto), tf_parse(proto))


def test_tensor_content_is_read_only_view() -> None:
    proto = tf.make_tensor_proto(np.arange(6, dtype=np.int32).reshape(2, 3))
    array = tensor_to_array(proto)
    assert array.shape == (2, 3) and array.dtype == np.int32
    assert not array.flags.writeable


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: setattr(p, "dtype", types_pb2.DT_INVALID),
        lambda p: setattr(p, "dtype", types_pb2.DT_RESOURCE),
        lambda p: setattr(p, "dtype", types_pb2.DT_VARIANT),
        lambda p: setattr(p, "dtype", types_pb2.DT_FLOAT_REF),
        lambda p: p.tensor_shape.dim.add(size=-1),
        lambda p: setattr(p, "tensor_content", b"\x00" * 7),
        lambda p: setattr(p, "tensor_content", b"\x00" * 9),
        lambda p: [p.tensor_shape.dim.add(size=2**40) for _ in range(2)],
        lambda p: [p.tensor_shape.dim.add(size=1) for _ in range(255)],
    ],
    ids=[
        "invalid",
        "resource",
        "variant",
        "ref",
        "negative-dim",
        "short-content",
        "long-content",
        "overflow",
        "too-many-dims",
    ],
)
def test_invalid_protos_are_rejected_like_tf(mutate: Any) -> None:
    proto = typed_proto(types_pb2.DT_FLOAT, [2], "float_val", [1.0])
    mutate(proto)
    with pytest.raises(TensorProtoError):
        tensor_to_array(proto)


@pytest.mark.parametrize("content", [b"\x05ab", b"\x80\x80\x80\x80\x80\x01", b"\x01"])
def test_bad_string_tensor_content(content: bytes) -> None:
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_content=content)
    proto.tensor_shape.dim.add().size = 1
    with pytest.raises(TensorProtoError):
        tensor_to_array(proto)


def test_numpy_dtype_for() -> None:
    assert numpy_dtype_for(types_pb2.DT_HALF) == np.float16
    assert numpy_dtype_for(types_pb2.DT_STRING) == np.dtype(object)
    with pytest.raises(TensorProtoError):
        numpy_dtype_for(types_pb2.DT_RESOURCE)


# -- property-based ---------------------------------------------------------------------------

HYPOTHESIS_DTYPES = [d for d in NUMERIC if d is not ml_dtypes.bfloat16]
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    kind = draw(st.sampled_from(HYPOTHESIS_DTYPES + ["bfloat16", "bytes"]))
    shape = draw(shapes)
    if kind == "bfloat16":
        base = draw(hnp.arrays(np.float32, shape, elements=st.floats(-1e6, 1e6, width=32)))
        return base.astype(ml_dtypes.bfloat16)
    if kind == "bytes":
        values = draw(st.lists(st.binary(max_size=8), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        out = np.empty(int(np.prod(shape)), dtype=object)
        out[:] = values
        return out.reshape(shape)
    return draw(hnp.arrays(kind, shape))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(array=arrays(), use_tensor_content=st.booleans())
def test_property_round_trip_and_tf_agrees(array: np.ndarray, use_tensor_content: bool) -> None:
    proto = array_to_tensor(array, use_tensor_content)
    back = tensor_to_array(proto)
    assert back.shape == array.shape
    if array.dtype == object:
        assert back.tolist() == array.tolist()
    else:
        assert back.dtype == array.dtype
        assert back.tobytes() == np.ascontiguousarray(array).tobytes()  # bit-exact, NaNs included
    theirs = tf_parse(proto)
    if array.dtype == object:
        assert theirs.tolist() == array.tolist()
    else:
        assert theirs.tobytes() == np.ascontiguousarray(array).tobytes()


@settings(max_examples=150, deadline=None)
@given(
    dtype=st.sampled_from(
        [
            (types_pb2.DT_FLOAT, "float_val", st.floats(width=32, allow_nan=False)),
            (types_pb2.DT_INT32, "int_val", st.integers(-(2**31), 2**31 - 1)),
            (types_pb2.DT_UINT8, "int_val", st.integers(-(2**31), 2**31 - 1)),
            (types_pb2.DT_INT64, "int64_val", st.integers(-(2**63), 2**63 - 1)),
            (types_pb2.DT_BOOL, "bool_val", st.booleans()),
            (types_pb2.DT_STRING, "string_val", st.binary(max_size=4)),
        ]
    ),
    shape=st.lists(st.integers(0, 4), max_size=3),
    data=st.data(),
)
def test_property_fill_rule_matches_tf(dtype: Any, shape: list[int], data: st.DataObject) -> None:
    number, field, elements = dtype
    values = data.draw(st.lists(elements, max_size=int(np.prod(shape)) + 3))
    proto = typed_proto(number, shape, field, values)
    ours, theirs = tensor_to_array(proto), tf_parse(proto)
    assert ours.shape == theirs.shape
    assert ours.tolist() == theirs.tolist()


# -- speed (no per-element Python work) -------------------------------------------------------


def test_million_floats_encode_and_decode_quickly() -> None:
    array = np.random.default_rng(0).random(1_000_000, dtype=np.float32)
    started = time.perf_counter()
    proto = array_to_tensor(array)
    wire = proto.SerializeToString()
    parsed = tensor_pb2.TensorProto.FromString(wire)
    back = tensor_to_array(parsed)
    elapsed = time.perf_counter() - started
    np.testing.assert_array_equal(back, array)
    assert elapsed < 0.5, f"1M floats took {elapsed:.3f}s through the codec"
