"""pyserving.client over the Open Inference Protocol v2 against the real pyserving server:
REST with the binary tensor extension (the default) and with JSON, and gRPC; sync and asyncio.

(Checked by hand against NVIDIA Triton too: predict, metadata, status from the repository
index, ready, and the NOT_FOUND / INVALID_ARGUMENT / DEADLINE_EXCEEDED errors.)
"""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest

from pyserving.client import Client, DeadlineExceeded, InvalidArgument, NotFound, VersionStatus
from tests.client.conftest import HAS_LSTM
from tests.client.support import MODES, call
from tests.helpers.server import RunningServer

KINDS = ["rest", "rest-json", "grpc"]
X = np.array([[1.0], [2.0], [5.0]], dtype=np.float32)
OIP = {"protocol": "oip"}

pytestmark = [pytest.mark.parametrize("mode", MODES)]


@pytest.mark.parametrize("kind", KINDS)
def test_predict(server: RunningServer, kind: str, mode: str) -> None:
    out = call(server, kind, mode, "predict", "half_plus_two", {"x": X}, **OIP)
    assert list(out) == ["y"]
    assert out["y"].dtype == np.float32
    np.testing.assert_array_equal(out["y"], 0.5 * X + 2)
    out = call(server, kind, mode, "predict", "half_plus_two", {"x": X}, version=1, outputs=["y"], **OIP)
    np.testing.assert_array_equal(out["y"], 0.5 * X + 2)


@pytest.mark.parametrize("kind", KINDS)
def test_predict_another_signature(server: RunningServer, kind: str, mode: str) -> None:
    out = call(server, kind, mode, "predict", "half_plus_two", {"inputs": X}, signature_name="regress_x2_to_y3", **OIP)
    np.testing.assert_array_equal(out["outputs"], 0.5 * X + 3)


@pytest.mark.skipif(not HAS_LSTM, reason="the lstm model is absent")
@pytest.mark.parametrize("kind", KINDS)
def test_predict_strings(server: RunningServer, kind: str, mode: str) -> None:
    words = np.array([["很", "喜欢"], ["很", "垃圾"]], dtype=object)
    out = call(server, kind, mode, "predict", "lstm", {"words": words, "nwords": np.array([2, 2], np.int32)}, **OIP)
    assert sorted(out) == ["classes_id", "labels", "softmax"]
    assert out["labels"].dtype == object and out["labels"].tolist() == [b"POS", b"NEG"]
    assert out["classes_id"].dtype == np.int64 and out["classes_id"].tolist() == [1, 0]
    assert out["softmax"].dtype == np.float32 and out["softmax"].shape == (2, 3)
    only = call(
        server,
        kind,
        mode,
        "predict",
        "lstm",
        {"words": words, "nwords": np.array([2, 2], np.int32)},
        outputs=["labels"],
        **OIP,
    )
    assert list(only) == ["labels"]


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_metadata_status_ready(server: RunningServer, kind: str, mode: str) -> None:
    meta = call(server, kind, mode, "metadata", "half_plus_two", **OIP)
    assert meta.name == "half_plus_two" and meta.versions == (1,)
    sig = meta.signatures["serving_default"]
    assert sig.inputs["x"].datatype == "FP32" and sig.inputs["x"].dtype == np.float32
    assert sig.inputs["x"].shape == (-1,)  # unknown rank is reported as [-1]
    assert sig.outputs["y"].datatype == "FP32"
    # the repository index is off by default: status falls back to the metadata's versions
    assert call(server, kind, mode, "status", "half_plus_two", **OIP) == [VersionStatus(1, "AVAILABLE")]
    with pytest.raises(NotFound):
        call(server, kind, mode, "status", "half_plus_two", version=7, **OIP)
    assert call(server, kind, mode, "ready", **OIP) is True
    assert call(server, kind, mode, "ready", "half_plus_two", **OIP) is True
    assert call(server, kind, mode, "ready", "half_plus_two", version=1, **OIP) is True
    assert call(server, kind, mode, "ready", "half_plus_two", version=7, **OIP) is False
    assert call(server, kind, mode, "ready", "nope", **OIP) is False


@pytest.mark.parametrize("kind", KINDS)
def test_errors(server: RunningServer, kind: str, mode: str) -> None:
    for method, args in [("predict", ("nope", {"x": X})), ("metadata", ("nope",)), ("status", ("nope",))]:
        with pytest.raises(NotFound) as err:
            call(server, kind, mode, method, *args, **OIP)
        assert "nope" in err.value.message
        assert err.value.http_status == (None if kind == "grpc" else 404)
    with pytest.raises(InvalidArgument) as bad:
        call(server, kind, mode, "predict", "half_plus_two", {"x": X.astype(np.float64)}, **OIP)
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT and "FP64" in bad.value.message
    with pytest.raises(InvalidArgument):
        call(server, kind, mode, "predict", "half_plus_two", {"nope": X}, **OIP)
    with pytest.raises(NotImplementedError, match="classify"):
        call(server, kind, mode, "classify", "half_plus_two", [{"x": 1.0}], **OIP)
    with pytest.raises(NotImplementedError, match="regress"):
        call(server, kind, mode, "regress", "half_plus_two", [{"x": 1.0}], **OIP)
    with pytest.raises(ValueError, match="version labels"):
        call(server, kind, mode, "predict", "half_plus_two", {"x": X}, version_label="stable", **OIP)


@pytest.mark.parametrize("kind", KINDS)
def test_deadline(slow_server: RunningServer, kind: str, mode: str) -> None:
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        call(slow_server, kind, mode, "predict", "half_plus_two", {"x": X}, timeout=0.5, **OIP)
    assert time.monotonic() - start < 2.5


def test_json_cannot_carry_non_utf8_bytes(server: RunningServer, mode: str) -> None:
    with Client(server.rest_url, protocol="oip", binary=False) as client:
        with pytest.raises(ValueError, match="binary"):
            client.predict("lstm", {"words": np.array([[b"\xff"]], dtype=object), "nwords": np.array([1], np.int32)})
