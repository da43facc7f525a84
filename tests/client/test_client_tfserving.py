"""pyserving.client against the real server: TF Serving's API over REST (columnar and row
format) and gRPC, sync and asyncio; every call and every error kind."""

from __future__ import annotations

import asyncio
import select
import socket
import time

import grpc
import numpy as np
import pytest

from pyserving.client import (
    AsyncClient,
    Client,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServingError,
    Unavailable,
    VersionStatus,
    make_ndarray,
    make_tensor_proto,
)
from tests.client.conftest import HAS_LSTM
from tests.client.support import MODES, address, call
from tests.helpers.server import RunningServer, free_port

KINDS = ["rest", "rest-row", "grpc"]
X = np.array([[1.0], [2.0], [5.0]], dtype=np.float32)

pytestmark = [pytest.mark.parametrize("mode", MODES)]


@pytest.mark.parametrize("kind", KINDS)
def test_predict(server: RunningServer, kind: str, mode: str) -> None:
    out = call(server, kind, mode, "predict", "half_plus_two", {"x": X})
    assert list(out) == ["y"]
    assert out["y"].dtype == np.float32
    np.testing.assert_array_equal(out["y"], 0.5 * X + 2)


@pytest.mark.parametrize("kind", KINDS)
def test_predict_version_and_outputs(server: RunningServer, kind: str, mode: str) -> None:
    out = call(server, kind, mode, "predict", "half_plus_two", {"x": X}, version=1, outputs=["y"])
    np.testing.assert_array_equal(out["y"], 0.5 * X + 2)
    with pytest.raises(InvalidArgument, match="nope"):
        call(server, kind, mode, "predict", "half_plus_two", {"x": X}, outputs=["nope"])
    with pytest.raises(NotFound, match="half_plus_two") as err:
        call(server, kind, mode, "predict", "half_plus_two", {"x": X}, version=7)
    assert err.value.code == grpc.StatusCode.NOT_FOUND


@pytest.mark.skipif(not HAS_LSTM, reason="the lstm model is absent")
@pytest.mark.parametrize("kind", KINDS)
def test_predict_strings(server: RunningServer, kind: str, mode: str) -> None:
    words = np.array([["很", "喜欢"], ["很", "垃圾"]], dtype=object)
    out = call(server, kind, mode, "predict", "lstm", {"words": words, "nwords": np.array([2, 2], np.int32)})
    assert sorted(out) == ["classes_id", "labels", "softmax"]
    assert out["labels"].dtype == object and out["labels"].tolist() == [b"POS", b"NEG"]
    assert out["classes_id"].dtype == np.int64 and out["classes_id"].tolist() == [1, 0]
    assert out["softmax"].dtype == np.float32 and out["softmax"].shape == (2, 3)
    # bytes in (REST sends them as {"b64": ...}) give the same answer as str
    utf8 = np.array([[w.encode() for w in row] for row in words.tolist()], dtype=object)
    again = call(server, kind, mode, "predict", "lstm", {"words": utf8, "nwords": np.array([2, 2], np.int32)})
    assert again["labels"].tolist() == [b"POS", b"NEG"]


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_classify_and_regress(server: RunningServer, kind: str, mode: str) -> None:
    examples = [{"x": 1.0}, {"x": [3.0]}]
    classes = call(server, kind, mode, "classify", "half_plus_two", examples, signature_name="classify_x_to_y")
    assert classes == [[("", 2.5)], [("", 3.5)]]
    values = call(server, kind, mode, "regress", "half_plus_two", examples, signature_name="regress_x_to_y")
    assert values.dtype == np.float32 and values.tolist() == [2.5, 3.5]
    # a context's features join every example's
    values = call(
        server,
        kind,
        mode,
        "regress",
        "half_plus_two",
        [{"x2": 1.0}],
        context={"x": 4.0},
        signature_name="regress_x_to_y",
    )
    assert values.tolist() == [4.0]
    with pytest.raises(InvalidArgument):  # an int64 feature where the model parses floats
        call(server, kind, mode, "regress", "half_plus_two", [{"x": 1}], signature_name="regress_x_to_y")


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_metadata_status_ready(server: RunningServer, kind: str, mode: str) -> None:
    meta = call(server, kind, mode, "metadata", "half_plus_two")
    assert meta.name == "half_plus_two" and meta.versions == (1,)
    assert {"serving_default", "classify_x_to_y", "regress_x_to_y"} <= set(meta.signatures)
    sig = meta.signatures["serving_default"]
    assert sig.method_name == "tensorflow/serving/predict"
    assert sig.inputs["x"].dtype == np.float32 and sig.inputs["x"].datatype == "DT_FLOAT"
    assert sig.inputs["x"].tensor_name == "x:0"
    assert sig.outputs["y"].dtype == np.float32
    assert call(server, kind, mode, "metadata", "half_plus_two", version=1).versions == (1,)
    assert call(server, kind, mode, "status", "half_plus_two") == [VersionStatus(1, "AVAILABLE", "OK", "")]
    assert call(server, kind, mode, "ready", "half_plus_two") is True
    assert call(server, kind, mode, "ready", "half_plus_two", version=1) is True
    assert call(server, kind, mode, "ready", "half_plus_two", version=7) is False
    assert call(server, kind, mode, "ready", "nope") is False
    with pytest.raises(ValueError, match="name a model"):
        call(server, kind, mode, "ready")


