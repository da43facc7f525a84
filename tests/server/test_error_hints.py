"""Errors a person can act on: TF Serving's text (and status code) first, then the hint.

One server with the two bundled example models, over REST and gRPC.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tests.helpers.server import REPO, RunningServer, serve_models

MODELS = REPO / "examples" / "models"
HPT_SIGNATURES = (
    "Signatures of this model: classify_x_to_y, regress_x2_to_y3, regress_x_to_y, regress_x_to_y2, serving_default."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp: Path = tmp_path_factory.mktemp("hints")
    running = serve_models(
        [
            {"name": "half_plus_two", "base_path": MODELS / "half_plus_two"},
            {"name": "lstm", "base_path": MODELS / "lstm"},
        ],
        tmp,
    )
    yield running
    running.stop()


def rest_error(server: RunningServer, path: str, body: dict) -> str:
    response = requests.post(f"{server.rest_url}/v1/models/{path}", json=body, timeout=30)
    assert response.status_code == 400, response.text
    return str(response.json()["error"])


def grpc_failure(server: RunningServer, method: str, request: object) -> tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as failure:
            getattr(stub, method)(request, timeout=30)
    return failure.value.code(), str(failure.value.details())


def test_wrong_signature_lists_the_signatures(server: RunningServer) -> None:
    message = rest_error(server, "half_plus_two:predict", {"signature_name": "nope", "instances": [1.0]})
    assert message == f'Serving signature name: "nope" not found in signature def. {HPT_SIGNATURES}'
    message = rest_error(server, "half_plus_two:classify", {"signature_name": "nope", "examples": [{"x": 1.0}]})
    assert message == f"No signature was found with the name: nope. {HPT_SIGNATURES}"
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "half_plus_two", "nope"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0]))
    code, message = grpc_failure(server, "Predict", request)
    assert code == grpc.StatusCode.FAILED_PRECONDITION  # TF Serving's code, unchanged
    assert message == f'Serving signature key "nope" not found. {HPT_SIGNATURES}'


def test_grpc_dtype_error_names_the_input(server: RunningServer) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "lstm"
    request.inputs["words"].CopyFrom(tf.make_tensor_proto([["很", "好"]]))
    request.inputs["nwords"].CopyFrom(tf.make_tensor_proto([2.0]))
    code, message = grpc_failure(server, "Predict", request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message == "Expects arg[0] to be int32 but float is provided (input 'nwords')"


def test_classify_on_a_predict_signature_says_so(server: RunningServer) -> None:
    message = rest_error(server, "lstm:classify", {"examples": [{"words": ["很"]}]})
    assert message.startswith(
        "Expected one input Tensor. Signature 'serving_default' "
        "(tensorflow/serving/predict) takes nwords, words; classification needs"
    )
    assert "call :predict" in message
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "lstm"
    request.input.example_list.examples.add()
    code, grpc_message = grpc_failure(server, "Classify", request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and grpc_message == message


def test_regress_on_a_predict_signature_prints_the_signature_def_as_text(server: RunningServer) -> None:
    saved_model = saved_model_pb2.SavedModel.FromString(
        (MODELS / "half_plus_two" / "1" / "saved_model.pb").read_bytes()
    )
    as_tf_serving_prints_it = str(saved_model.meta_graphs[0].signature_def["serving_default"])
    message = rest_error(server, "half_plus_two:regress", {"examples": [{"x": 1.0}]})
    assert message.startswith(f"No regression inputs found in SignatureDef: {as_tf_serving_prints_it}")
    assert "TensorSpec(" not in message and "Signature(" not in message
    assert message.endswith("call :predict for this signature, or name another one.")
