"""Every datatype the models take, over tritonclient HTTP (binary and JSON) and gRPC; other signatures;
readiness while a model loads.

One server per module: TensorFlow's dtypes echo model (every TF dtype OIP names, plus a scalar and
a no-input signature) and ONNX's dtypes model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import np_to_triton_dtype

from tests.conftest import write_model_config
from tests.helpers import models
from tests.helpers.python_models import write_python_model
from tests.helpers.server import RunningServer, start_server

TIMEOUT = 30
TF_DTYPES = [*models.DTYPES_MODEL_INPUTS, *models.DTYPES_MODEL_EXTRA_INPUTS]
try:
    import onnxruntime  # noqa: F401

    from tests.helpers import onnx_models
except ImportError:  # pragma: no cover - the onnx extra is part of `make test`
    onnx_models = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("oip_dtypes")
    models.export_dtypes_model(root / "dtypes" / "1", extra_dtypes=True)
    entries = [{"name": "dtypes", "base_path": str(root / "dtypes")}]
    if onnx_models is not None:
        onnx_models.save(onnx_models.dtypes_model(), root / "onnx_dtypes" / "1")
        entries.append({"name": "onnx_dtypes", "base_path": str(root / "onnx_dtypes"), "platform": "onnx"})
    config = write_model_config(root / "models.config", entries)
    running = start_server([f"--model_config_file={config}"], root, wait_models=[e["name"] for e in entries])
    yield running
    running.stop()


def _sample(dtype_name: str) -> np.ndarray:
    if dtype_name == "string":
        return np.array([b"a\x00", "酒".encode(), b""], dtype=object)
    if dtype_name == "bool":
        return np.array([True, False, True])
    return np.array([1, 0, 3], dtype=np.dtype(dtype_name))


def _infer(
    server: RunningServer, transport: str, model: str, arrays: dict[str, np.ndarray], outputs: list[str]
) -> dict:
    if transport == "grpc":
        client = grpcclient.InferenceServerClient(server.grpc_address)
        inputs = [grpcclient.InferInput(k, list(v.shape), np_to_triton_dtype(v.dtype)) for k, v in arrays.items()]
        for tensor, array in zip(inputs, arrays.values(), strict=True):
            tensor.set_data_from_numpy(array)
        requested = [grpcclient.InferRequestedOutput(o) for o in outputs]
    else:
        client = httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}")
        binary = transport == "http"
        inputs = [httpclient.InferInput(k, list(v.shape), np_to_triton_dtype(v.dtype)) for k, v in arrays.items()]
        for tensor, array in zip(inputs, arrays.values(), strict=True):
            tensor.set_data_from_numpy(array, binary_data=binary)
        requested = [httpclient.InferRequestedOutput(o, binary_data=binary) for o in outputs]
    try:
        result = client.infer(model, inputs, outputs=requested)
        return {o: result.as_numpy(o) for o in outputs}
    finally:
        client.close()


@pytest.mark.parametrize("transport", ["http", "http-json", "grpc"])
def test_every_tensorflow_dtype_round_trips(server: RunningServer, transport: str) -> None:
    arrays = {alias: _sample(name) for alias, name in TF_DTYPES}
    if transport == "http-json":
        for alias in ("s", "raw_bytes"):  # JSON BYTES must be UTF-8 text
            arrays[alias] = np.array([b"a", "酒".encode(), b""], dtype=object)
    sent = dict(arrays)
    # The other inputs are required too: send them all, ask for each echo.
    results = _infer(server, transport, "dtypes", sent, [models.dtypes_output_alias(a) for a in sent])
    for alias, array in sent.items():
        got = results[models.dtypes_output_alias(alias)]
        if array.dtype == object:
            expected = [x.decode() for x in array] if transport == "http-json" else list(array)
            got_list = [x.decode() if isinstance(x, bytes) and transport == "http-json" else x for x in got]
            assert [g if isinstance(g, (bytes, str)) else g for g in got_list] == expected, alias
        else:
            np.testing.assert_array_equal(got, array, err_msg=alias)
            assert got.dtype == array.dtype, alias


def test_tensorflow_metadata_names_every_dtype(server: RunningServer) -> None:
    metadata = requests.get(f"{server.rest_url}/v2/models/dtypes", timeout=TIMEOUT).json()
    datatypes = {t["name"]: t["datatype"] for t in metadata["inputs"]}
    assert datatypes["f16"] == "FP16" and datatypes["s"] == "BYTES" and datatypes["b"] == "BOOL"
    assert datatypes["u64"] == "UINT64" and datatypes["i16"] == "INT16"


def test_signature_name_parameter_scalar_and_no_input(server: RunningServer) -> None:
    url = f"{server.rest_url}/v2/models/dtypes/infer"
    body = {
        "parameters": {"signature_name": "scalar"},
        "inputs": [{"name": "x", "shape": [], "datatype": "FP32", "data": [1.5]}],
    }
    answer = requests.post(url, data=json.dumps(body), timeout=TIMEOUT).json()
    assert answer["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [], "data": [3.0]}]
    answer = requests.post(
        url, data=json.dumps({"parameters": {"signature_name": "no_input"}, "inputs": []}), timeout=TIMEOUT
    )
    assert answer.json()["outputs"][0]["data"] == [models.NO_INPUT_VALUE]
    client = grpcclient.InferenceServerClient(server.grpc_address)
    try:
        x = grpcclient.InferInput("x", [], "FP32")
        x.set_data_from_numpy(np.array(2.0, dtype=np.float32))
        result = client.infer("dtypes", [x], parameters={"signature_name": "scalar"})
        assert result.as_numpy("y").tolist() == 4.0
    finally:
        client.close()
    missing = requests.post(
        url, data=json.dumps({"parameters": {"signature_name": "nope"}, "inputs": []}), timeout=TIMEOUT
    )
    assert missing.status_code == 400 and "nope" in missing.json()["error"]


@pytest.mark.skipif(onnx_models is None, reason="onnxruntime is not installed")
@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_onnx_dtypes(server: RunningServer, transport: str) -> None:
    arrays = {
        "f16": np.array([1.5, 2.0], np.float16),
        "f64": np.array([1.0, -2.0]),
        "i8": np.array([-1, 2], np.int8),
        "i32": np.array([3, 4], np.int32),
        "i64": np.array([5, 6], np.int64),
        "u8": np.array([7, 8], np.uint8),
        "u64": np.array([2**64 - 1, 0], np.uint64),
        "b": np.array([True, False]),
        "s": np.array([b"ab", b"c"], dtype=object),
    }
    outputs = ["f16_x2", "f64_neg", "i8_id", "i32_id", "i64_plus1", "u8_id", "u64_id", "b_not", "s_upper", "s_id"]
    got = _infer(server, transport, "onnx_dtypes", arrays, outputs)
    np.testing.assert_array_equal(got["f16_x2"], [3.0, 4.0])
    assert got["f16_x2"].dtype == np.float16
    np.testing.assert_array_equal(got["i64_plus1"], [6, 7])
    np.testing.assert_array_equal(got["u64_id"], arrays["u64"])
    np.testing.assert_array_equal(got["b_not"], [False, True])
    assert got["s_upper"].tolist() == [b"AB", b"C"] and got["s_id"].tolist() == [b"ab", b"c"]


SLOW_LOAD = """
import time
import numpy as np
from pyserving.backends.python import PythonModel, Tensor


