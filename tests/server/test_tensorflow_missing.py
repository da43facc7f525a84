"""A server whose TensorFlow cannot be imported: the SavedModel fails, naming the extra; the rest serve.

The main test environment has TensorFlow, so a stand-in ``tensorflow`` package that raises
ImportError is put first on PYTHONPATH (what ``import tensorflow`` does in a ``pip install
pyserving`` without the extra; tests/test_without_tensorflow.py runs the real thing in a venv).
"""

from __future__ import annotations

from pathlib import Path

import grpc
import requests

from pyserving.protos.tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc
from tests.conftest import write_model_config
from tests.helpers import models, onnx_models, python_models
from tests.helpers.server import REPO, start_server


def test_a_savedmodel_without_tensorflow_fails_alone_and_names_the_extra(tmp_path: Path) -> None:
    blocker = tmp_path / "no_tensorflow" / "tensorflow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError(\"No module named 'tensorflow'\")\n")
    base = tmp_path / "models"
    models.export_half_plus_two(base / "tf_hp" / "1")
    onnx_models.export_half_plus(base / "onnx_hp" / "1")
    python_models.write_half_plus(base / "py_hp" / "1")
    config = write_model_config(
        tmp_path / "models.config",
        [
            {"name": "tf_hp", "base_path": str(base / "tf_hp"), "platform": "tensorflow"},
            {"name": "onnx_hp", "base_path": str(base / "onnx_hp"), "platform": "onnx"},
            {"name": "py_hp", "base_path": str(base / "py_hp"), "platform": "python"},
        ],
    )
    server = start_server(
        [f"--model_config_file={config}"],
        tmp_path,
        wait_models=["onnx_hp", "py_hp"],
        env={"PYTHONPATH": f"{blocker.parent}:{REPO}"},
    )
    try:
        server.wait_for(lambda: server.version_states("tf_hp").get(1) == "END", 60, "tf_hp v1 END")
        status = server.status("tf_hp")["model_version_status"][0]["status"]
        assert status["error_code"] == "FAILED_PRECONDITION", status
        assert "pip install 'pyserving[tensorflow]'" in status["error_message"]
        assert "pip install 'pyserving[tensorflow]'" in server.log()
        for model, expected in (("onnx_hp", 2.5), ("py_hp", 2.5)):
            r = requests.post(f"{server.rest_url}/v1/models/{model}:predict", json={"instances": [[1.0]]}, timeout=10)
            assert r.status_code == 200 and r.json() == {"predictions": [[expected]]}, r.text
        with grpc.insecure_channel(server.grpc_address) as channel:
            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = "tf_hp"
            reply = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=10)
        assert "pyserving[tensorflow]" in reply.model_version_status[0].status.error_message
        r = requests.post(f"{server.rest_url}/v1/models/tf_hp:predict", json={"instances": [[1.0]]}, timeout=10)
        assert r.status_code == 404 and "error" in r.json()
    finally:
        server.stop()
