"""The gateway's OIP tensor encodings (the one codec, ``pyserving.client.oip_tensors``) agree
with the stock tritonclient's, byte for byte.

tritonclient is the reference client of the protocol (its HTTP binary chunks
and gRPC raw contents use these bytes), so its own serializers are the oracle.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from tritonclient import utils as triton_utils

from pyserving.client import oip_tensors as oip_codec
from pyserving.gateway.transports.oip_metadata import signature_from_metadata

ARRAYS = [
    np.array([[1.5, -2.0], [0.0, 3.25]], dtype=np.float32),
    np.array([1.0, 2.0], dtype=np.float64),
    np.array([0.5, -1.5], dtype=np.float16),
    np.array([-128, 127], dtype=np.int8),
    np.array([[1, -2, 3]], dtype=np.int32),
    np.array([2**62, -1], dtype=np.int64),
    np.array([255, 0], dtype=np.uint8),
    np.array([2**64 - 1], dtype=np.uint64),
    np.array([True, False, True]),
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: str(a.dtype))
def test_numeric_tensors_match_tritonclient_and_round_trip(array: np.ndarray) -> None:
    datatype = oip_codec.datatype_of(array)
    assert datatype == triton_utils.np_to_triton_dtype(array.dtype)
    raw = oip_codec.to_raw(array, datatype)
    assert raw == array.astype(array.dtype.newbyteorder("<")).tobytes()  # what tritonclient sends
    back = oip_codec.from_raw(datatype, array.shape, raw)
    assert back.dtype == array.dtype and np.array_equal(back, array)


def test_bytes_elements_are_length_prefixed_like_tritonclient() -> None:
    array = np.array([["好".encode(), b""], [b"a\x00", b"POS"]], dtype=object)
    raw = oip_codec.to_raw(array, "BYTES")
    assert raw == triton_utils.serialize_byte_tensor(array).item()
    back = oip_codec.from_raw("BYTES", [2, 2], raw)
    assert back.dtype == object and back.tolist() == array.tolist()  # trailing NUL kept


def test_bf16_is_the_upper_half_of_float32() -> None:
    array = np.array([1.5, -2.0], dtype=ml_dtypes.bfloat16)
    raw = oip_codec.to_raw(array, "BF16")
    assert raw == bytes([0xC0, 0x3F, 0x00, 0xC0])
    assert oip_codec.from_raw("BF16", [2], raw).astype(np.float32).tolist() == [1.5, -2.0]


@pytest.mark.parametrize(
    ("raw", "datatype", "shape", "error"),
    [
        (b"\x00" * 6, "FP32", [2], "needs 8 bytes, got 6"),
        (b"\x05\x00\x00\x00ab", "BYTES", [1], "runs past the end"),
        (b"\x01\x00\x00\x00a", "BYTES", [2], "has 1 elements, shape [2] needs 2"),
        (b"", "COMPLEX", [0], "unknown OIP datatype"),
    ],
)
def test_bad_bytes_say_what_is_wrong(raw: bytes, datatype: str, shape: list[int], error: str) -> None:
    with pytest.raises(oip_codec.OipTensorError, match=error.replace("[", r"\[").replace("]", r"\]")):
        oip_codec.from_raw(datatype, shape, raw)


def test_json_data_is_flat_and_reads_nested_too() -> None:
    array = np.array([[1, 2], [3, 4]], dtype=np.int32)
    assert oip_codec.to_json_data(array, "INT32") == [1, 2, 3, 4]
    assert oip_codec.from_json_data("INT32", [2, 2], [[1, 2], [3, 4]]).tolist() == array.tolist()
    assert oip_codec.from_json_data("BYTES", [1], ["好"]).tolist() == ["好".encode()]
    with pytest.raises(oip_codec.OipTensorError, match="not UTF-8"):
        oip_codec.to_json_data(np.array([b"\xff"], dtype=object), "BYTES")


def test_metadata_becomes_a_signature_of_tf_dtypes() -> None:
    signature = signature_from_metadata(
        "serving_default",
        [{"name": "x", "datatype": "FP32", "shape": [-1, 1]}],
        [{"name": "y", "datatype": "BYTES", "shape": [-1]}],
    )
    assert (signature.inputs["x"].dtype, signature.inputs["x"].shape) == (1, (-1, 1))  # DT_FLOAT
    assert signature.outputs["y"].dtype == 7  # DT_STRING
    with pytest.raises(oip_codec.OipTensorError, match="unknown datatype 'FP9'"):
        signature_from_metadata("s", [{"name": "x", "datatype": "FP9", "shape": [1]}], [])
