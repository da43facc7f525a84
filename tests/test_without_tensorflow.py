"""``pip install pyserving`` without the [tensorflow] extra: ONNX and Python models over every API.

A fresh virtualenv gets this checkout without extras (tests/helpers/venvs.py, ~45 s with pip's
wheel cache); ``import tensorflow`` must fail there, which proves nothing the server runs imports
it. The models are built here, in the main environment, and served by the venv's ``pyserving``.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
import requests

from pyserving.protos.tensorflow_serving.apis import prediction_log_pb2
from pyserving.serving.tfrecord import read_records
from tests.conftest import write_model_config
from tests.helpers import models, onnx_models, python_models
from tests.helpers.server import RunningServer, start_server
from tests.helpers.venvs import Venv, VenvUnavailable, build_tfless_venv

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    try:
        built = build_tfless_venv(tmp_path_factory.mktemp("tfless") / "venv")
    except VenvUnavailable as exc:
        pytest.skip(f"pip cannot fetch pyserving's base requirements here (no network, no cached wheels): {exc}")
    print(f"TF-less venv built in {built.seconds:.1f} s")
    return built


def run_in(venv: Venv, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv.python), "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",  # not the checkout: the installed package only
        check=False,
    )


def test_tensorflow_is_not_installed_and_the_server_modules_import_without_it(venv: Venv) -> None:
    for module in ("tensorflow", "tensorflow_serving"):
        done = run_in(venv, f"import {module}")
        assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr, done.stderr
    done = run_in(
        venv,
        """
        import json, sys
        import pyserving.runner, pyserving.cli.main, pyserving.protocols.grpc.server, pyserving.protocols.rest.app
        import pyserving.backends.onnx, pyserving.backends.python, pyserving.config.model_server_config
        from pyserving.protos.tensorflow_serving.apis import prediction_service_pb2_grpc
        from pyserving.protos.inference import grpc_service_pb2_grpc
        print(json.dumps({"tf": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorflow_serving")),
                          "from": pyserving.runner.__file__}))
        """,
    )
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["tf"] == [] and str(venv.path) in facts["from"]


@pytest.fixture(scope="module")
def server(venv: Venv, tmp_path_factory: pytest.TempPathFactory) -> RunningServer:
    tmp = tmp_path_factory.mktemp("tfless-server")
    base = tmp / "models"
    onnx_models.export_half_plus(base / "onnx_hp" / "1")
    python_models.write_half_plus(base / "py_hp" / "1")
    models.export_half_plus_two(base / "tf_hp" / "1")
    config = write_model_config(
        tmp / "models.config",
        [
            {"name": "onnx_hp", "base_path": str(base / "onnx_hp"), "platform": "onnx"},
            {"name": "py_hp", "base_path": str(base / "py_hp"), "platform": "python"},
            {"name": "tf_hp", "base_path": str(base / "tf_hp"), "platform": "tensorflow"},
        ],
    )
    running = start_server(
        [f"--model_config_file={config}"],
        tmp,
        wait_models=["onnx_hp", "py_hp"],
        env={"PYTHONPATH": ""},
        command=[str(venv.pyserving), "serve"],
    )
    yield running
    running.stop()


@pytest.mark.parametrize("model", ["onnx_hp", "py_hp"])
def test_rest(server: RunningServer, model: str) -> None:
    url = f"{server.rest_url}/v1/models/{model}"
    r = requests.post(f"{url}:predict", json={"instances": [[1.0], [4.0]]}, timeout=10)
    assert r.status_code == 200 and r.json() == {"predictions": [[2.5], [4.0]]}, r.text
    assert server.version_states(model) == {1: "AVAILABLE"}
    metadata = requests.get(f"{url}/metadata", timeout=10).json()
    assert "serving_default" in metadata["metadata"]["signature_def"]["signature_def"]
    r = requests.post(f"{url}:predict", json={"instances": "not a list of rows"}, timeout=10)
    assert r.status_code == 400 and "error" in r.json()


def test_grpc_with_the_servers_own_stubs_inside_the_venv(venv: Venv, server: RunningServer) -> None:
    done = run_in(
        venv,
        f"""
        import json, sys
        import grpc
        import numpy as np
        from google.protobuf import json_format
        from pyserving.apis.tensor_proto import array_to_tensor, tensor_to_array
        from pyserving.protos.tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2,
            model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc)
        out = {{}}
        with grpc.insecure_channel({server.grpc_address!r}) as channel:
            predict = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for model in ("onnx_hp", "py_hp"):
                request = predict_pb2.PredictRequest()
                request.model_spec.name = model
                request.inputs["x"].CopyFrom(array_to_tensor(np.array([[1.0], [4.0]], dtype=np.float32)))
                reply = predict.Predict(request, timeout=10)
                out[model] = {{k: tensor_to_array(v).tolist() for k, v in reply.outputs.items()}}
                meta = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
                meta.model_spec.name = model
                out[model + "/metadata"] = predict.GetModelMetadata(meta, timeout=10).metadata["signature_def"].type_url
            status = get_model_status_pb2.GetModelStatusRequest()
            status.model_spec.name = "tf_hp"
            reply = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status, timeout=10)
            out["tf_hp/status"] = json_format.MessageToDict(reply)
            bad = predict_pb2.PredictRequest()
            bad.model_spec.name = "no_such_model"
            try:
                predict.Predict(bad, timeout=10)
            except grpc.RpcError as error:
                out["missing"] = error.code().name
        out["tf"] = [m for m in sys.modules if m.startswith(("tensorflow", "tensorflow_serving"))]
        print(json.dumps(out))
        """,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    for model in ("onnx_hp", "py_hp"):
        assert list(out[model].values()) == [[[2.5], [4.0]]], out
        assert out[model + "/metadata"] == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    assert out["missing"] == "NOT_FOUND" and out["tf"] == []
    tf_status = out["tf_hp/status"]["model_version_status"][0]
    assert tf_status["state"] == "END" or tf_status["state"] == "LOADING"
    assert "pip install 'pyserving[tensorflow]'" in tf_status["status"]["error_message"]


def test_a_savedmodel_fails_alone_naming_the_extra(server: RunningServer) -> None:
    server.wait_for(lambda: server.version_states("tf_hp").get(1) == "END", 60, "tf_hp v1 END")
    status = server.status("tf_hp")["model_version_status"][0]["status"]
    assert status["error_code"] == "FAILED_PRECONDITION"
    assert "pip install 'pyserving[tensorflow]'" in status["error_message"]
    assert "No module named 'tensorflow'" in server.log()


@pytest.mark.parametrize("model", ["onnx_hp", "py_hp"])
def test_oip_rest_json_and_binary(server: RunningServer, model: str) -> None:
    url = f"{server.rest_url}/v2/models/{model}"
    assert requests.get(f"{url}/ready", timeout=10).status_code == 200
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 1], "data": [1.0, 4.0]}]}
    r = requests.post(f"{url}/infer", json=body, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == [2.5, 4.0]
    # Triton's binary tensor extension, as tritonclient.http sends it by default.
    header = json.dumps(
        {
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 1], "parameters": {"binary_data_size": 8}}],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    r = requests.post(
        f"{url}/infer",
        data=header + np.array([1.0, 4.0], dtype="<f4").tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header))},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    size = int(r.headers["Inference-Header-Content-Length"])
    answer = json.loads(r.content[:size])
    assert answer["outputs"][0]["parameters"]["binary_data_size"] == 8
    assert np.frombuffer(r.content[size:], dtype="<f4").tolist() == [2.5, 4.0]


def test_oip_grpc_with_the_servers_own_stubs_inside_the_venv(venv: Venv, server: RunningServer) -> None:
    done = run_in(
        venv,
        f"""
        import json, sys
        import grpc
        import numpy as np
        from pyserving.protos.inference import grpc_service_pb2 as pb, grpc_service_pb2_grpc as rpc
        out = {{}}
        with grpc.insecure_channel({server.grpc_address!r}) as channel:
            stub = rpc.GRPCInferenceServiceStub(channel)
            out["live"] = stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live
            for model in ("onnx_hp", "py_hp"):
                request = pb.ModelInferRequest(model_name=model)
                request.inputs.add(name="x", datatype="FP32", shape=[2, 1])
                request.raw_input_contents.append(np.array([1.0, 4.0], dtype="<f4").tobytes())
                reply = stub.ModelInfer(request, timeout=10)
                out[model] = np.frombuffer(reply.raw_output_contents[0], dtype="<f4").tolist()
            try:
                stub.ModelReady(pb.ModelReadyRequest(name="no_such_model"), timeout=10)
            except grpc.RpcError as error:
                out["missing"] = error.code().name
        out["tf"] = [m for m in sys.modules if m.startswith(("tensorflow", "tensorflow_serving", "tritonclient"))]
        print(json.dumps(out))
        """,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["live"] is True and out["onnx_hp"] == out["py_hp"] == [2.5, 4.0], out
    assert out["missing"] == "NOT_FOUND" and out["tf"] == []


def test_inspect_and_warmup_tools_on_an_onnx_model(venv: Venv, tmp_path: Path) -> None:
    version = onnx_models.export_half_plus(tmp_path / "onnx_hp" / "1")
    shown = subprocess.run([str(venv.pyserving), "inspect", str(version)], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "outputs['y']" in shown.stdout, shown.stderr
    warmup = version / "assets.extra" / "tf_serving_warmup_requests"
    written = subprocess.run(
        [str(venv.pyserving), "warmup", f"--output={warmup}", "--model=onnx_hp", '--request={"instances": [[1.0]]}'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert written.returncode == 0, written.stderr
    (record,) = read_records(str(warmup))
    assert (
        prediction_log_pb2.PredictionLog.FromString(record).predict_log.request.inputs["x"].tensor_shape.dim[0].size
        == 1
    )
    saved_model = models.export_half_plus_two(tmp_path / "tf_hp" / "1")
    refused = subprocess.run(
        [str(venv.pyserving), "inspect", str(saved_model)], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1 and "pip install 'pyserving[tensorflow]'" in refused.stderr