class Model(PythonModel):
    inputs = {"x": Tensor("float32", [-1])}
    outputs = {"y": Tensor("float32", [-1])}

    def load(self, version_dir):
        time.sleep(4)

    def predict(self, inputs):
        return {"y": inputs["x"] + 1}
"""


def test_readiness_while_a_model_loads(tmp_path: Path) -> None:
    write_python_model(tmp_path / "slow" / "1", SLOW_LOAD)
    config = write_model_config(
        tmp_path / "models.config", [{"name": "slow", "base_path": str(tmp_path / "slow"), "platform": "python"}]
    )
    running = start_server([f"--model_config_file={config}", "--open_ports_before_load"], tmp_path)
    try:
        url = running.rest_url
        assert requests.get(f"{url}/v2/health/live", timeout=TIMEOUT).status_code == 200
        ready = requests.get(f"{url}/v2/health/ready", timeout=TIMEOUT)
        assert ready.status_code == 503 and ready.json()["error"]
        assert requests.get(f"{url}/v2/models/slow/ready", timeout=TIMEOUT).status_code == 503
        body = json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]})
        assert requests.post(f"{url}/v2/models/slow/infer", data=body, timeout=TIMEOUT).status_code == 503
        grpc_client = grpcclient.InferenceServerClient(running.grpc_address)
        assert grpc_client.is_server_ready() is False and grpc_client.is_model_ready("slow") is False
        running.wait_for(
            lambda: requests.get(f"{url}/v2/health/ready", timeout=TIMEOUT).status_code == 200, 60, "ready"
        )
        assert grpc_client.is_server_ready() and grpc_client.is_model_ready("slow")
        grpc_client.close()
        assert requests.post(f"{url}/v2/models/slow/infer", data=body, timeout=TIMEOUT).json()["outputs"][0][
            "data"
        ] == [2.0]
    finally:
        running.stop()


def test_oip_signature_name_flag_picks_the_served_signature(tmp_path: Path) -> None:
    models.export_dtypes_model(tmp_path / "d" / "1")
    running = start_server(
        ["--model_name=d", f"--model_base_path={tmp_path / 'd'}", "--oip_signature_name=scalar"],
        tmp_path,
        wait_models=["d"],
    )
    try:
        metadata = requests.get(f"{running.rest_url}/v2/models/d", timeout=TIMEOUT).json()
        assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": []}]
        body = json.dumps({"inputs": [{"name": "x", "shape": [], "datatype": "FP32", "data": [2.0]}]})
        answer = requests.post(f"{running.rest_url}/v2/models/d/infer", data=body, timeout=TIMEOUT).json()
        assert answer["outputs"][0]["data"] == [4.0]
    finally:
        running.stop()
