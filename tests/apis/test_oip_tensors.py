"""The OIP codec on its own: JSON data, binary chunks / raw contents and typed contents <-> arrays."""

from __future__ import annotations

import struct

import ml_dtypes
import numpy as np
import pytest
from tritonclient.grpc import service_pb2
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from pyserving.apis.oip_datatypes import NUMPY, OIP_TO_TF, array_datatype, oip_datatype
from pyserving.apis.oip_tensors import check_shape, from_contents, from_json, from_raw, to_json, to_raw
from pyserving.core.errors import InvalidArgumentError
from pyserving.tensors.dtypes import NUMPY_DTYPES, DataType
from pyserving.tensors.limits import TensorLimits

NUMERIC = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"]


def test_tf_dtypes_map_to_oip_names_and_back() -> None:
    assert oip_datatype(DataType.DT_STRING) == "BYTES"
    assert oip_datatype(DataType.DT_FLOAT + 100) == "FP32"  # reference dtypes map to their base
    assert oip_datatype(DataType.DT_HALF) == "FP16" and oip_datatype(DataType.DT_BFLOAT16) == "BF16"
    assert oip_datatype(DataType.DT_COMPLEX64) is None
    assert array_datatype(np.array(["a"])) == "BYTES" and array_datatype(np.array([b"a"])) == "BYTES"
    # the codec's numpy table (pyserving.client.oip_tensors) is the TF dtype table's, type for type
    assert NUMPY == {k: NUMPY_DTYPES[v] for k, v in OIP_TO_TF.items() if v in NUMPY_DTYPES}


@pytest.mark.parametrize("datatype", NUMERIC)
def test_numeric_raw_round_trip_matches_tritonclient_bytes(datatype: str) -> None:
    from tritonclient.utils import triton_to_np_dtype

    array = (np.arange(6) % 2 == 0) if datatype == "BOOL" else np.arange(6).astype(triton_to_np_dtype(datatype))
    array = array.reshape(2, 3)
    raw = to_raw(array, datatype)
    assert raw == array.tobytes()  # what tritonclient sends and reads (little-endian hosts)
    back = from_raw("x", datatype, (2, 3), raw)
    np.testing.assert_array_equal(back, array)
    assert back.dtype == array.dtype


def test_bytes_raw_round_trip_keeps_trailing_nul_and_empty() -> None:
    array = np.array([b"\xe9\x85\x92", b"", b"a\x00"], dtype=object)
    raw = to_raw(array, "BYTES")
    assert raw == serialize_byte_tensor(array).item()
    back = from_raw("w", "BYTES", (3,), raw)
    assert back.dtype == object and back.tolist() == [b"\xe9\x85\x92", b"", b"a\x00"]
    assert deserialize_bytes_tensor(raw).tolist() == back.tolist()


@pytest.mark.parametrize(
    "raw",
    [b"\x01\x00", struct.pack("<I", 5) + b"abc", struct.pack("<I", 1) + b"a" + struct.pack("<I", 1) + b"b"],
)
def test_malformed_bytes_chunks_are_invalid_argument(raw: bytes) -> None:
    with pytest.raises(InvalidArgumentError):
        from_raw("w", "BYTES", (1,), raw)


def test_bf16_travels_raw_only() -> None:
    array = np.array([1.5, -2.0], dtype=ml_dtypes.bfloat16)
    assert to_raw(array, "BF16") == bytes.fromhex("c03f00c0")
    np.testing.assert_array_equal(from_raw("b", "BF16", (2,), bytes.fromhex("c03f00c0")), array)
    with pytest.raises(InvalidArgumentError, match="binary"):
        from_json("b", "BF16", (1,), [1.5])


