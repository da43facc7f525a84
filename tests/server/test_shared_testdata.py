"""TF Serving's own test models and the seed's lstm model, served as TF Serving serves them."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import write_model_config
from tests.helpers.server import RunningServer, start_server
from tests.helpers.shared import LSTM_MODEL, TFSERVING_TESTDATA, requires_shared

pytestmark = [requires_shared, pytest.mark.shared]

GOOD = {
    "default": "saved_model_half_plus_two_cpu",
    "half_plus_three": "saved_model_half_plus_three",
    "counter": "saved_model_counter",
    "tf2": "saved_model_half_plus_two_tf2_cpu",
    "mkl": "saved_model_half_plus_two_mkl",
    "mlmd": "saved_model_half_plus_two_mlmd",
    "gpu": "saved_model_half_plus_two_gpu",
    "gpu_trt": "saved_model_half_plus_two_gpu_trt",
    "with_config": "saved_model_half_plus_two_cpu_with_saved_model_config",
    "with_empty_config": "saved_model_half_plus_two_cpu_with_empty_saved_model_config",
    "matrix": "matrix_half_plus_two",
}
BROKEN = {
    "bad_half_plus_two": ("bad_half_plus_two", "SessionBundle"),
    "tf_text_regression": ("tf_text_regression", "SavedModel file does not exist"),
    "tflite": ("saved_model_half_plus_two_tflite", "model.tflite"),
    "tflite_with_sigdef": ("saved_model_half_plus_two_tflite_with_sigdef", "model.tflite"),
    "parse_example_tflite": ("parse_example_tflite", "model.tflite"),
}
TWO = "saved_model_half_plus_two_2_versions"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("shared")
    entries = [{"name": name, "base_path": TFSERVING_TESTDATA / folder} for name, folder in GOOD.items()]
    entries += [{"name": name, "base_path": TFSERVING_TESTDATA / folder} for name, (folder, _) in BROKEN.items()]
    entries.append(
        {
            "name": TWO,
            "base_path": TFSERVING_TESTDATA / TWO,
            "policy": "all {}",
            "labels": {"stable": 123, "canary": 124},
        }
    )
    entries.append({"name": "lstm", "base_path": LSTM_MODEL})
    config = write_model_config(tmp / "models.config", entries)
    running = start_server(
        [f"--model_config_file={config}", "--max_num_load_retries=0"], tmp, wait_models=[*GOOD, TWO, "lstm"], grpc=False
    )
    running.wait_available(TWO, 123)
    yield running
    running.stop()


def post(server: RunningServer, path: str, body: object = None, data: bytes | None = None) -> requests.Response:
    return requests.post(server.rest_url + path, json=body if data is None else None, data=data, timeout=30)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_every_good_testdata_model_is_available(server: RunningServer, name: str) -> None:
    [status] = server.status(name)["model_version_status"]
    assert status["state"] == "AVAILABLE"
    assert status["status"] == {"error_code": "OK", "error_message": ""}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("default", 3.0),
        ("half_plus_three", 4.0),
        ("tf2", 3.0),
        ("mkl", 3.0),
        ("mlmd", 3.0),
        ("gpu", 3.0),
        ("gpu_trt", 3.0),
        ("with_config", 3.0),
        ("with_empty_config", 3.0),
        ("matrix", 3.0),
    ],
)
def test_half_plus_family_predicts(server: RunningServer, name: str, expected: float) -> None:
    r = post(server, f"/v1/models/{name}:predict", {"instances": [2.0]})
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [expected]}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_models_end_with_a_clear_error(server: RunningServer, name: str) -> None:
    server.wait_for(lambda: "END" in server.version_states(name).values(), 30, f"{name} END")
    [status] = server.status(name)["model_version_status"]
    assert status["state"] == "END"
    assert status["status"]["error_code"] != "OK"
    assert BROKEN[name][1] in status["status"]["error_message"]
    r = post(server, f"/v1/models/{name}:predict", {"instances": [1.0]})
    assert r.status_code == 404


# TF Serving's REST conformance cases (shared/docs/tfserving-api.md section 4).
@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/v1/models/default:predict", {"instances": [2.0, 3.0, 4.0]}, {"predictions": [3.0, 3.5, 4.0]}),
        ("/v1/models/default:predict", {"inputs": [2.0, 3.0, 4.0]}, {"outputs": [3.0, 3.5, 4.0]}),
        (
            "/v1/models/default:classify",
            {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]},
            {"results": [[["", 3.0]]]},
        ),
        (
            "/v1/models/default:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]},
            {"results": [3.0]},
        ),
        (
            f"/v1/models/{TWO}:predict",
            {"instances": [[1.0, 2.0], [3.0, 4.0]]},
            {"predictions": [[2.5, 3.0], [3.5, 4.0]]},
        ),
        (f"/v1/models/{TWO}/versions/123:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
        (f"/v1/models/{TWO}/labels/stable:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
        (
            f"/v1/models/{TWO}/versions/123:predict",
            {"signature_name": "serving_default", "instances": [3.0, 4.0]},
            {"predictions": [3.5, 4.0]},
        ),
        (
            f"/v1/models/{TWO}/versions/123:predict",
            {"signature_name": "serving_default", "inputs": [3.0, 4.0]},
            {"outputs": [3.5, 4.0]},
        ),
        (
            f"/v1/models/{TWO}:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
            {"results": [42.0]},
        ),
        (
            f"/v1/models/{TWO}/versions/123:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
            {"results": [42.0]},
        ),
        (
            f"/v1/models/{TWO}/labels/stable:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
            {"results": [42.0]},
        ),
        (
            f"/v1/models/{TWO}:classify",
            {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]},
            {"results": [[["", 12.0]]]},
        ),
        (
            f"/v1/models/{TWO}/labels/stable:classify",
            {"signature_name": "classify_x_to_y", "examples": [{"x": 10.0}]},
            {"results": [[["", 7.0]]]},
        ),
        (f"/v1/models/{TWO}/labels/canary:predict", {"instances": [1.0]}, {"predictions": [2.5]}),
    ],
)
def test_rest_conformance_success(server: RunningServer, path: str, body: object, expected: object) -> None:
    r = post(server, path, body)
    assert r.status_code == 200, r.text
    assert r.json() == expected


@pytest.mark.parametrize(
    ("path", "data", "status", "message"),
    [
        (
            f"/v1/models/{TWO}99:predict",
            b'{ "instances": [1] }',
            404,
            f"Servable not found for request: Latest({TWO}99)",
        ),
        (
            f"/v1/models/{TWO}/versions/999:predict",
            b'{ "instances": [1] }',
            404,
            f"Servable not found for request: Specific({TWO}, 999)",
        ),
        (f"/v1/models/{TWO}:predict", b"", 400, "JSON Parse error: The document is empty"),
        (f"/v1/models/{TWO}:predict", b"instances = [1, 2]", 400, "JSON Parse error: Invalid value"),
        (
            f"/v1/models/{TWO}:predict",
            b'{ "instances": ["x", "y"] }',
            400,
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: JSON Value: \"x\" "
            "Type: String is not of expected type: float",
        ),
        (
            f"/v1/models/{TWO}/labels/Version_Nonexistent:predict",
            b'{ "instances": [1] }',
            400,
            "Unrecognized servable version label: Version_Nonexistent",
        ),
        (
            "/v1/models/mkl:regress",
            b'{"signature_name": "regress_x_to_y2", "examples": [{"x": 1.0}]}',
            400,
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got [1,10,10,1]",
        ),
        (
            "/v1/models/counter:predict",
            b'{"signature_name": "get_counter", "instances": [1]}',
            400,
            "Failed to get input map for signature: get_counter",
        ),
        (
            "/v1/models/default:regress",
            b'{"signature_name": "regress_x_to_y", "examples": [{"x": 2}]}',
            400,
            "Data types don't match",
        ),
    ],
)
def test_rest_conformance_errors(server: RunningServer, path: str, data: bytes, status: int, message: str) -> None:
    r = post(server, path, data=data)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_status_of_two_versions_newest_first_and_label_ignored(server: RunningServer) -> None:
    body = server.status(TWO)
    assert [(v["version"], v["state"]) for v in body["model_version_status"]] == [
        ("124", "AVAILABLE"),
        ("123", "AVAILABLE"),
    ]
    labelled = requests.get(f"{server.rest_url}/v1/models/{TWO}/labels/stable", timeout=10).json()
    assert labelled == body


def test_metadata_matches_tf_serving(server: RunningServer) -> None:
    body = requests.get(f"{server.rest_url}/v1/models/default/metadata", timeout=10).json()
    assert body["model_spec"] == {"name": "default", "signature_name": "", "version": "123"}
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert sorted(sigs) == [
        "classify_x_to_y",
        "regress_x2_to_y3",
        "regress_x_to_y",
        "regress_x_to_y2",
        "serving_default",
    ]
    assert sigs["serving_default"] == {
        "inputs": {
            "x": {
                "dtype": "DT_FLOAT",
                "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}], "unknown_rank": False},
                "name": "x:0",
            }
        },
        "outputs": {
            "y": {
                "dtype": "DT_FLOAT",
                "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}], "unknown_rank": False},
                "name": "y:0",
            }
        },
        "method_name": "tensorflow/serving/predict",
        "defaults": {},
    }
    v123 = requests.get(f"{server.rest_url}/v1/models/{TWO}/versions/123/metadata", timeout=10).json()
    assert v123["model_spec"]["version"] == "123"
    assert "classify_x2_to_y3" in v123["metadata"]["signature_def"]["signature_def"]
    three = requests.get(f"{server.rest_url}/v1/models/half_plus_three/metadata", timeout=10).json()
    assert "tensor_shape" not in three["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]["x"]
    counter = requests.get(f"{server.rest_url}/v1/models/counter/metadata", timeout=10).json()
    get_counter = counter["metadata"]["signature_def"]["signature_def"]["get_counter"]
    assert get_counter["outputs"]["output"]["dtype"] == "DT_FLOAT_REF"
    tf2 = requests.get(f"{server.rest_url}/v1/models/tf2/metadata", timeout=10).json()
    tf2_sigs = tf2["metadata"]["signature_def"]["signature_def"]
    assert "__saved_model_init_op" in tf2_sigs and "x" in tf2_sigs["serving_default"]["defaults"]


def test_seed_rest_flow_on_lstm(server: RunningServer) -> None:
    """The tutorial's request: 很 喜欢 -> POS, 很 垃圾 -> NEG."""
    body = {"instances": [{"words": ["很", "喜欢"], "nwords": 2}, {"words": ["很", "垃圾"], "nwords": 2}]}
    r = requests.post(f"{server.rest_url}/v1/models/lstm:predict", data=json.dumps(body), timeout=30)
    r.raise_for_status()
    predictions = r.json()["predictions"]
    assert [p["labels"] for p in predictions] == ["POS", "NEG"]
    assert [p["classes_id"] for p in predictions] == [1, 0]
    for p in predictions:
        assert len(p["softmax"]) == 3 and math.isclose(sum(p["softmax"]), 1.0, rel_tol=1e-5)
    assert math.isclose(predictions[0]["softmax"][1], 0.86776, rel_tol=1e-3)


def test_seed_status_and_metadata_on_lstm(server: RunningServer) -> None:
    status = server.status("lstm")["model_version_status"]
    assert status == [
        {"version": "1609392632", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]
    meta = requests.get(f"{server.rest_url}/v1/models/lstm/metadata", timeout=10).json()
    assert meta["model_spec"] == {"name": "lstm", "signature_name": "", "version": "1609392632"}
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sorted(sig["inputs"]) == ["nwords", "words"]
    assert sorted(sig["outputs"]) == ["classes_id", "labels", "softmax"]
    assert sig["outputs"]["softmax"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}, {"size": "3", "name": ""}]
    assert sig["outputs"]["labels"]["name"] == "index_to_string_Lookup:0"


def test_counter_is_stateful(server: RunningServer) -> None:
    def call(signature: str, inputs: object) -> float:
        r = post(server, "/v1/models/counter:predict", {"signature_name": signature, "inputs": inputs})
        assert r.status_code == 200, r.text
        return r.json()["outputs"]

    base = call("incr_counter_by", {"delta": 0.0})
    assert call("incr_counter_by", {"delta": 3.0}) == base + 3.0