@pytest.mark.parametrize("kind", KINDS)
def test_errors_carry_the_servers_code_and_message(server: RunningServer, kind: str, mode: str) -> None:
    for method, args in [("predict", ("nope", {"x": X})), ("metadata", ("nope",)), ("status", ("nope",))]:
        with pytest.raises(NotFound) as err:
            call(server, kind, mode, method, *args)
        assert "nope" in err.value.message
        assert err.value.http_status == (None if kind == "grpc" else 404)
    with pytest.raises(InvalidArgument) as bad:
        call(server, kind, mode, "predict", "half_plus_two", {"x": np.array([["a"]], dtype=object)})
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT and "float" in bad.value.message
    # a missing signature: 400 over REST, FAILED_PRECONDITION over gRPC (TF Serving's codes)
    with pytest.raises((InvalidArgument, FailedPrecondition)) as missing:
        call(server, kind, mode, "predict", "half_plus_two", {"x": X}, signature_name="nope")
    assert "nope" in missing.value.message
    with pytest.raises(ServingError):
        call(server, kind, mode, "predict", "half_plus_two", {"wrong": X})


@pytest.mark.parametrize("kind", KINDS)
def test_deadline(slow_server: RunningServer, kind: str, mode: str) -> None:
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded) as err:
        call(slow_server, kind, mode, "predict", "half_plus_two", {"x": X}, timeout=0.5)
    assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < 2.5  # the batch holds the request for 60 s


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_default_timeout_from_the_client(slow_server: RunningServer, kind: str, mode: str) -> None:
    if mode == "sync":
        with Client(address(slow_server, kind), timeout=0.3) as client:
            client.metadata("half_plus_two")  # quick calls pass
            with pytest.raises(DeadlineExceeded):
                client.predict("half_plus_two", {"x": X})
        return

    async def run() -> None:
        async with AsyncClient(address(slow_server, kind), timeout=0.3) as client:
            await client.metadata("half_plus_two")
            with pytest.raises(DeadlineExceeded):
                await client.predict("half_plus_two", {"x": X})

    asyncio.run(run())


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_unreachable_server_is_unavailable(kind: str, mode: str, tmp_path) -> None:
    port = free_port()
    target = f"http://127.0.0.1:{port}" if kind == "rest" else f"grpc://127.0.0.1:{port}"
    with pytest.raises(Unavailable):
        if mode == "sync":
            with Client(target, timeout=5) as client:
                client.predict("half_plus_two", {"x": X})
        else:

            async def run() -> None:
                async with AsyncClient(target, timeout=5) as client:
                    await client.predict("half_plus_two", {"x": X})

            asyncio.run(run())


def test_rest_connections_are_reused(server: RunningServer, mode: str) -> None:
    if mode == "sync":
        with Client(server.rest_url) as client:
            client.predict("half_plus_two", {"x": X})
            sock = client._http._local.conn.sock
            for _ in range(3):
                client.predict("half_plus_two", {"x": X})
            assert client._http._local.conn.sock is sock
        return

    async def run() -> None:
        async with AsyncClient(server.rest_url) as client:
            await client.predict("half_plus_two", {"x": X})
            (first,) = client._http._idle
            for _ in range(3):
                await client.predict("half_plus_two", {"x": X})
            assert client._http._idle == [first]
            await asyncio.gather(*(client.predict("half_plus_two", {"x": X}) for _ in range(4)))
            assert 1 <= len(client._http._idle) <= 4

    asyncio.run(run())


def test_a_connection_the_server_closed_is_replaced(server: RunningServer, mode: str) -> None:
    """The server drops idle keep-alive connections (1 s here); the next call retries on a new one."""
    if mode == "sync":
        with Client(server.rest_url) as client:
            client.predict("half_plus_two", {"x": X})
            sock = client._http._local.conn.sock
            server.wait_for(lambda: _closed_by_peer(sock), 10, "the server closing the idle connection")
            np.testing.assert_array_equal(client.predict("half_plus_two", {"x": X})["y"], 0.5 * X + 2)
            assert client._http._local.conn.sock is not sock
        return

    async def run() -> None:
        async with AsyncClient(server.rest_url) as client:
            await client.predict("half_plus_two", {"x": X})
            ((reader, writer),) = client._http._idle
            deadline = time.monotonic() + 10
            while not reader.at_eof() and time.monotonic() < deadline:  # the loop reads the peer's FIN
                await asyncio.sleep(0.02)
            assert reader.at_eof()
            np.testing.assert_array_equal((await client.predict("half_plus_two", {"x": X}))["y"], 0.5 * X + 2)
            assert client._http._idle and client._http._idle[0][1] is not writer

    asyncio.run(run())


def _closed_by_peer(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0.05)
    return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""


def test_stock_stubs_with_make_tensor_proto(server: RunningServer, mode: str) -> None:
    """The "drop TensorFlow" path: pyserving.protos' stubs plus make_tensor_proto/make_ndarray."""
    from pyserving.protos.tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(make_tensor_proto([1.0, 2.0, 5.0], shape=[3, 1]))
    if mode == "sync":
        with grpc.insecure_channel(server.grpc_address) as channel:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, 10)
    else:

        async def run() -> object:
            async with grpc.aio.insecure_channel(server.grpc_address) as channel:
                return await prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)

        response = asyncio.run(run())
    np.testing.assert_array_equal(make_ndarray(response.outputs["y"]), 0.5 * X + 2)