def test_json_accepts_flat_and_nested_and_checks_the_count() -> None:
    np.testing.assert_array_equal(from_json("x", "FP32", (2, 2), [1, 2, 3, 4]), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(from_json("x", "FP32", (2, 2), [[1, 2], [3, 4]]), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(from_json("x", "INT32", (3,), [[1], [2, 3]]), [1, 2, 3])  # ragged: count only
    assert from_json("x", "FP16", (1,), [1.5]).dtype == np.float16
    assert from_json("s", "BYTES", (1, 2), [["酒店", "b"]]).tolist() == [["酒店".encode(), b"b"]]
    with pytest.raises(InvalidArgumentError, match="3 elements"):
        from_json("x", "FP32", (2, 2), [1, 2, 3])
    with pytest.raises(InvalidArgumentError, match="deeper"):
        deep: list = [1.0]
        for _ in range(150):
            deep = [deep]
        from_json("x", "FP32", (1,), deep)


@pytest.mark.parametrize(
    ("datatype", "data"),
    [
        ("INT32", [1.5]),
        ("INT8", [300]),
        ("UINT8", [-1]),
        ("BOOL", [1]),
        ("FP32", ["a"]),
        ("BYTES", [1]),
        ("INT64", [2**70]),
    ],
)
def test_json_element_types_are_checked(datatype: str, data: list) -> None:
    with pytest.raises(InvalidArgumentError, match="'x'"):
        from_json("x", datatype, (1,), data)


def test_json_output_is_flat_and_bytes_must_be_utf8() -> None:
    assert to_json("y", np.ones((2, 2), np.float32), "FP32").shape == (4,)
    assert to_json("s", np.array([b"ok"], dtype=object), "BYTES") == ["ok"]
    with pytest.raises(InvalidArgumentError, match="binary_data"):
        to_json("s", np.array([b"\xff"], dtype=object), "BYTES")


def test_shapes_are_checked_against_the_limits_before_allocating() -> None:
    limits = TensorLimits(max_elements=100)
    assert check_shape("x", [2, 3], "FP32", limits) == (2, 3)
    for bad in ([-1], [1.0], "2", [True]):
        with pytest.raises(InvalidArgumentError, match="non-negative"):
            check_shape("x", bad, "FP32", limits)
    with pytest.raises(InvalidArgumentError, match="max_tensor_elements"):
        check_shape("x", [1000, 1000], "FP32", limits)


def test_typed_contents_use_the_field_of_the_datatype() -> None:
    contents = service_pb2.InferTensorContents(int_contents=[1, -2])
    assert from_contents("x", "INT8", (2,), contents).dtype == np.int8
    with pytest.raises(InvalidArgumentError, match="out of range"):
        from_contents("x", "INT8", (1,), service_pb2.InferTensorContents(int_contents=[1000]))
    with pytest.raises(InvalidArgumentError, match="fp32_contents"):
        from_contents("x", "FP32", (2,), service_pb2.InferTensorContents(int_contents=[1, 2]))
    with pytest.raises(InvalidArgumentError, match="raw_input_contents"):
        from_contents("x", "FP16", (1,), service_pb2.InferTensorContents())
    assert from_contents("s", "BYTES", (1,), service_pb2.InferTensorContents(bytes_contents=[b"a\x00"])).tolist() == [
        b"a\x00"
    ]


from hypothesis import given, settings
from hypothesis import strategies as st

DATATYPES = [*NUMERIC, "BYTES", "BF16"]
SHAPES = st.lists(st.integers(0, 4), max_size=3).map(tuple)
JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=3))
JSON_DATA = st.recursive(st.lists(JSON_LEAVES, max_size=5), lambda inner: st.lists(inner, max_size=3), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DATATYPES), SHAPES, st.binary(max_size=40))
def test_any_chunk_decodes_to_its_shape_or_is_invalid_argument(datatype: str, shape: tuple, raw: bytes) -> None:
    try:
        array = from_raw("x", datatype, shape, raw)
    except InvalidArgumentError:
        return
    assert array.shape == shape


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DATATYPES), SHAPES, JSON_DATA)
def test_any_json_data_decodes_to_its_shape_or_is_invalid_argument(datatype: str, shape: tuple, data: list) -> None:
    try:
        array = from_json("x", datatype, shape, data)
    except InvalidArgumentError:
        return
    assert array.shape == shape
