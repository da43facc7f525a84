"""ONNX models (``model_platform: "onnx"``) through the real server, REST and the stock gRPC stubs.

Two servers: ``server`` (one config of ONNX models: half_plus_two with a warmup file, every
dtype, two inputs sharing a symbolic batch dim, a scikit-learn pipeline, a Loop, a broken and
an unsupported file, and an entry without model_platform), and one per test for batching
with version swaps under load.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    model_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from pyserving.tools.warmup_file import main as warmup_main
from tests.helpers import onnx_models
from tests.helpers.server import RunningServer, start_server

TIMEOUT = 30
INVALID = grpc.StatusCode.INVALID_ARGUMENT
AVAILABLE = ["hp", "dtypes", "json_dtypes", "two", "iris", "loop", "detected"]
# Every dtype but float16: REST JSON has no half (TF Serving answers 501, and so does pyserving).
JSON_DTYPES = ("f64", "i8", "i32", "i64", "u8", "u64", "b", "s")


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory):
    return onnx_models.sklearn_pipeline()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, iris) -> RunningServer:
    root = tmp_path_factory.mktemp("onnx")
    hp = onnx_models.save(onnx_models.half_plus_two(), root / "hp" / "1").parent
    code = warmup_main(
        [
            "--output",
            str(hp / "assets.extra" / "tf_serving_warmup_requests"),
            "--model",
            "hp",
            "--request",
            '{"instances": [[1.0], [2.0]]}',
            "--request",
            '{"inputs": {"x": [[3.0]]}}',
        ]
    )
    assert code == 0
    onnx_models.save(onnx_models.dtypes_model(), root / "dtypes" / "1")
    onnx_models.save(onnx_models.dtypes_model(JSON_DTYPES), root / "json_dtypes" / "1")
    onnx_models.save(onnx_models.two_inputs(), root / "two" / "1")
    onnx_models.save(iris[0], root / "iris" / "1")
    onnx_models.save(onnx_models.loop_sum(), root / "loop" / "1")
    onnx_models.save(onnx_models.broken_bytes(), root / "broken" / "3")
    onnx_models.save(onnx_models.unknown_op(), root / "unknown" / "1")
    onnx_models.save(onnx_models.half_plus_two(a=2.0, b=1.0), root / "detected" / "5")
    entries = [
        f'  config {{ name: "{name}" base_path: "{root / name}" model_platform: "onnx" }}'
        for name in ("hp", "dtypes", "json_dtypes", "two", "iris", "loop", "broken", "unknown")
    ]
    entries.append(f'  config {{ name: "detected" base_path: "{root / "detected"}" }}')
    config = root / "models.config"
    config.write_text("model_config_list {\n" + "\n".join(entries) + "\n}\n")
    running = start_server(
        [f"--model_config_file={config}", "--max_num_load_retries=0", "--file_system_settle_seconds=1"],
        root,
        wait_models=AVAILABLE,
    )
    yield running
    running.stop()


def _predict(server: RunningServer, model: str, body: dict) -> requests.Response:
    return requests.post(f"{server.rest_url}/v1/models/{model}:predict", json=body, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def stub(server: RunningServer):
    channel = grpc.insecure_channel(server.grpc_address)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


def _grpc_predict(stub, model: str, inputs: dict, output_filter=()) -> predict_pb2.PredictResponse:
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model), output_filter=output_filter)
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(
            value if isinstance(value, type(request.inputs[alias])) else tf.make_tensor_proto(value)
        )
    return stub.Predict(request, timeout=TIMEOUT)


# -- lifecycle --------------------------------------------------------------------------------


def test_status_broken_and_unsupported_files_end_with_onnxruntimes_error(server: RunningServer) -> None:
    assert server.version_states("hp") == {1: "AVAILABLE"}
    for model, version, text in (("broken", 3, "INVALID_PROTOBUF"), ("unknown", 1, "NoSuchOpAnywhere")):
        server.wait_for(lambda m=model, v=version: server.version_states(m).get(v) == "END", 60, f"{model} END")
        [status] = server.status(model)["model_version_status"]
        assert status["status"]["error_code"] == "INVALID_ARGUMENT"
        assert text in status["status"]["error_message"] and "model.onnx" in status["status"]["error_message"]


def test_a_folder_with_model_onnx_needs_no_model_platform(server: RunningServer) -> None:
    assert server.version_states("detected") == {5: "AVAILABLE"}
    assert "Model detected has no model_platform: serving it as 'onnx'" in server.log()
    r = _predict(server, "detected", {"instances": [[1.0], [3.0]]})
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [[3.0], [7.0]]}


def test_warmup_file_written_by_the_tool_is_replayed(server: RunningServer) -> None:
    path = os.path.join("hp", "1", "assets.extra", "tf_serving_warmup_requests")
    lines = [line for line in server.log().splitlines() if "Finished reading warmup data" in line and path in line]
    assert lines and "Number of warmup records read: 2." in lines[0]


# -- metadata ---------------------------------------------------------------------------------


def test_rest_metadata_is_a_signature_def(server: RunningServer) -> None:
    body = requests.get(f"{server.rest_url}/v1/models/two/metadata", timeout=TIMEOUT).json()
    assert body["model_spec"] == {"name": "two", "signature_name": "", "version": "1"}
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert set(signature["inputs"]) == {"a", "b"} and set(signature["outputs"]) == {"sum", "total"}
    a = signature["inputs"]["a"]
    assert a["name"] == "a" and a["dtype"] == "DT_FLOAT"
    assert [int(d["size"]) for d in a["tensor_shape"]["dim"]] == [-1, 3]
    total = signature["outputs"]["total"]
    assert [int(d["size"]) for d in total["tensor_shape"]["dim"]] == [-1]


def test_grpc_metadata_has_tf_dtypes_and_minus_one_for_symbolic_dims(server: RunningServer, stub) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "dtypes"
    response = stub.GetModelMetadata(request, timeout=TIMEOUT)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    signature = signatures.signature_def["serving_default"]
    assert {k: v.dtype for k, v in signature.inputs.items()} == {
        "f16": types_pb2.DT_HALF,
        "f64": types_pb2.DT_DOUBLE,
        "i8": types_pb2.DT_INT8,
        "i32": types_pb2.DT_INT32,
        "i64": types_pb2.DT_INT64,
        "u8": types_pb2.DT_UINT8,
        "u64": types_pb2.DT_UINT64,
        "b": types_pb2.DT_BOOL,
        "s": types_pb2.DT_STRING,
    }
    assert signature.outputs["s_upper"].dtype == types_pb2.DT_STRING
    assert all(
        [d.size for d in info.tensor_shape.dim] == [-1]
        for info in [*signature.inputs.values(), *signature.outputs.values()]
    )


# -- predict ----------------------------------------------------------------------------------


def test_rest_row_and_columnar(server: RunningServer) -> None:
    rows = _predict(server, "hp", {"instances": [[1.0], [2.0], [5.0]]})
    assert rows.status_code == 200, rows.text
    assert rows.json() == {"predictions": [[2.5], [3.0], [4.5]]}
    columns = _predict(server, "hp", {"inputs": {"x": [[1.0], [2.0]]}})
    assert columns.json() == {"outputs": [[2.5], [3.0]]}
    two_rows = _predict(
        server, "two", {"instances": [{"a": [1, 2, 3], "b": [10, 20, 30]}, {"a": [0, 0, 1], "b": [0, 0, 1]}]}
    )
    assert two_rows.status_code == 200, two_rows.text
    assert two_rows.json() == {
        "predictions": [{"sum": [11.0, 22.0, 33.0], "total": 66.0}, {"sum": [0.0, 0.0, 2.0], "total": 2.0}]
    }
    two_columns = _predict(server, "two", {"inputs": {"a": [[1, 2, 3]], "b": [[1, 1, 1]]}})
    assert two_columns.json() == {"outputs": {"sum": [[2.0, 3.0, 4.0]], "total": [9.0]}}


def test_rest_strings_ints_and_bools(server: RunningServer) -> None:
    body = {
        "inputs": {
            "f64": [2.25],
            "i8": [-3],
            "i32": [7],
            "i64": [2**40],
            "u8": [255],
            "u64": [5],
            "b": [True],
            "s": ["abc"],
        }
    }
    r = _predict(server, "json_dtypes", body)
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    assert out["f64_neg"] == [-2.25] and out["i64_plus1"] == [2**40 + 1]
    assert out["b_not"] == [False] and out["s_upper"] == ["ABC"] and out["s_id"] == ["abc"]
    assert out["u8_id"] == [255] and out["i8_id"] == [-3]
    rows = _predict(server, "json_dtypes", {"instances": [{**{k: v[0] for k, v in body["inputs"].items()}}]})
    assert rows.status_code == 200, rows.text
    assert rows.json()["predictions"][0]["s_upper"] == "ABC"
    half = _predict(server, "dtypes", {"inputs": {**body["inputs"], "f16": [1.5]}})
    assert half.status_code == 501 and "to type: half" in half.json()["error"]  # as TF Serving


def test_sklearn_pipeline_over_rest(server: RunningServer, iris) -> None:
    _, pipeline, features = iris
    meta = requests.get(f"{server.rest_url}/v1/models/iris/metadata", timeout=TIMEOUT).json()
    [alias] = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    r = _predict(server, "iris", {"inputs": {alias: features[::10].tolist()}})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    assert out["label"] == pipeline.predict(features[::10]).tolist()
    np.testing.assert_allclose(out["probabilities"], pipeline.predict_proba(features[::10]), rtol=1e-3, atol=1e-4)


def test_grpc_predict_with_the_stock_stubs(server: RunningServer, stub) -> None:
    response = _grpc_predict(stub, "hp", {"x": np.array([[1.0], [3.0]], np.float32)})
    assert response.model_spec.name == "hp" and response.model_spec.version.value == 1
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["y"]), [[2.5], [3.5]])
    inputs = {
        "f16": np.array([1.0, 2.0], np.float16),
        "f64": np.array([1.0, -1.0]),
        "i8": np.array([1, 2], np.int8),
        "i32": np.array([1, 2], np.int32),
        "i64": np.array([1, 2], np.int64),
        "u8": np.array([1, 2], np.uint8),
        "u64": np.array([1, 2], np.uint64),
        "b": np.array([True, False]),
        "s": tf.make_tensor_proto([b"hello", "w\u00f6rld".encode()]),
    }
    response = _grpc_predict(stub, "dtypes", inputs, ["s_id", "s_upper", "u64_id", "f16_x2", "b_not"])
    assert set(response.outputs) == {"s_id", "s_upper", "u64_id", "f16_x2", "b_not"}
    assert response.outputs["s_id"].dtype == types_pb2.DT_STRING
    assert tf.make_ndarray(response.outputs["s_id"]).tolist() == [b"hello", "w\u00f6rld".encode()]
    assert tf.make_ndarray(response.outputs["s_upper"]).tolist()[0] == b"HELLO"
    assert tf.make_ndarray(response.outputs["u64_id"]).dtype == np.uint64
    assert tf.make_ndarray(response.outputs["f16_x2"]).tolist() == [2.0, 4.0]
    assert tf.make_ndarray(response.outputs["b_not"]).tolist() == [False, True]
    loop = _grpc_predict(stub, "loop", {"n": np.array(100, np.int64)})
    assert float(tf.make_ndarray(loop.outputs["total"])) == 5050.0


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "body", "text"),
    [
        ("hp", {"instances": [[1.0, 2.0]]}, "input 'x': expected shape [-1,1] but got [1,2]"),
        ("hp", {"instances": [["a"]]}, ""),
        ("two", {"inputs": {"a": [[1, 2, 3]]}}, "b"),
        (
            "two",
            {"inputs": {"a": [[1, 2, 3]], "b": [[1, 2, 3], [4, 5, 6]]}},
            "input 'b': expected shape [-1,3] but got [2,3] (dim 0 is 'N', which input 'a' sets to 1)",
        ),
        (
            "json_dtypes",
            {
                "inputs": {
                    "f64": [1],
                    "i8": [1],
                    "i32": [1],
                    "i64": [1],
                    "u8": [1],
                    "u64": [1],
                    "b": [True],
                    "s": [{"b64": "/w=="}],
                }
            },
            "not valid UTF-8",
        ),
    ],
)
def test_rest_bad_requests_are_400(server: RunningServer, model: str, body: dict, text: str) -> None:
    r = _predict(server, model, body)
    assert r.status_code == 400, r.text
    assert text in r.json()["error"]


def test_grpc_bad_requests_are_invalid_argument(server: RunningServer, stub) -> None:
    cases = [
        ("hp", {"x": np.array([[1.0]], np.float64)}, "Expects arg[0] to be float but double is provided"),
        ("hp", {"x": np.array([1.0, 2.0], np.float32)}, "input 'x': expected shape [-1,1] but got [2]"),
        ("two", {"a": np.ones((1, 3), np.float32)}, "Missing but required: {b}"),
    ]
    for model, inputs, text in cases:
        with pytest.raises(grpc.RpcError) as caught:
            _grpc_predict(stub, model, inputs)
        assert caught.value.code() == INVALID, caught.value.details()
        assert text in caught.value.details()


# -- batching and version swaps under load ----------------------------------------------------


def test_batching_and_version_swaps_under_load_fail_no_request(tmp_path: Path) -> None:
    sizes = (16, 32, 4)
    weights = {v: onnx_models.mlp_weights(sizes, seed=v) for v in (1, 2, 3)}
    staging, base = tmp_path / "staging", tmp_path / "mlp"
    for version, w in weights.items():
        onnx_models.save(onnx_models.mlp(sizes, weights=w), staging / str(version))
    shutil.copytree(staging / "1", base / "1")
    params = tmp_path / "batching.txt"
    params.write_text(
        "max_batch_size { value: 64 }\nbatch_timeout_micros { value: 2000 }\nnum_batch_threads { value: 2 }\n"
    )
    server = start_server(
        [
            "--model_name=mlp",
            f"--model_base_path={base}",
            "--enable_batching",
            f"--batching_parameters_file={params}",
            # a long settle: only a whole model.onnx (version_complete) may load v3
            "--max_num_load_retries=0",
            "--file_system_settle_seconds=300",
        ],
        tmp_path,
        wait_models=["mlp"],
    )
    failures: list[str] = []
    seen: set[int] = set()
    counts = [0]
    stop = threading.Event()
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = np.random.default_rng(seed)
        channel = grpc.insecure_channel(server.grpc_address)
        grpc_stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            while not stop.is_set():
                x = rng.uniform(-1, 1, (int(rng.integers(1, 6)), sizes[0])).astype(np.float32)
                try:
                    if rng.integers(2):
                        response = _grpc_predict(grpc_stub, "mlp", {"x": x})
                        version = response.model_spec.version.value
                        y = tf.make_ndarray(response.outputs["y"])
                    else:
                        r = _predict(server, "mlp", {"inputs": {"x": x.tolist()}})
                        if r.status_code != 200:
                            raise AssertionError(f"REST {r.status_code}: {r.text}")
                        y, version = np.array(r.json()["outputs"], np.float32), None
                except (grpc.RpcError, AssertionError, requests.RequestException) as exc:
                    with lock:
                        failures.append(str(exc)[:300])
                    continue
                candidates = [version] if version else list(weights)
                if not any(np.allclose(y, onnx_models.mlp_reference(x, weights[v]), atol=1e-4) for v in candidates):
                    with lock:
                        failures.append(f"wrong answer (version {version})")
                with lock:
                    counts[0] += 1
                    if version:
                        seen.add(version)
        finally:
            channel.close()

    def serving(version: int) -> bool:
        states = server.version_states("mlp")
        return [v for v, s in states.items() if s == "AVAILABLE"] == [version]

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(6)]
    try:
        for thread in threads:
            thread.start()
        server.wait_for(lambda: counts[0] >= 20, 60, "first answers")
        shutil.copytree(staging / "2", base / ".incoming-2")
        os.rename(base / ".incoming-2", base / "2")  # safe publication: one rename
        server.wait_for(lambda: serving(2), 60, "v2 serving alone")
        (base / "3").mkdir()
        data = (staging / "3" / "model.onnx").read_bytes()
        with open(base / "3" / "model.onnx", "wb") as out:  # a slow copy: half now, half later
            out.write(data[: len(data) // 2])
            out.flush()
            reached = counts[0]
            server.wait_for(lambda: counts[0] >= reached + 20, 60, "answers while v3 is half-written")
            assert 3 not in server.version_states("mlp")  # not loaded half-written
            out.write(data[len(data) // 2 :])
        server.wait_for(lambda: serving(3), 60, "v3 serving alone")
        reached = counts[0]
        server.wait_for(lambda: counts[0] >= reached + 20, 60, "answers from v3")
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        server.stop()
    assert failures == []
    assert {1, 2, 3} <= seen
