"""Every platform passes the same REST and gRPC API tests: status, metadata, predict, errors, swaps.

One server serves ``y = 0.5 x + b`` as a SavedModel, an ONNX model and a Python model side by
side (one ``--model_config_file``, ``model_platform`` per entry and one entry left to detection),
plus the Python backend's own cases: exceptions in ``predict`` and ``load``, strings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from pyserving.apis.tensor_proto import array_to_tensor, tensor_to_array
from tests.conftest import write_model_config
from tests.helpers import models
from tests.helpers.python_models import RAISES_IN_LOAD, RAISES_IN_PREDICT, STRINGS, write_half_plus, write_python_model
from tests.helpers.server import RunningServer, start_server

TIMEOUT = 30


PUBLISH: dict[str, Callable[..., Path]] = {
    "tensorflow": lambda path, b=2.0: models.export_half_plus_two(path, b=b),
    "python": write_half_plus,
}
try:
    import onnxruntime  # noqa: F401

    from tests.helpers.onnx_models import export_half_plus

    PUBLISH["onnx"] = export_half_plus
except ImportError:  # pragma: no cover - the onnx extra is part of `make test`
    pass
PLATFORMS = sorted(PUBLISH)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("platforms")
    entries: list[dict[str, Any]] = []
    for platform, publish in PUBLISH.items():
        for prefix in ("hp", "swap"):
            publish(root / f"{prefix}_{platform}" / "1")
            entries.append(
                {"name": f"{prefix}_{platform}", "base_path": str(root / f"{prefix}_{platform}"), "platform": platform}
            )
    write_python_model(root / "raises" / "1", RAISES_IN_PREDICT)
    write_python_model(root / "broken" / "1", RAISES_IN_LOAD)
    write_python_model(root / "strings" / "1", STRINGS)
    write_half_plus(root / "detected" / "1")
    entries += [{"name": n, "base_path": str(root / n), "platform": "python"} for n in ("raises", "broken", "strings")]
    config = write_model_config(root / "models.config", entries)
    # The detected entry has no model_platform at all.
    text = config.read_text().replace(
        "model_config_list {",
        f'model_config_list {{\n  config {{ name: "detected" base_path: "{root / "detected"}" }}',
        1,
    )
    config.write_text(text)
    running = start_server(
        [f"--model_config_file={config}", "--max_num_load_retries=0"],
        root,
        wait_models=[e["name"] for e in entries if e["name"] != "broken"] + ["detected"],
    )
    running.root = root  # type: ignore[attr-defined]
    yield running
    running.stop()


def rest_predict(server: RunningServer, model: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{server.rest_url}/v1/models/{model}:predict", json=body, timeout=TIMEOUT)


def grpc_predict(server: RunningServer, model: str, **inputs: np.ndarray) -> predict_pb2.PredictResponse:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for alias, value in inputs.items():
        array_to_tensor(value, out=request.inputs[alias])
    with grpc.insecure_channel(server.grpc_address) as channel:
        return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=TIMEOUT)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_status_and_metadata(server: RunningServer, platform: str) -> None:
    assert server.version_states(f"hp_{platform}") == {1: "AVAILABLE"}
    body = requests.get(f"{server.rest_url}/v1/models/hp_{platform}/metadata", timeout=TIMEOUT).json()
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["x"]["dtype"] == "DT_FLOAT"
    if platform != "tensorflow":  # the SavedModel's x:0 is of unknown rank, as in TF Serving's testdata
        assert [d["size"] for d in signature["inputs"]["x"]["tensor_shape"]["dim"]] == ["-1", "1"]
    assert signature["outputs"]["y"]["dtype"] == "DT_FLOAT"
    assert signature["method_name"] == "tensorflow/serving/predict"
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = f"hp_{platform}"
    with grpc.insecure_channel(server.grpc_address) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(request, timeout=TIMEOUT)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    assert signature_map.signature_def["serving_default"].inputs["x"].dtype == 1  # DT_FLOAT


@pytest.mark.parametrize("platform", PLATFORMS)
def test_predict_row_columnar_and_grpc(server: RunningServer, platform: str) -> None:
    r = rest_predict(server, f"hp_{platform}", {"instances": [[1.0], [2.0], [5.0]]})
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [[2.5], [3.0], [4.5]]}
    r = rest_predict(server, f"hp_{platform}", {"inputs": {"x": [[1.0], [2.0]]}})
    assert r.json() == {"outputs": [[2.5], [3.0]]}, r.text
    response = grpc_predict(server, f"hp_{platform}", x=np.array([[1.0], [-2.0]], np.float32))
    np.testing.assert_allclose(tensor_to_array(response.outputs["y"]), [[2.5], [1.0]])
    assert response.model_spec.version.value == 1


@pytest.mark.parametrize("platform", PLATFORMS)
def test_errors_are_400_and_invalid_argument(server: RunningServer, platform: str) -> None:
    r = rest_predict(server, f"hp_{platform}", {"instances": [["a"]]})
    assert r.status_code == 400 and "is not of expected type: float" in r.json()["error"], r.text
    r = rest_predict(server, f"hp_{platform}", {"inputs": {"z": [[1.0]]}})
    assert r.status_code == 400 and "Missing named input: x" in r.json()["error"], r.text
    with pytest.raises(grpc.RpcError) as info:
        grpc_predict(server, f"hp_{platform}", x=np.array([[1]], np.int32))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "to be float but int32 is provided" in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        grpc_predict(server, f"hp_{platform}", z=np.array([[1.0]], np.float32))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    r = requests.get(f"{server.rest_url}/v1/models/hp_{platform}/versions/7", timeout=TIMEOUT)
    assert r.status_code == 404


@pytest.mark.parametrize("platform", [p for p in PLATFORMS if p != "tensorflow"])
def test_a_wrong_shape_is_invalid_argument(server: RunningServer, platform: str) -> None:
    # The SavedModel feeds x:0 of any shape; declared shapes of the others are checked.
    r = rest_predict(server, f"hp_{platform}", {"inputs": {"x": [1.0, 2.0]}})
    assert r.status_code == 400, r.text
    assert "[-1,1]" in r.json()["error"] and "2" in r.json()["error"], r.text


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_new_version_swaps_in_under_load_with_no_failed_request(server: RunningServer, platform: str) -> None:
    name = f"swap_{platform}"
    failures: list[str] = []
    answers: set[float] = set()
    stop = threading.Event()

    def load() -> None:
        with grpc.insecure_channel(server.grpc_address) as channel, requests.Session() as session:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_pb2.PredictRequest()
            request.model_spec.name = name
            array_to_tensor(np.array([[1.0]], np.float32), out=request.inputs["x"])
            for i in range(100_000):
                if stop.is_set():
                    return
                try:
                    if i % 2:
                        answers.add(float(tensor_to_array(stub.Predict(request, timeout=TIMEOUT).outputs["y"])[0, 0]))
                    else:
                        r = session.post(
                            f"{server.rest_url}/v1/models/{name}:predict", json={"instances": [[1.0]]}, timeout=TIMEOUT
                        )
                        if r.status_code != 200:
                            failures.append(r.text)
                        else:
                            answers.add(r.json()["predictions"][0][0])
                except grpc.RpcError as exc:
                    failures.append(f"{exc.code()}: {exc.details()}")

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        server.wait_for(lambda: len(answers) >= 1, what="answers from version 1")
        PUBLISH[platform](server.root / name / "2", b=3.0)  # type: ignore[attr-defined]
        server.wait_for(lambda: server.version_states(name) == {2: "AVAILABLE", 1: "END"}, what="only version 2")
        server.wait_for(lambda: 3.5 in answers, what="answers from version 2")
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert failures == []
    assert answers == {2.5, 3.5}


def test_an_exception_in_predict_is_500_with_its_type_and_the_server_stays(server: RunningServer) -> None:
    r = rest_predict(server, "raises", {"instances": [1.0]})
    assert r.status_code == 500
    assert r.json() == {"error": "ZeroDivisionError: the model divided by zero on purpose"}
    with pytest.raises(grpc.RpcError) as info:
        grpc_predict(server, "raises", x=np.array([1.0], np.float32))
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "ZeroDivisionError" in info.value.details()
    log = server.log()
    assert "raised in predict" in log and "Traceback" in log and "raise ZeroDivisionError" in log
    assert rest_predict(server, "hp_python", {"instances": [[1.0]]}).status_code == 200


def test_an_exception_in_load_ends_the_version_with_its_message(server: RunningServer) -> None:
    server.wait_for(lambda: server.version_states("broken") == {1: "END"}, what="broken v1 END")
    status = server.status("broken")["model_version_status"][0]["status"]
    assert "FileNotFoundError: weights.bin is missing from" in status["error_message"]


def test_string_inputs_and_outputs(server: RunningServer) -> None:
    r = rest_predict(server, "strings", {"inputs": {"text": ["ab", "很"], "times": [1, 2]}})
    assert r.json() == {"outputs": {"length": [2, 6], "upper": ["AB", "很"]}}, r.text
    response = grpc_predict(server, "strings", text=np.array([b"xyz"], dtype=object), times=np.array([3], np.int64))
    assert list(response.outputs["length"].int64_val) == [9]
    assert list(response.outputs["upper"].string_val) == [b"XYZ"]


def test_a_model_without_model_platform_is_detected_and_logged(server: RunningServer) -> None:
    assert server.version_states("detected") == {1: "AVAILABLE"}
    assert "Model detected has no model_platform: serving it as 'python' (found 1/model.py)" in server.log()
    assert rest_predict(server, "detected", {"instances": [[2.0]]}).json() == {"predictions": [[3.0]]}


def test_python_models_batch_when_they_say_so(tmp_path: Path) -> None:
    write_half_plus(tmp_path / "hp" / "1")
    batching = tmp_path / "batching.config"
    batching.write_text(
        "max_batch_size { value: 64 } batch_timeout_micros { value: 20000 }\nnum_batch_threads { value: 2 }\n"
    )
    server = start_server(
        [
            f"--model_base_path={tmp_path / 'hp'}",
            "--model_name=hp",
            "--enable_batching",
            f"--batching_parameters_file={batching}",
        ],
        tmp_path,
        wait_models=["hp"],
    )
    try:
        results: dict[int, Any] = {}

        def call(i: int) -> None:
            results[i] = rest_predict(server, "hp", {"instances": [[float(i)]]}).json()

        threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert results == {i: {"predictions": [[i / 2 + 2]]} for i in range(16)}
        assert "serving it as 'python'" in server.log()  # single-model mode detects it too
    finally:
        server.stop()


def test_reload_adds_and_removes_models_of_every_platform(tmp_path: Path) -> None:
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    for platform, publish in PUBLISH.items():
        publish(tmp_path / platform / "1")
    first = write_model_config(
        tmp_path / "first.config",
        [{"name": "tensorflow", "base_path": str(tmp_path / "tensorflow"), "platform": "tensorflow"}],
    )
    server = start_server([f"--model_config_file={first}"], tmp_path, wait_models=["tensorflow"])
    try:

        def reload(platforms: list[str]) -> None:
            request = model_management_pb2.ReloadConfigRequest()
            for platform in platforms:
                request.config.model_config_list.config.add(
                    name=platform, base_path=str(tmp_path / platform), model_platform=platform
                )
            with grpc.insecure_channel(server.grpc_address) as channel:
                response = model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
                    request, timeout=60
                )
            assert response.status.error_code == 0, response.status.error_message

        reload(PLATFORMS)  # adds the others
        for platform in PLATFORMS:
            server.wait_available(platform)
            assert rest_predict(server, platform, {"instances": [[2.0]]}).json() == {"predictions": [[3.0]]}
        reload(["tensorflow"])  # removes them again
        for platform in PLATFORMS:
            if platform != "tensorflow":
                server.wait_for(
                    lambda p=platform: rest_predict(server, p, {"instances": [[2.0]]}).status_code == 404,
                    what=f"{platform} removed",
                )
        assert rest_predict(server, "tensorflow", {"instances": [[2.0]]}).status_code == 200
    finally:
        server.stop()
