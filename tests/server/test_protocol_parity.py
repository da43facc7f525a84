"""REST and gRPC answer the same request alike, against one server.

One table: each row is the same request in both protocols. Successes must give
identical output values; failures must give equivalent codes (the gRPC code
mapped through the REST edge's own table: INVALID_ARGUMENT and
FAILED_PRECONDITION are 400, NOT_FOUND is 404) and, where TF Serving uses one
text for both, the same message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    input_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from pyserving.core.errors import StatusCode
from pyserving.protocols.rest.errors import http_status
from tests.conftest import write_model_config
from tests.helpers import models
from tests.helpers.server import RunningServer, start_server


@dataclass
class Both:
    server: RunningServer
    stub: prediction_service_pb2_grpc.PredictionServiceStub


@pytest.fixture(scope="module")
def both(model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Both]:
    tmp = tmp_path_factory.mktemp("parity")
    models.export_half_plus_two(tmp / "labelled" / "1")
    models.export_half_plus_two(tmp / "labelled" / "2", b=3.0)
    config = write_model_config(
        tmp / "models.config",
        [
            {"name": "default", "base_path": model_root / "half_plus_two"},
            {"name": "strings", "base_path": model_root / "string_model"},
            {
                "name": "labelled",
                "base_path": tmp / "labelled",
                "policy": "all {}",
                "labels": {"stable": 1, "canary": 2},
            },
        ],
    )
    server = start_server(
        [f"--model_config_file={config}", "--allow_version_labels_for_unavailable_models"],
        tmp,
        wait_models=["default", "strings", "labelled"],
    )
    server.wait_available("labelled", 1)
    server.wait_available("labelled", 2)
    channel = grpc.insecure_channel(server.grpc_address)
    yield Both(server, prediction_service_pb2_grpc.PredictionServiceStub(channel))
    channel.close()
    server.stop()


# -- building the two forms of one request ----------------------------------------------------


def predict(
    name: str, inputs: dict[str, Any], signature: str = "", version: int | None = None, label: str | None = None
) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(
            value if isinstance(value, type(request.inputs[alias])) else tf.make_tensor_proto(value)
        )
    return request


def examples(*xs: float) -> input_pb2.Input:
    return input_pb2.Input(
        example_list=input_pb2.ExampleList(
            examples=[
                example_pb2.Example(
                    features=feature_pb2.Features(
                        feature={"x": feature_pb2.Feature(float_list=feature_pb2.FloatList(value=[x]))}
                    )
                )
                for x in xs
            ]
        )
    )


def classify(name: str, signature: str, *xs: float) -> classification_pb2.ClassificationRequest:
    request = classification_pb2.ClassificationRequest(input=examples(*xs))
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    return request


def regress(name: str, signature: str, *xs: float) -> regression_pb2.RegressionRequest:
    request = regression_pb2.RegressionRequest(input=examples(*xs))
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    return request


@dataclass
class Case:
    id: str
    path: str  # REST path under /v1/models/
    body: dict[str, Any]
    method: str  # gRPC method
    request: Any
    error: bool = False
    same_message: bool = False
    outputs: list[str] = field(default_factory=list)  # aliases compared on success


F32 = np.float32
CASES = [
    Case(
        "predict-row",
        "default:predict",
        {"instances": [[1.0], [2.0], [5.0]]},
        "Predict",
        predict("default", {"x": np.array([[1.0], [2.0], [5.0]], F32)}),
        outputs=["y"],
    ),
    Case(
        "predict-columnar",
        "default:predict",
        {"inputs": {"x": [[1.0], [2.0]]}},
        "Predict",
        predict("default", {"x": np.array([[1.0], [2.0]], F32)}),
        outputs=["y"],
    ),
    Case(
        "predict-strings-multi-output",
        "strings:predict",
        {"instances": [{"words": ["很", "喜欢"], "nwords": 2}, {"words": ["很", "垃圾"], "nwords": 2}]},
        "Predict",
        predict("strings", {"words": np.array([["很", "喜欢"], ["很", "垃圾"]]), "nwords": np.array([2, 2], np.int32)}),
        outputs=["classes_id", "labels", "softmax"],
    ),
    Case(
        "predict-label",
        "labelled/labels/canary:predict",
        {"instances": [[2.0]]},
        "Predict",
        predict("labelled", {"x": np.array([[2.0]], F32)}, label="canary"),
        outputs=["y"],
    ),
    Case(
        "predict-version",
        "labelled/versions/1:predict",
        {"instances": [[2.0]]},
        "Predict",
        predict("labelled", {"x": np.array([[2.0]], F32)}, version=1),
        outputs=["y"],
    ),
    Case(
        "classify",
        "default:classify",
        {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}, {"x": 3.0}]},
        "Classify",
        classify("default", "classify_x_to_y", 2.0, 3.0),
    ),
    Case(
        "regress",
        "default:regress",
        {"signature_name": "regress_x_to_y2", "examples": [{"x": 80.0}]},
        "Regress",
        regress("default", "regress_x_to_y2", 80.0),
    ),
    Case(
        "unknown-model",
        "nope:predict",
        {"instances": [[1.0]]},
        "Predict",
        predict("nope", {"x": np.array([[1.0]], F32)}),
        error=True,
        same_message=True,
    ),
    Case(
        "unknown-version",
        "default/versions/99:predict",
        {"instances": [[1.0]]},
        "Predict",
        predict("default", {"x": np.array([[1.0]], F32)}, version=99),
        error=True,
        same_message=True,
    ),
    Case(
        "unknown-label",
        "labelled/labels/nope:predict",
        {"instances": [[1.0]]},
        "Predict",
        predict("labelled", {"x": np.array([[1.0]], F32)}, label="nope"),
        error=True,
        same_message=True,
    ),
    Case(
        "bad-signature",
        "default:predict",
        {"signature_name": "nope", "instances": [[1.0]]},
        "Predict",
        predict("default", {"x": np.array([[1.0]], F32)}, signature="nope"),
        error=True,
    ),
    Case(
        "bad-classify-signature",
        "default:classify",
        {"signature_name": "nope", "examples": [{"x": 1.0}]},
        "Classify",
        classify("default", "nope", 1.0),
        error=True,
        same_message=True,
    ),
    Case(
        "wrong-dtype",
        "default:predict",
        {"instances": [["a"]]},
        "Predict",
        predict("default", {"x": np.array([["a"]])}),
        error=True,
    ),
    Case(
        "missing-input",
        "default:predict",
        {"inputs": {"z": [[1.0]]}},
        "Predict",
        predict("default", {"z": np.array([[1.0]], F32)}),
        error=True,
    ),
    Case(
        "regress-wrong-signature-kind",
        "default:regress",
        {"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}]},
        "Regress",
        regress("default", "classify_x_to_y", 1.0),
        error=True,
        same_message=True,
    ),
]


# -- comparing --------------------------------------------------------------------------------


def rest_outputs(body: dict[str, Any], aliases: list[str]) -> dict[str, Any]:
    """Row or columnar REST outputs as alias -> values."""
    if "predictions" in body:
        rows = body["predictions"]
        if len(aliases) == 1:
            return {aliases[0]: rows}
        return {alias: [row[alias] for row in rows] for alias in aliases}
    outputs = body["outputs"]
    return {aliases[0]: outputs} if len(aliases) == 1 else outputs


def grpc_results(method: str, response: Any, aliases: list[str]) -> Any:
    if method == "Predict":
        return {alias: tf.make_ndarray(response.outputs[alias]) for alias in aliases}
    if method == "Classify":
        return [[[c.label, c.score] for c in row.classes] for row in response.result.classifications]
    return [r.value for r in response.result.regressions]


def assert_same_outputs(rest: dict[str, Any], grpc_out: dict[str, np.ndarray]) -> None:
    assert set(rest) == set(grpc_out)
    for alias, array in grpc_out.items():
        if array.dtype == object:
            assert np.shape(rest[alias]) == array.shape, alias
            assert [v.decode() for v in array.ravel()] == np.asarray(rest[alias], object).ravel().tolist(), alias
        else:
            np.testing.assert_array_equal(np.asarray(rest[alias], dtype=array.dtype), array, err_msg=alias)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rest_and_grpc_agree(both: Both, case: Case) -> None:
    rest = requests.post(f"{both.server.rest_url}/v1/models/{case.path}", json=case.body, timeout=30)
    call = getattr(both.stub, case.method)
    if case.error:
        with pytest.raises(grpc.RpcError) as info:
            call(case.request, timeout=30)
        code = info.value.code()
        assert rest.status_code == http_status(StatusCode[code.name]), (rest.text, code)
        assert rest.status_code in (400, 404)
        if case.same_message:
            assert rest.json()["error"] == info.value.details()
        return
    assert rest.status_code == 200, rest.text
    response = call(case.request, timeout=30)
    if case.method == "Predict":
        assert_same_outputs(rest_outputs(rest.json(), case.outputs), grpc_results("Predict", response, case.outputs))
    elif case.method == "Classify":
        expected = grpc_results(case.method, response, case.outputs)
        got = rest.json()["results"]
        assert [[label for label, _ in row] for row in got] == [[label for label, _ in row] for row in expected]
        assert [[score for _, score in row] for row in got] == [
            pytest.approx([score for _, score in row], rel=1e-6) for row in expected
        ]
    else:
        assert rest.json()["results"] == pytest.approx(grpc_results(case.method, response, case.outputs), rel=1e-6)


def test_every_case_kind_is_covered() -> None:
    kinds = {c.method for c in CASES}
    assert kinds == {"Predict", "Classify", "Regress"}
    assert sum(c.error for c in CASES) >= 6 and sum(not c.error for c in CASES) >= 6
