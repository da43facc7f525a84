"""OIP v2 against the real server with the stock tritonclient (HTTP binary, HTTP JSON, aio, gRPC).

One server per module: half_plus_two as a SavedModel, an ONNX model and a Python model, the
bundled lstm (BYTES in and out), a Python strings model, and a model whose versions swap.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from pyserving.apis.tensor_proto import array_to_tensor, tensor_to_array
from tests.conftest import write_model_config
from tests.helpers import models
from tests.helpers.python_models import STRINGS, write_half_plus, write_python_model
from tests.helpers.server import RunningServer, start_server
from tests.helpers.shared import LSTM_MODEL

TIMEOUT = 30
HP_MODELS = ["hp_tensorflow", "hp_python"]
try:
    import onnxruntime  # noqa: F401

    from tests.helpers.onnx_models import export_half_plus

    HP_MODELS.append("hp_onnx")
except ImportError:  # pragma: no cover - the onnx extra is part of `make test`
    export_half_plus = None  # type: ignore[assignment]
HAS_LSTM = (LSTM_MODEL / "1609392632" / "saved_model.pb").is_file()
needs_lstm = pytest.mark.skipif(not HAS_LSTM, reason="the bundled lstm model is absent")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("oip")
    models.export_half_plus_two(root / "hp_tensorflow" / "123")
    write_half_plus(root / "hp_python" / "1")
    models.export_half_plus_two(root / "swap" / "1", b=2.0)
    write_python_model(root / "strings" / "1", STRINGS)
    entries: list[dict[str, Any]] = [
        {"name": "hp_tensorflow", "base_path": str(root / "hp_tensorflow"), "labels": {"stable": 123}},
        {"name": "hp_python", "base_path": str(root / "hp_python"), "platform": "python"},
        {"name": "swap", "base_path": str(root / "swap")},
        {"name": "strings", "base_path": str(root / "strings"), "platform": "python"},
    ]
    if export_half_plus is not None:
        export_half_plus(root / "hp_onnx" / "1")
        entries.append({"name": "hp_onnx", "base_path": str(root / "hp_onnx"), "platform": "onnx"})
    if HAS_LSTM:
        entries.append({"name": "lstm", "base_path": str(LSTM_MODEL)})
    config = write_model_config(root / "models.config", entries)
    running = start_server(
        [
            f"--model_config_file={config}",
            "--file_system_poll_wait_seconds=1",
            "--file_system_settle_seconds=1",
            "--enable_model_repository_api",
            "--enable_grpc_reflection",
        ],
        root,
        wait_models=[e["name"] for e in entries],
        timeout=120,
    )
    running.root = root  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}")
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc_client(server: RunningServer) -> Iterator[grpcclient.InferenceServerClient]:
    client = grpcclient.InferenceServerClient(server.grpc_address)
    yield client
    client.close()


def _x(binary: bool = True, values: Any = ((1.0,), (2.0,)), module: Any = httpclient) -> Any:
    array = np.array(values, dtype=np.float32)
    tensor = module.InferInput("x", list(array.shape), "FP32")
    if module is httpclient:
        tensor.set_data_from_numpy(array, binary_data=binary)
    else:
        tensor.set_data_from_numpy(array)
    return tensor


# -- health and metadata -------------------------------------------------------------------------


def test_health_and_server_metadata_over_both_transports(http, grpc_client) -> None:
    assert http.is_server_live() and http.is_server_ready()
    assert grpc_client.is_server_live() and grpc_client.is_server_ready()
    metadata = http.get_server_metadata()
    assert metadata["name"] == "pyserving"
    assert set(metadata["extensions"]) == {
        "binary_tensor_data",
        "model_configuration",
        "statistics",
        "model_repository",
    }
    assert grpc_client.get_server_metadata().name == "pyserving"


@pytest.mark.parametrize("model", HP_MODELS)
def test_model_metadata_follows_the_signature(http, grpc_client, model: str) -> None:
    metadata = http.get_model_metadata(model)
    assert metadata["inputs"][0]["name"] == "x"
    assert metadata["inputs"][0]["datatype"] == "FP32"
    assert metadata["outputs"][0]["name"] == "y"
    assert all(isinstance(d, int) for d in metadata["inputs"][0]["shape"])
    assert grpc_client.get_model_metadata(model).inputs[0].datatype == "FP32"
    assert http.is_model_ready(model) and grpc_client.is_model_ready(model)


def test_tensorflow_metadata_matches_the_reference_answer(http) -> None:
    metadata = http.get_model_metadata("hp_tensorflow")
    # The test clone's x and y have no static shape (unknown rank): OIP says [-1] (docs/oip.md).
    assert metadata == {
        "name": "hp_tensorflow",
        "versions": ["123"],
        "platform": "tensorflow_savedmodel",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1]}],
    }
    assert http.get_model_metadata("hp_tensorflow", "123")["versions"] == ["123"]
    assert http.get_model_metadata("hp_tensorflow", "stable")["versions"] == ["123"]  # a TF Serving label


@needs_lstm
def test_lstm_metadata_maps_strings_to_bytes(http) -> None:
    metadata = http.get_model_metadata("lstm")
    assert metadata["inputs"] == [
        {"name": "nwords", "datatype": "INT32", "shape": [-1]},
        {"name": "words", "datatype": "BYTES", "shape": [-1, -1]},
    ]
    assert [o["datatype"] for o in metadata["outputs"]] == ["INT64", "BYTES", "FP32"]


def test_model_config_from_the_signature(http, grpc_client) -> None:
    config = http.get_model_config("hp_tensorflow")
    assert config["max_batch_size"] == 0
    assert config["input"] == [{"name": "x", "data_type": "TYPE_FP32", "dims": [-1]}]
    assert grpc_client.get_model_config("hp_tensorflow").config.output[0].name == "y"


def test_unknown_model_and_version(http, grpc_client, server) -> None:
    assert not http.is_model_ready("nope")
    assert not http.is_model_ready("hp_tensorflow", "999")
    assert (
        requests.get(f"{server.rest_url}/v2/models/hp_tensorflow/versions/999/ready", timeout=TIMEOUT).status_code
        == 404
    )
    with pytest.raises(InferenceServerException, match="404|not found"):
        http.get_model_metadata("nope")
    with pytest.raises(InferenceServerException, match="NOT_FOUND"):
        grpc_client.get_model_metadata("nope")
    assert grpc_client.is_model_ready("hp_tensorflow", "999") is False
    with pytest.raises(InferenceServerException, match="NOT_FOUND"):
        grpc_client.infer("nope", [_x(module=grpcclient)])


# -- infer ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", HP_MODELS)
@pytest.mark.parametrize("binary", [True, False])
def test_http_infer_binary_and_json(http, model: str, binary: bool) -> None:
    outputs = [httpclient.InferRequestedOutput("y", binary_data=binary)]
    result = http.infer(model, [_x(binary)], outputs=outputs, request_id="7")
    np.testing.assert_allclose(result.as_numpy("y"), [[2.5], [3.0]])
    response = result.get_response()
    assert response["id"] == "7"
    assert ("data" in response["outputs"][0]) is not binary
    # No outputs listed: binary_data_output is sent, the answer is binary even for JSON inputs.
    result = http.infer(model, [_x(binary)])
    assert "binary_data_size" in result.get_output("y")["parameters"]
    np.testing.assert_allclose(result.as_numpy("y"), [[2.5], [3.0]])


@pytest.mark.parametrize("model", HP_MODELS)
def test_grpc_infer_raw_contents(grpc_client, model: str) -> None:
    result = grpc_client.infer(model, [_x(module=grpcclient)], request_id="9", client_timeout=20)
    np.testing.assert_allclose(result.as_numpy("y"), [[2.5], [3.0]])
    assert result.get_response().id == "9"


def test_grpc_typed_contents_answer_in_raw(server) -> None:
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        request = service_pb2.ModelInferRequest(model_name="hp_tensorflow")
        tensor = request.inputs.add(name="x", datatype="FP32", shape=[2, 1])
        tensor.contents.fp32_contents.extend([1.0, 2.0])
        response = stub.ModelInfer(request, timeout=TIMEOUT)
        assert response.raw_output_contents[0] == struct.pack("<2f", 2.5, 3.0)
        assert not response.outputs[0].HasField("contents")
        request.raw_input_contents.append(struct.pack("<2f", 1.0, 2.0))
        with pytest.raises(grpc.RpcError) as error:
            stub.ModelInfer(request, timeout=TIMEOUT)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "'x'" in error.value.details()


def test_aio_http_client(server) -> None:
    import tritonclient.http.aio as aioclient

    async def main() -> np.ndarray:
        client = aioclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}")
        try:
            assert await client.is_server_ready()
            assert (await client.get_model_metadata("hp_tensorflow"))["name"] == "hp_tensorflow"
            array = np.array([[1.0], [2.0]], dtype=np.float32)
            tensor = aioclient.InferInput("x", [2, 1], "FP32")
            tensor.set_data_from_numpy(array)
            return (await client.infer("hp_tensorflow", [tensor])).as_numpy("y")
        finally:
            await client.close()

    np.testing.assert_allclose(asyncio.run(main()), [[2.5], [3.0]])


@needs_lstm
@pytest.mark.parametrize("transport", ["http", "http-json", "grpc"])
def test_lstm_bytes_in_and_out(http, grpc_client, transport: str) -> None:
    words = np.array([["酒店".encode(), "很好".encode()]], dtype=object)
    nwords = np.array([2], dtype=np.int32)
    module = grpcclient if transport == "grpc" else httpclient
    inputs = [module.InferInput("words", [1, 2], "BYTES"), module.InferInput("nwords", [1], "INT32")]
    if module is httpclient:
        inputs[0].set_data_from_numpy(words, binary_data=transport == "http")
        inputs[1].set_data_from_numpy(nwords, binary_data=False)
        result = http.infer("lstm", inputs)
    else:
        inputs[0].set_data_from_numpy(words)
        inputs[1].set_data_from_numpy(nwords)
        result = grpc_client.infer("lstm", inputs)
    labels = result.as_numpy("labels")
    assert labels.shape == (1,) and labels[0] in (b"POS", b"NEG", b"NEU", b"neg", b"pos")
    assert result.as_numpy("softmax").shape == (1, 3)


def test_python_strings_model_over_json_and_binary(http) -> None:
    text = np.array([b"ab", b"c\x00"], dtype=object)
    times = np.array([1, 2], dtype=np.int64)
    inputs = [httpclient.InferInput("text", [2], "BYTES"), httpclient.InferInput("times", [2], "INT64")]
    inputs[0].set_data_from_numpy(text)
    inputs[1].set_data_from_numpy(times, binary_data=False)
    result = http.infer(
        "strings",
        inputs,
        outputs=[
            httpclient.InferRequestedOutput("upper"),
            httpclient.InferRequestedOutput("length", binary_data=False),
        ],
    )
    assert result.as_numpy("upper").tolist() == [b"AB", b"C\x00"]  # trailing NUL kept
    assert result.as_numpy("length").tolist() == [2, 4]


def test_parity_rest_grpc_and_tf_serving_api(http, grpc_client, server) -> None:
    values = np.array([[0.25], [-3.5], [7.0]], dtype=np.float32)
    rest = http.infer("hp_tensorflow", [_x(values=values)]).as_numpy("y")
    rest_json = http.infer(
        "hp_tensorflow", [_x(False, values)], outputs=[httpclient.InferRequestedOutput("y", binary_data=False)]
    ).as_numpy("y")
    over_grpc = grpc_client.infer("hp_tensorflow", [_x(values=values, module=grpcclient)]).as_numpy("y")
    v1 = requests.post(
        f"{server.rest_url}/v1/models/hp_tensorflow:predict", json={"instances": values.tolist()}, timeout=TIMEOUT
    ).json()["predictions"]
    with grpc.insecure_channel(server.grpc_address) as channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "hp_tensorflow"
        array_to_tensor(values, out=request.inputs["x"])
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=TIMEOUT)
        tf_grpc = tensor_to_array(response.outputs["y"])
    for other in (rest_json, over_grpc, np.array(v1, dtype=np.float32), tf_grpc):
        np.testing.assert_array_equal(rest, other)


# -- errors ------------------------------------------------------------------------------------------


def _post(server: RunningServer, path: str, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{server.rest_url}{path}", data=body, headers=headers or {}, timeout=TIMEOUT)


def _infer_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP32", "data": [1.0, 2.0]}]}
    doc.update(overrides)
    return doc


@pytest.mark.parametrize(
    ("doc", "status", "needle"),
    [
        (_infer_doc(inputs=[{"name": "x", "shape": [2, 1], "datatype": "FP32", "data": [1.0]}]), 400, "elements"),
        (_infer_doc(inputs=[{"name": "x", "shape": [2, 1], "datatype": "FP64", "data": [1.0, 2.0]}]), 400, "FP64"),
        (_infer_doc(inputs=[{"name": "x", "shape": [2, 1], "datatype": "FP9", "data": [1.0, 2.0]}]), 400, "datatype"),
        (_infer_doc(inputs=[{"name": "x", "shape": [-2, 1], "datatype": "FP32", "data": [1.0]}]), 400, "shape"),
        (_infer_doc(inputs=[{"name": "z", "shape": [1], "datatype": "FP32", "data": [1.0]}]), 400, "'z'"),
        (_infer_doc(outputs=[{"name": "q"}]), 400, "'q'"),
        (_infer_doc(outputs=[{"name": "y"}, {"name": "y"}]), 400, "already exists"),
        (_infer_doc(outputs=[{"name": "y", "parameters": {"classification": 2}}]), 501, "classification"),
        (_infer_doc(inputs="x"), 400, "inputs"),
    ],
)
def test_bad_requests_answer_json_errors(server, doc: dict[str, Any], status: int, needle: str) -> None:
    response = _post(server, "/v2/models/hp_tensorflow/infer", json.dumps(doc).encode())
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]


def test_nested_data_and_nan_tokens(server) -> None:
    body = b'{"id":"n","inputs":[{"name":"x","shape":[3,1],"datatype":"FP32","data":[[1.0],[NaN],[Infinity]]}]}'
    response = _post(server, "/v2/models/hp_tensorflow/versions/123/infer", body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert b"NaN" in response.content and b"Infinity" in response.content
    answer = json.loads(response.content)  # the standard library reads the bare tokens
    assert (answer["model_name"], answer["model_version"], answer["id"]) == ("hp_tensorflow", "123", "n")
    assert answer["outputs"][0]["shape"] == [3, 1]
    assert np.isnan(answer["outputs"][0]["data"][1]) and answer["outputs"][0]["data"][2] == float("inf")


def test_bad_shape_for_a_model_with_static_shapes(server) -> None:
    body = json.dumps(_infer_doc(inputs=[{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]))
    response = _post(server, "/v2/models/hp_python/infer", body.encode())
    assert response.status_code == 400, response.text
    assert "shape" in response.json()["error"]


@pytest.mark.parametrize(
    ("header", "tail", "needle"),
    [
        ("abc", b"", "Inference-Header-Content-Length"),
        ("-1", b"", "Inference-Header-Content-Length"),
        ("99999999999", b"", "Inference-Header-Content-Length"),
        (None, struct.pack("<2f", 1, 2), "Inference-Header-Content-Length"),
        ("LEN", struct.pack("<f", 1), "needs 8 bytes"),
        ("LEN", struct.pack("<3f", 1, 2, 3), "unexpected additional input data"),
    ],
)
def test_binary_framing_errors(server, header: str | None, tail: bytes, needle: str) -> None:
    doc = json.dumps(
        {"inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}
    ).encode()
    headers = (
        {} if header is None else {"Inference-Header-Content-Length": str(len(doc)) if header == "LEN" else header}
    )
    response = _post(server, "/v2/models/hp_tensorflow/infer", doc + tail, headers)
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]
    assert requests.get(f"{server.rest_url}/v2/health/live", timeout=TIMEOUT).status_code == 200


def test_binary_reference_bytes(server) -> None:
    doc = b'{"inputs":[{"name":"x","shape":[2,1],"datatype":"FP32","parameters":{"binary_data_size":8}}],"parameters":{"binary_data_output":true}}'
    response = _post(
        server,
        "/v2/models/hp_tensorflow/infer",
        doc + struct.pack("<2f", 1.0, 2.0),
        {"Inference-Header-Content-Length": str(len(doc)), "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200
    length = int(response.headers["Inference-Header-Content-Length"])
    header = json.loads(response.content[:length])
    assert header["outputs"] == [
        {"name": "y", "datatype": "FP32", "shape": [2, 1], "parameters": {"binary_data_size": 8}}
    ]
    assert response.content[length:] == bytes.fromhex("0000204000004040")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v2/nothing", 404),
        ("POST", "/v2/health/live", 405),
        ("GET", "/v2/models/hp_tensorflow/infer", 405),
        ("GET", "/v2/models/hp_tensorflow/versions/abc", 400),
        ("GET", "/v2/logging", 501),
        ("POST", "/v2/systemsharedmemory/status", 501),
        ("GET", "/v2/trace/setting", 501),
        ("POST", "/v2/models/hp_tensorflow/generate", 501),
        ("POST", "/v2/repository/other/index", 501),
    ],
)
def test_every_error_has_a_json_body(server, method: str, path: str, status: int) -> None:
    response = requests.request(method, f"{server.rest_url}{path}", timeout=TIMEOUT)
    assert response.status_code == status
    assert response.json()["error"]


def test_grpc_unimplemented_extensions_name_themselves(grpc_client) -> None:
    with pytest.raises(InferenceServerException, match="UNIMPLEMENTED.*shared-memory"):
        grpc_client.get_system_shared_memory_status()
    with pytest.raises(InferenceServerException, match="UNIMPLEMENTED.*trace"):
        grpc_client.get_trace_settings()


def test_reflection_lists_both_services(server) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for s in next(responses).list_services_response.service}
    assert {"inference.GRPCInferenceService", "tensorflow.serving.PredictionService"} <= names


# -- extensions ------------------------------------------------------------------------------------------


def test_statistics_count_requests(http, grpc_client) -> None:
    before = http.get_inference_statistics("hp_python")["model_stats"][0]["inference_stats"]["success"]["count"]
    http.infer("hp_python", [_x()])
    with pytest.raises(InferenceServerException):
        http.infer("hp_python", [_x(values=((1.0, 2.0),))])  # wrong shape: never reaches the model
    stats = http.get_inference_statistics("hp_python")["model_stats"][0]
    assert stats["inference_stats"]["success"]["count"] == before + 1
    assert stats["inference_count"] >= 2 and stats["last_inference"] > 0
    grpc_stats = grpc_client.get_inference_statistics("hp_python").model_stats[0]
    assert grpc_stats.inference_stats.success.count == before + 1
    assert any(s["name"] == "hp_tensorflow" for s in http.get_inference_statistics()["model_stats"])


def test_repository_index_unload_and_load(http, grpc_client) -> None:
    index = {(e["name"], e.get("version")): e.get("state") for e in http.get_model_repository_index()}
    assert index[("hp_tensorflow", "123")] == "READY"
    http.unload_model("hp_python")
    assert not http.is_model_ready("hp_python")
    assert {"name": "hp_python"} in http.get_model_repository_index()
    grpc_client.load_model("hp_python")
    assert http.is_model_ready("hp_python")
    with pytest.raises(InferenceServerException, match="404|not in the model config"):
        http.load_model("never_configured")


def test_requests_across_a_version_swap(http, grpc_client, server) -> None:
    np.testing.assert_allclose(http.infer("swap", [_x()]).as_numpy("y"), [[2.5], [3.0]])
    models.export_half_plus_two(server.root / "swap" / "2", b=3.0)  # type: ignore[attr-defined]

    def swapped() -> bool:
        answer = grpc_client.infer("swap", [_x(module=grpcclient)])
        assert answer.as_numpy("y") is not None  # every request on the way is served
        return answer.get_response().model_version == "2"

    server.wait_for(swapped, timeout=60, what="version 2 serving")
    np.testing.assert_allclose(http.infer("swap", [_x()]).as_numpy("y"), [[3.5], [4.0]])
    # Statistics follow the loaded versions: version 1's counters go once it has unloaded.
    server.wait_for(
        lambda: [s["version"] for s in http.get_inference_statistics("swap")["model_stats"]] == ["2"],
        timeout=30,
        what="statistics of version 2 only",
    )


def test_repository_api_is_off_by_default(tmp_path: Path) -> None:
    models.export_half_plus_two(tmp_path / "m" / "1")
    running = start_server(
        ["--model_name=m", f"--model_base_path={tmp_path / 'm'}", "--enable_batching"], tmp_path, wait_models=["m"]
    )
    try:
        client = httpclient.InferenceServerClient(f"127.0.0.1:{running.rest_port}")
        with pytest.raises(InferenceServerException, match="enable_model_repository_api"):
            client.unload_model("m")
        assert "model_repository" not in client.get_server_metadata()["extensions"]
        # OIP under --enable_batching: concurrent requests are merged and answered apart.
        from concurrent.futures import ThreadPoolExecutor

        def one(i: int) -> np.ndarray:
            c = grpcclient.InferenceServerClient(running.grpc_address)
            try:
                return c.infer("m", [_x(values=((float(i),),), module=grpcclient)]).as_numpy("y")
            finally:
                c.close()

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(16)))
        for i, y in enumerate(results):
            np.testing.assert_allclose(y, [[0.5 * i + 2.0]])
        client.close()
    finally:
        running.stop()


def test_stream_infer_answers_each_request_and_survives_errors(server) -> None:
    import queue

    answers: queue.Queue = queue.Queue()
    client = grpcclient.InferenceServerClient(server.grpc_address)
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        client.async_stream_infer("hp_tensorflow", [_x(module=grpcclient)], request_id="a")
        client.async_stream_infer("nope", [_x(module=grpcclient)], request_id="b")
        client.async_stream_infer("hp_onnx" if "hp_onnx" in HP_MODELS else "hp_python", [_x(module=grpcclient)])
        results = [answers.get(timeout=TIMEOUT) for _ in range(3)]
    finally:
        client.stop_stream()
        client.close()
    assert results[0][1] is None and results[0][0].get_response().id == "a"
    np.testing.assert_allclose(results[0][0].as_numpy("y"), [[2.5], [3.0]])
    assert results[1][0] is None and "nope" in str(results[1][1])
    np.testing.assert_allclose(results[2][0].as_numpy("y"), [[2.5], [3.0]])


def test_gzip_and_deflate_bodies_and_version_labels(http, server) -> None:
    import gzip
    import zlib

    body = json.dumps(_infer_doc(id="z")).encode()
    for encoding, data in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        response = _post(server, "/v2/models/hp_tensorflow/versions/stable/infer", data, {"Content-Encoding": encoding})
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == "123" and response.json()["id"] == "z"
    result = http.infer("hp_tensorflow", [_x()], model_version="stable")
    assert result.get_response()["model_version"] == "123"


def test_repository_index_over_grpc_and_the_ready_filter(grpc_client, server) -> None:
    names = {(m.name, m.version, m.state) for m in grpc_client.get_model_repository_index().models}
    assert ("hp_tensorflow", "123", "READY") in names
    response = _post(server, "/v2/repository/index", b'{"ready": true}')
    assert all(entry["state"] == "READY" for entry in response.json())
    assert _post(server, "/v2/repository/index", b'{"ready": 1}').status_code == 400


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda r: r.inputs.add(name="x", datatype="FP64", shape=[1, 1]).contents.fp64_contents.append(1.0), "FP64"),
        (
            lambda r: (r.inputs.add(name="x", datatype="FP32", shape=[2, 1]), r.raw_input_contents.append(b"\0" * 4)),
            "8 bytes",
        ),
        (
            lambda r: (
                r.inputs.add(name="x", datatype="FP32", shape=[1, 1]),
                r.raw_input_contents.extend([b"\0" * 4] * 2),
            ),
            "raw_input_contents",
        ),
        (lambda r: r.inputs.add(name="x", datatype="FP32", shape=[1, 1]), "unable to find data"),
        (lambda r: r.inputs.add(name="x", datatype="FP32", shape=[-1]), "non-negative"),
        (lambda r: r.inputs.add(name="x", datatype="FP32", shape=[2**40, 2**40]), "max_tensor_elements"),
    ],
)
def test_grpc_bad_requests_are_invalid_argument(server, build: Any, needle: str) -> None:
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        request = service_pb2.ModelInferRequest(model_name="hp_tensorflow")
        build(request)
        with pytest.raises(grpc.RpcError) as error:
            stub.ModelInfer(request, timeout=TIMEOUT)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in error.value.details()


def test_large_tensors_decode_and_encode_off_the_event_loop(http, grpc_client) -> None:
    values = np.arange(300_000, dtype=np.float32).reshape(-1, 1)  # 1.2 MB in, 300k elements out
    np.testing.assert_allclose(http.infer("hp_tensorflow", [_x(values=values)]).as_numpy("y"), values * 0.5 + 2)
    result = grpc_client.infer("hp_tensorflow", [_x(values=values, module=grpcclient)])
    np.testing.assert_allclose(result.as_numpy("y"), values * 0.5 + 2)
