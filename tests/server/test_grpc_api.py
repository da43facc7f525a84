"""TF Serving's gRPC API through the real server, with the stock tensorflow_serving stubs.

Three servers per module: ``own`` (the project's exported models, health check,
reflection, labels, a UNIX socket), ``aux`` (channel arguments, tensor_content
outputs, config reloads) and ``shared`` (TF Serving's testdata and the seed's
lstm model; skipped when ../shared is absent). The G cases of the behaviour
reference run against ``own`` and ``shared`` alike.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
from google.protobuf import text_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    input_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from tests.conftest import write_model_config
from tests.helpers import models
from tests.helpers.server import RunningServer, start_server
from tests.helpers.shared import LSTM_MODEL, TFSERVING_TESTDATA, requires_shared

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"
TIMEOUT = 30


# -- fixtures ---------------------------------------------------------------------------------


@dataclass
class Target:
    """One running server plus stubs on one channel."""

    server: RunningServer
    channel: grpc.Channel
    tmp: Path

    @property
    def predict(self) -> prediction_service_pb2_grpc.PredictionServiceStub:
        return prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    @property
    def models(self) -> model_service_pb2_grpc.ModelServiceStub:
        return model_service_pb2_grpc.ModelServiceStub(self.channel)

    def wait_status(self, name: str, predicate: Callable[[dict[int, int] | None], bool], timeout: float = 60.0) -> None:
        """Readiness loop on GetModelStatus (None when the model is unknown)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                response = self.models.GetModelStatus(status_request(name), timeout=TIMEOUT)
                last = {s.version: s.state for s in response.model_version_status}
            except grpc.RpcError as exc:
                if exc.code() != NOT_FOUND:
                    raise
                last = None
            if predicate(last):
                return
            time.sleep(0.05)
        raise AssertionError(f"{name}: status {last} never matched\n{self.server.log()[-3000:]}")


def start(args: list[str], tmp: Path, wait: list[str], address: str | None = None) -> Target:
    server = start_server(args, tmp, wait_models=wait)
    channel = grpc.insecure_channel(address or server.grpc_address)
    return Target(server, channel, tmp)


def stop(target: Target) -> None:
    target.channel.close()
    target.server.stop()


@pytest.fixture(scope="module")
def own(model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("grpc-own")
    models.copy_version(model_root / "half_plus_two" / "1", tmp / "default" / "123")
    models.copy_version(model_root / "counter" / "1", tmp / "counter_g" / "1")
    models.export_half_plus_two(tmp / "labelled" / "1")
    models.export_half_plus_two(tmp / "labelled" / "2", b=3.0)
    models.export_dtypes_model(tmp / "dtypes" / "1", extra_dtypes=True)
    config = write_model_config(
        tmp / "models.config",
        [
            {"name": "default", "base_path": tmp / "default"},
            {"name": "two", "base_path": model_root / "two_versions", "policy": "all {}"},
            {"name": "counter_g", "base_path": tmp / "counter_g"},
            {"name": "counter", "base_path": model_root / "counter"},
            {"name": "strings", "base_path": model_root / "string_model"},
            {"name": "tf2", "base_path": model_root / "tf2_half_plus_two"},
            {"name": "dtypes", "base_path": tmp / "dtypes"},
            {
                "name": "labelled",
                "base_path": tmp / "labelled",
                "policy": "all {}",
                "labels": {"stable": 1, "canary": 2},
            },
        ],
    )
    socket_path = tmp / "grpc.sock"
    target = start(
        [
            f"--model_config_file={config}",
            "--allow_version_labels_for_unavailable_models",
            "--enable_grpc_healthcheck_service",
            "--enable_grpc_reflection",
            f"--grpc_socket_path={socket_path}",
        ],
        tmp,
        ["default", "two", "counter_g", "counter", "strings", "tf2", "dtypes", "labelled"],
    )
    target.server.wait_available("two", 123)
    target.server.wait_available("labelled", 1)
    target.server.wait_available("labelled", 2)
    yield target
    stop(target)


@pytest.fixture(scope="module")
def aux(model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("grpc-aux")
    models.copy_version(model_root / "half_plus_two" / "1", tmp / "default" / "1")
    config = write_model_config(tmp / "models.config", aux_models(model_root, tmp))
    target = start(
        [
            f"--model_config_file={config}",
            "--enable_serialization_as_tensor_content",
            "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb",
        ],
        tmp,
        ["default", "strings"],
    )
    yield target
    stop(target)


def aux_models(model_root: Path, tmp: Path) -> list[dict[str, Any]]:
    return [
        {"name": "default", "base_path": tmp / "default"},
        {"name": "strings", "base_path": model_root / "string_model"},
    ]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    if not TFSERVING_TESTDATA.is_dir():
        pytest.skip("../shared is absent")
    tmp = tmp_path_factory.mktemp("grpc-shared")
    two = "saved_model_half_plus_two_2_versions"
    entries = [
        {"name": "default", "base_path": TFSERVING_TESTDATA / "saved_model_half_plus_two_cpu"},
        {"name": "two", "base_path": TFSERVING_TESTDATA / two, "policy": "all {}"},
        {"name": "counter_g", "base_path": TFSERVING_TESTDATA / "saved_model_counter"},
    ]
    if LSTM_MODEL.is_dir():
        entries.append({"name": "lstm", "base_path": LSTM_MODEL})
    config = write_model_config(tmp / "models.config", entries)
    target = start([f"--model_config_file={config}"], tmp, [str(e["name"]) for e in entries])
    target.server.wait_available("two", 123)
    yield target
    stop(target)


@pytest.fixture(params=["own", pytest.param("shared", marks=[requires_shared, pytest.mark.shared])])
def target(request: pytest.FixtureRequest) -> Target:
    """The G cases run on the project's models and on TF Serving's testdata."""
    return request.getfixturevalue(request.param)


# -- request helpers --------------------------------------------------------------------------


def shape_proto(shape: list[int] | None) -> tensor_shape_pb2.TensorShapeProto | None:
    if shape is None:
        return None
    return tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in shape])


def floats(*values: float, shape: list[int] | None = None) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=shape_proto(shape), float_val=values)


X2 = floats(2.0, shape=[1])


def predict_request(
    name: str | None = "default",
    signature: str | None = None,
    inputs: dict[str, tensor_pb2.TensorProto] | None = None,
    output_filter: list[str] | None = None,
    version: int | None = None,
    label: str | None = None,
) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    if name is not None:
        request.model_spec.name = name
    if signature is not None:
        request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for alias, tensor in (inputs or {}).items():
        request.inputs[alias].CopyFrom(tensor)
    request.output_filter.extend(output_filter or [])
    return request


def status_request(name: str, version: int | None = None) -> get_model_status_pb2.GetModelStatusRequest:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    return request


def failure(call: Callable[..., Any], request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=TIMEOUT)
    return info.value.code(), info.value.details()


def example(**features: float) -> example_pb2.Example:
    return example_pb2.Example(
        features=feature_pb2.Features(
            feature={
                key: feature_pb2.Feature(float_list=feature_pb2.FloatList(value=[value]))
                for key, value in features.items()
            }
        )
    )


def examples_input(*items: example_pb2.Example, context: example_pb2.Example | None = None) -> input_pb2.Input:
    if context is None:
        return input_pb2.Input(example_list=input_pb2.ExampleList(examples=items))
    return input_pb2.Input(example_list_with_context=input_pb2.ExampleListWithContext(examples=items, context=context))


def values_of(tensor: tensor_pb2.TensorProto) -> list[Any]:
    return tf.make_ndarray(tensor).tolist()


# -- G1-G15 (half_plus_two) -------------------------------------------------------------------


def test_g1_predict_with_signature_and_output_filter(target: Target) -> None:
    response = target.predict.Predict(
        predict_request(signature="serving_default", inputs={"x": X2}, output_filter=["y"]), timeout=TIMEOUT
    )
    y = response.outputs["y"]
    assert y.dtype == types_pb2.DT_FLOAT
    assert [d.size for d in y.tensor_shape.dim] == [1]
    assert list(y.float_val) == [3.0]
    assert response.model_spec.name == "default"
    assert response.model_spec.version.value == 123
    assert response.model_spec.signature_name == "serving_default"


def test_g2_defaults_fill_the_same_response(target: Target) -> None:
    full = target.predict.Predict(
        predict_request(signature="serving_default", inputs={"x": X2}, output_filter=["y"]), timeout=TIMEOUT
    )
    bare = target.predict.Predict(predict_request(inputs={"x": X2}), timeout=TIMEOUT)
    assert bare == full


def test_g3_scalar_in_scalar_out(target: Target) -> None:
    response = target.predict.Predict(predict_request(inputs={"x": floats(2.0)}), timeout=TIMEOUT)
    y = response.outputs["y"]
    assert y.HasField("tensor_shape") and not y.tensor_shape.dim
    assert list(y.float_val) == [3.0]


@pytest.mark.parametrize(
    "request_,code,message",
    [
        (predict_request(name=None, inputs={"x": X2}), INVALID, "Missing ModelSpec"),
        (predict_request(name="", inputs={"x": X2}), INVALID, "ModelSpec has no name specified."),
        (predict_request(name="test", inputs={"x": X2}), NOT_FOUND, "Servable not found for request: Latest(test)"),
        (
            predict_request(version=123),
            INVALID,
            "input size does not match signature: 0!=1 len({}) != len({x}). Sent extra: {}. Missing but required: {x}.",
        ),
        (
            predict_request(inputs={"unknown_key1": tf.make_tensor_proto("x"), "unknown_key2": X2}),
            INVALID,
            "input size does not match signature: 2!=1 len({unknown_key1,unknown_key2}) != len({x}). "
            "Sent extra: {unknown_key1,unknown_key2}. Missing but required: {x}.",
        ),
        (
            predict_request(inputs={"x": tf.make_tensor_proto(True)}),
            INVALID,
            "Expects arg[0] to be float but bool is provided",
        ),
        (
            predict_request(inputs={"x": tf.make_tensor_proto(["a"])}),
            INVALID,
            "Expects arg[0] to be float but string is provided",
        ),
        (
            predict_request(inputs={"x": X2}, output_filter=["output_filter"]),
            INVALID,
            "output tensor alias not found in signature: output_filter Outputs expected to be in the set {y}.",
        ),
        (predict_request(inputs={"x": X2}, output_filter=["y", "y"]), INVALID, "duplicate output tensor alias: y"),
        (predict_request(signature="nope", inputs={"x": X2}), PRECONDITION, 'Serving signature key "nope" not found.'),
        (
            predict_request(version=999, inputs={"x": X2}),
            NOT_FOUND,
            "Servable not found for request: Specific(default, 999)",
        ),
    ],
    ids=["G4", "G5", "G6", "G7", "G8", "G9", "G10", "G11", "G12", "G15", "unknown-version"],
)
def test_g_predict_errors(target: Target, request_: Any, code: grpc.StatusCode, message: str) -> None:
    got_code, got_message = failure(target.predict.Predict, request_)
    assert got_code == code and got_message.startswith(message), got_message  # TF Serving's text, then a hint


def test_g13_regress_signature_through_predict(target: Target) -> None:
    response = target.predict.Predict(
        predict_request(signature="regress_x2_to_y3", inputs={"inputs": floats(2.0)}), timeout=TIMEOUT
    )
    outputs = response.outputs["outputs"]
    assert not outputs.tensor_shape.dim and list(outputs.float_val) == [4.0]
    assert response.model_spec.signature_name == "regress_x2_to_y3"


def test_g14_classify_signature_through_predict(target: Target) -> None:
    response = target.predict.Predict(
        predict_request(name="two", signature="classify_x2_to_y3", inputs={"inputs": floats(2.0)}), timeout=TIMEOUT
    )
    assert list(response.outputs["scores"].float_val) == [4.0]


# -- G22-G27 (counter) ------------------------------------------------------------------------


def test_g22_to_g27_counter_sequence(target: Target) -> None:
    def call(signature: str, **kwargs: Any) -> float:
        response = target.predict.Predict(
            predict_request(name="counter_g", signature=signature, **kwargs), timeout=TIMEOUT
        )
        output = response.outputs["output"]
        assert output.dtype == types_pb2.DT_FLOAT and not output.tensor_shape.dim
        assert response.model_spec.signature_name == signature
        return list(output.float_val)[0]

    assert call("get_counter") == 0.0
    assert call("incr_counter") == 1.0
    assert call("reset_counter") == 0.0
    assert call("incr_counter", output_filter=["output"]) == 1.0
    assert call("incr_counter_by", inputs={"delta": floats(3.0)}) == 4.0


# -- Predict details --------------------------------------------------------------------------


def test_fewer_values_than_shape_repeat_the_last(own: Target) -> None:
    response = own.predict.Predict(predict_request(inputs={"x": floats(2.0, 4.0, shape=[3, 1])}), timeout=TIMEOUT)
    assert values_of(response.outputs["y"]) == [[3.0], [4.0], [4.0]]


def test_tensor_content_inputs_and_typed_outputs(own: Target) -> None:
    x = tf.make_tensor_proto(np.array([[1.0], [2.0], [3.0]], np.float32))
    assert x.tensor_content
    response = own.predict.Predict(predict_request(inputs={"x": x}), timeout=TIMEOUT)
    y = response.outputs["y"]
    assert not y.tensor_content and list(y.float_val) == [2.5, 3.0, 3.5]
    assert [d.size for d in y.tensor_shape.dim] == [3, 1]


def test_unparsable_tensor_is_invalid_argument(own: Target) -> None:
    bad = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=shape_proto([2]), tensor_content=b"\0" * 7)
    code, message = failure(own.predict.Predict, predict_request(inputs={"x": bad}))
    assert code == INVALID
    # TF Serving's text first, then why.
    assert message == "tensor parsing error: x: tensor_content holds 7 bytes; shape [2] of DT_FLOAT needs 8"


def test_long_messages_are_truncated(own: Target) -> None:
    alias = "k" * 2000
    code, message = failure(own.predict.Predict, predict_request(inputs={alias: X2}))
    assert code == INVALID
    assert message.endswith("...TRUNCATED")
    assert len(message) == 1024 + len("...TRUNCATED")


def test_every_dtype_round_trips_through_the_server(own: Target) -> None:
    samples = {
        "f32": np.array([1.5, -0.0, np.inf], np.float32),
        "f64": np.array([1e300, -2.5]),
        "i8": np.array([-128, 127], np.int8),
        "u8": np.array([0, 255], np.uint8),
        "i16": np.array([-32768, 7], np.int16),
        "i32": np.array([-(2**31), 5], np.int32),
        "i64": np.array([2**62, -3], np.int64),
        "u32": np.array([2**32 - 1], np.uint32),
        "b": np.array([True, False]),
        "s": np.array(["很".encode(), b"a"], object),
        "raw_bytes": np.array([b"\xff\x00\xfe"], object),
        "f16": np.array([0.5, 65504], np.float16),
        "u16": np.array([65535], np.uint16),
        "u64": np.array([2**64 - 1], np.uint64),
    }
    inputs = {alias: tf.make_tensor_proto(value) for alias, value in samples.items()}
    response = own.predict.Predict(predict_request(name="dtypes", inputs=inputs), timeout=TIMEOUT)
    for alias, value in samples.items():
        out = response.outputs[models.dtypes_output_alias(alias)]
        assert out.dtype == tf.make_tensor_proto(value).dtype
        assert not out.tensor_content
        got = tf.make_ndarray(out)
        assert got.tolist() == value.tolist(), alias


@pytest.mark.parametrize("use_content", [False, True], ids=["typed", "tensor_content"])
def test_large_tensors_both_ways(own: Target, use_content: bool) -> None:
    # 300k elements: above the size at which the response is encoded off the event loop.
    x = np.arange(300_000, dtype=np.float32)
    proto = (
        tf.make_tensor_proto(x)
        if use_content
        else tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=shape_proto([x.size]), float_val=x.tolist())
    )
    response = own.predict.Predict(predict_request(name="tf2", inputs={"x": proto}), timeout=TIMEOUT)
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["y"]), x * 0.5 + 2)


def test_signature_without_inputs(own: Target) -> None:
    response = own.predict.Predict(predict_request(name="dtypes", signature="no_input"), timeout=TIMEOUT)
    assert list(response.outputs["value"].float_val) == [models.NO_INPUT_VALUE]


def test_tf2_model(own: Target) -> None:
    response = own.predict.Predict(
        predict_request(name="tf2", inputs={"x": floats(2.0, 4.0, shape=[2])}), timeout=TIMEOUT
    )
    assert list(response.outputs["y"].float_val) == [3.0, 4.0]


def test_unsupported_input_dtype_does_not_break_the_server(own: Target) -> None:
    # bfloat16 decodes fine but the float signature must refuse it, with a status, not a crash.
    x = tf.make_tensor_proto(np.array([2.0], dtype=tf.bfloat16.as_numpy_dtype))
    code, _ = failure(own.predict.Predict, predict_request(inputs={"x": x}))
    assert code in (INVALID, grpc.StatusCode.INTERNAL)
    assert own.predict.Predict(predict_request(inputs={"x": X2}), timeout=TIMEOUT).outputs["y"].float_val == [3.0]


def test_requests_without_deadline_work(own: Target) -> None:
    response = own.predict.Predict(predict_request(inputs={"x": X2}))
    assert list(response.outputs["y"].float_val) == [3.0]


def test_unix_socket_serves_the_same_api(own: Target) -> None:
    with grpc.insecure_channel(f"unix:{own.tmp / 'grpc.sock'}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(predict_request(inputs={"x": X2}), timeout=TIMEOUT)
    assert list(response.outputs["y"].float_val) == [3.0]


def test_channel_arguments_parse_like_tf_serving() -> None:
    from pyserving.core.errors import InvalidArgumentError
    from pyserving.protocols.grpc.server import GrpcOptions, parse_channel_arguments

    parsed = parse_channel_arguments(
        "grpc.max_connection_age_ms=2000,grpc.lb_policy_name=grpclb,,"
        "big=2147483648,neg=-5,grpc.max_receive_message_length=100"
    )
    assert parsed == (
        ("grpc.max_connection_age_ms", 2000),
        ("grpc.lb_policy_name", "grpclb"),
        ("big", "2147483648"),
        ("neg", -5),
        ("grpc.max_receive_message_length", 100),
    )
    assert parse_channel_arguments("") == ()
    with pytest.raises(InvalidArgumentError, match="expected key=value"):
        parse_channel_arguments("grpc.max_connection_age_ms")
    options = dict(GrpcOptions(channel_arguments=parsed).server_options())
    assert options["grpc.max_send_message_length"] == 2**31 - 1  # TF Serving's kint32max default
    assert options["grpc.max_receive_message_length"] == 100  # an explicit argument wins


# -- version labels ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec,version,y",
    [
        ({"label": "stable"}, 1, 3.0),
        ({"label": "canary"}, 2, 4.0),
        ({"version": 1}, 1, 3.0),
        ({}, 2, 4.0),
    ],
)
def test_labels_and_versions_resolve(own: Target, spec: dict[str, Any], version: int, y: float) -> None:
    response = own.predict.Predict(predict_request(name="labelled", inputs={"x": X2}, **spec), timeout=TIMEOUT)
    assert response.model_spec.version.value == version
    assert list(response.outputs["y"].float_val) == [y]


def test_unknown_label(own: Target) -> None:
    assert failure(own.predict.Predict, predict_request(name="labelled", label="nope", inputs={"x": X2})) == (
        INVALID,
        "Unrecognized servable version label: nope",
    )


# -- Classify / Regress / MultiInference -----------------------------------------------------


def classify_request(signature: str, input_: input_pb2.Input, name: str = "default") -> Any:
    request = classification_pb2.ClassificationRequest(input=input_)
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    return request


def regress_request(signature: str, input_: input_pb2.Input, name: str = "default") -> Any:
    request = regression_pb2.RegressionRequest(input=input_)
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    return request


def test_classify(own: Target) -> None:
    response = own.predict.Classify(
        classify_request("classify_x_to_y", examples_input(example(x=2.0), example(x=4.0))), timeout=TIMEOUT
    )
    rows = [[(c.label, c.score) for c in row.classes] for row in response.result.classifications]
    assert rows == [[("", 3.0)], [("", 4.0)]]
    assert (response.model_spec.name, response.model_spec.version.value, response.model_spec.signature_name) == (
        "default",
        123,
        "classify_x_to_y",
    )


def test_regress_with_context(own: Target) -> None:
    request = regress_request("regress_x_to_y", examples_input(example(), example(x=80.0), context=example(x=10.0)))
    response = own.predict.Regress(request, timeout=TIMEOUT)
    assert [r.value for r in response.result.regressions] == [7.0, 42.0]
    assert response.model_spec.signature_name == "regress_x_to_y"


@pytest.mark.parametrize(
    "method,request_,code,message",
    [
        ("Classify", classify_request("classify_x_to_y", input_pb2.Input()), INVALID, "Input is empty."),
        (
            "Classify",
            classify_request("nope", examples_input(example(x=1.0))),
            INVALID,
            "No signature was found with the name: nope",
        ),
        (
            "Classify",
            classify_request("", examples_input(example(x=1.0)), name="nope"),
            NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        ("Regress", regress_request("regress_x_to_y", examples_input()), INVALID, "Input is empty."),
        ("Regress", regression_pb2.RegressionRequest(), INVALID, "Missing ModelSpec"),
        (
            "Regress",
            regress_request("serving_default", examples_input(example(x=1.0))),
            INVALID,
            "No regression inputs found in SignatureDef",
        ),
    ],
    ids=[
        "classify-empty",
        "classify-no-signature",
        "classify-no-model",
        "regress-empty",
        "regress-no-spec",
        "regress-wrong-signature",
    ],
)
def test_classify_regress_errors(own: Target, method: str, request_: Any, code: grpc.StatusCode, message: str) -> None:
    got_code, got_message = failure(getattr(own.predict, method), request_)
    assert got_code == code and message in got_message


def multi_request(*tasks: tuple[str, str, str], input_: input_pb2.Input | None = None) -> Any:
    request = inference_pb2.MultiInferenceRequest(input=input_ or examples_input(example(x=2.0)))
    for name, signature, method in tasks:
        task = request.tasks.add(method_name=method)
        task.model_spec.name = name
        task.model_spec.signature_name = signature
    return request


def test_multi_inference(own: Target) -> None:
    request = multi_request(
        ("default", "classify_x_to_y", CLASSIFY),
        ("default", "regress_x_to_y", REGRESS),
        ("default", "regress_x_to_y2", REGRESS),
    )
    response = own.predict.MultiInference(request, timeout=TIMEOUT)
    first, second, third = response.results
    assert [c.score for c in first.classification_result.classifications[0].classes] == [3.0]
    assert [r.value for r in second.regression_result.regressions] == [3.0]
    assert [r.value for r in third.regression_result.regressions] == [4.0]
    assert [r.model_spec.signature_name for r in response.results] == [
        "classify_x_to_y",
        "regress_x_to_y",
        "regress_x_to_y2",
    ]
    assert {r.model_spec.version.value for r in response.results} == {123}


def test_multi_inference_on_a_tf2_export_feeds_each_signature_input(tmp_path: Path) -> None:
    """TF Serving's testMultiInferenceTf2: each TF2 signature has its own input tensor."""
    models.export_tf2_classify_regress(tmp_path / "tf2_multi" / "1")
    target = start(["--model_name=tf2_multi", f"--model_base_path={tmp_path / 'tf2_multi'}"], tmp_path, [])
    try:
        request = multi_request(
            ("tf2_multi", "classify_x_to_y", CLASSIFY),
            ("tf2_multi", "regress_x_to_y", REGRESS),
            input_=examples_input(example(x=1.0), example(x=2.0)),
        )
        response = target.predict.MultiInference(request, timeout=TIMEOUT)
    finally:
        stop(target)
    classify, regress = response.results
    assert [[c.score for c in row.classes] for row in classify.classification_result.classifications] == [[2.5], [3.0]]
    assert [r.value for r in regress.regression_result.regressions] == [2.5, 3.0]
    assert [r.model_spec.signature_name for r in response.results] == ["classify_x_to_y", "regress_x_to_y"]


@pytest.mark.parametrize(
    "request_,code,message",
    [
        (multi_request(), INVALID, "MultiInferenceRequest must specify at least one task."),
        (
            multi_request(("default", "regress_x_to_y", REGRESS), ("two", "regress_x_to_y2", REGRESS)),
            INVALID,
            "All ModelSpecs in a MultiInferenceRequest must access the same model name.",
        ),
        (
            multi_request(("default", "regress_x_to_y", REGRESS), ("", "regress_x_to_y2", REGRESS)),
            INVALID,
            "Found ModelSpec with an empty model name.",
        ),
        (
            multi_request(("default", "regress_x_to_y", REGRESS), ("default", "regress_x_to_y", REGRESS)),
            INVALID,
            "Duplicate evaluation of signature: regress_x_to_y",
        ),
        (multi_request(("default", "nope", REGRESS)), INVALID, "Requested signature not found in model graph: nope"),
        (
            multi_request(("default", "regress_x_to_y", "tensorflow/serving/predict")),
            UNIMPLEMENTED,
            "Unsupported signature method_name: tensorflow/serving/predict",
        ),
        (multi_request(("default", "regress_x_to_y", REGRESS), input_=input_pb2.Input()), INVALID, "Input is empty."),
    ],
    ids=["no-tasks", "two-models", "empty-name", "duplicate", "unknown-signature", "bad-method", "empty-input"],
)
def test_multi_inference_errors(own: Target, request_: Any, code: grpc.StatusCode, message: str) -> None:
    assert failure(own.predict.MultiInference, request_) == (code, message)


def test_multi_inference_feeds_the_examples_to_a_float_input_too(own: Target) -> None:
    """No "same input tensor" rule: a float-input signature gets the serialized examples, and TF says no."""
    request = multi_request(("default", "regress_x_to_y", REGRESS), ("default", "regress_x2_to_y3", REGRESS))
    code, message = failure(own.predict.MultiInference, request)
    assert code == INVALID and message.startswith("Type mismatch: actual string vs. expect float"), message


# -- GetModelStatus / GetModelMetadata --------------------------------------------------------


def test_get_model_status(own: Target) -> None:
    response = own.models.GetModelStatus(status_request("two"), timeout=TIMEOUT)
    assert [(s.version, s.state) for s in response.model_version_status] == [
        (124, get_model_status_pb2.ModelVersionStatus.AVAILABLE),
        (123, get_model_status_pb2.ModelVersionStatus.AVAILABLE),
    ]
    first = response.model_version_status[0]
    assert first.HasField("status") and first.status.error_code == 0 and first.status.error_message == ""
    one = own.models.GetModelStatus(status_request("two", 123), timeout=TIMEOUT)
    assert [s.version for s in one.model_version_status] == [123]


@pytest.mark.parametrize(
    "request_,code,message",
    [
        (get_model_status_pb2.GetModelStatusRequest(), INVALID, "Missing ModelSpec"),
        (status_request("nope"), NOT_FOUND, "Could not find any versions of model nope"),
        (status_request("two", 999), NOT_FOUND, "Could not find version 999 of model two"),
    ],
    ids=["no-spec", "unknown-model", "unknown-version"],
)
def test_get_model_status_errors(own: Target, request_: Any, code: grpc.StatusCode, message: str) -> None:
    assert failure(own.models.GetModelStatus, request_) == (code, message)


def metadata_request(name: str, fields: tuple[str, ...] = ("signature_def",), version: int | None = None) -> Any:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=fields)
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    return request


def test_get_model_metadata(own: Target) -> None:
    response = own.predict.GetModelMetadata(metadata_request("default"), timeout=TIMEOUT)
    assert (response.model_spec.name, response.model_spec.version.value, response.model_spec.signature_name) == (
        "default",
        123,
        "",
    )
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    assert set(signature_map.signature_def) == {
        "serving_default",
        "classify_x_to_y",
        "regress_x_to_y",
        "regress_x_to_y2",
        "regress_x2_to_y3",
    }
    x = signature_map.signature_def["serving_default"].inputs["x"]
    assert (x.name, x.dtype) == ("x:0", types_pb2.DT_FLOAT)


@pytest.mark.parametrize(
    "request_,code,message",
    [
        (
            get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"]),
            INVALID,
            "Missing ModelSpec",
        ),
        (metadata_request("default", ()), INVALID, "GetModelMetadataRequest must specify at least one metadata_field"),
        (metadata_request("default", ("signature_def", "other")), INVALID, "Metadata field other is not supported"),
        (metadata_request("nope"), NOT_FOUND, "Servable not found for request: Latest(nope)"),
        (metadata_request("default", version=7), NOT_FOUND, "Servable not found for request: Specific(default, 7)"),
    ],
    ids=["no-spec", "no-fields", "bad-field", "unknown-model", "unknown-version"],
)
def test_get_model_metadata_errors(own: Target, request_: Any, code: grpc.StatusCode, message: str) -> None:
    assert failure(own.predict.GetModelMetadata, request_) == (code, message)


# -- health, reflection -----------------------------------------------------------------------


@pytest.mark.parametrize("service", ["", "ModelService", "PredictionService"])
def test_health_check_serving(own: Target, service: str) -> None:
    stub = health_pb2_grpc.HealthStub(own.channel)
    response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_health_check_unknown_service_and_watch(own: Target) -> None:
    stub = health_pb2_grpc.HealthStub(own.channel)
    code, _ = failure(stub.Check, health_pb2.HealthCheckRequest(service="tensorflow.serving.PredictionService"))
    assert code == NOT_FOUND
    stream = stub.Watch(health_pb2.HealthCheckRequest(service="ModelService"), timeout=TIMEOUT)
    assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
    stream.cancel()


def test_health_service_is_off_by_default(aux: Target) -> None:
    stub = health_pb2_grpc.HealthStub(aux.channel)
    assert failure(stub.Check, health_pb2.HealthCheckRequest())[0] == UNIMPLEMENTED


def reflection_call(channel: grpc.Channel, **query: Any) -> reflection_pb2.ServerReflectionResponse:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(**query)]), timeout=TIMEOUT)
    return next(iter(responses))


def test_reflection_lists_services(own: Target) -> None:
    response = reflection_call(own.channel, list_services="")
    names = {s.name for s in response.list_services_response.service}
    assert {
        "tensorflow.serving.PredictionService",
        "tensorflow.serving.ModelService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names
    symbol = reflection_call(own.channel, file_containing_symbol="tensorflow.serving.PredictionService")
    assert symbol.file_descriptor_response.file_descriptor_proto


def test_reflection_is_off_by_default(aux: Target) -> None:
    with pytest.raises(grpc.RpcError) as info:
        reflection_call(aux.channel, list_services="")
    assert info.value.code() == UNIMPLEMENTED


# -- aux: channel arguments, tensor_content, reload -------------------------------------------


def test_channel_arguments_and_tensor_content_outputs(aux: Target) -> None:
    assert "Failed" not in aux.server.log()
    response = aux.predict.Predict(predict_request(inputs={"x": floats(2.0, 3.0, shape=[2, 1])}), timeout=TIMEOUT)
    y = response.outputs["y"]
    assert y.tensor_content and not y.float_val
    assert tf.make_ndarray(y).tolist() == [[3.0], [3.5]]
    strings = aux.predict.Predict(
        predict_request(
            name="strings",
            inputs={
                "words": tf.make_tensor_proto([["很", "喜欢"]]),
                "nwords": tf.make_tensor_proto([2], dtype=tf.int32),
            },
        ),
        timeout=TIMEOUT,
    )
    assert list(strings.outputs["labels"].string_val) == [b"POS"]  # strings stay in string_val
    assert tf.make_ndarray(strings.outputs["classes_id"]).tolist() == [1]


def reload_request(config_text: str | None) -> model_management_pb2.ReloadConfigRequest:
    request = model_management_pb2.ReloadConfigRequest()
    if config_text is not None:
        text_format.Parse(config_text, request.config)
    return request


def config_text(entries: list[dict[str, Any]]) -> str:
    return (
        "model_config_list {\n"
        + "\n".join(
            f'config {{ name: "{e["name"]}" base_path: "{e["base_path"]}" model_platform: "tensorflow" }}'
            for e in entries
        )
        + "\n}"
    )


def test_reload_config_adds_and_removes_a_model(aux: Target, model_root: Path) -> None:
    base = aux_models(model_root, aux.tmp)
    added = {"name": "added", "base_path": model_root / "half_plus_three"}
    response = aux.models.HandleReloadConfigRequest(reload_request(config_text([*base, added])), timeout=TIMEOUT)
    assert response.status.error_code == 0 and response.status.error_message == ""
    aux.wait_status(
        "added", lambda states: bool(states) and states.get(1) == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    )
    out = aux.predict.Predict(predict_request(name="added", inputs={"x": X2}), timeout=TIMEOUT)
    assert tf.make_ndarray(out.outputs["y"]).tolist() == [4.0]

    aux.models.HandleReloadConfigRequest(reload_request(config_text(base)), timeout=TIMEOUT)
    aux.wait_status(
        "added", lambda states: states is None or states.get(1) == get_model_status_pb2.ModelVersionStatus.END
    )
    assert failure(aux.predict.Predict, predict_request(name="added", inputs={"x": X2}))[0] == NOT_FOUND
    assert aux.predict.Predict(predict_request(inputs={"x": X2}), timeout=TIMEOUT).outputs["y"].tensor_content


def test_reload_without_a_config_is_invalid_and_changes_nothing(aux: Target) -> None:
    # TF Serving's HandleReloadConfigRequest: any config_case but kModelConfigList, unset included.
    code, details = failure(aux.models.HandleReloadConfigRequest, reload_request(None))
    assert code == INVALID
    assert details == (
        "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is currently supported"
    )
    assert aux.predict.Predict(predict_request(inputs={"x": X2}), timeout=TIMEOUT).outputs["y"].tensor_content


@pytest.mark.parametrize(
    "text,message",
    [
        (
            'custom_model_config { type_url: "x" }',
            "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is currently supported",
        ),
        (
            'model_config_list { config { name: "rel" base_path: "relative/path" model_platform: "tensorflow" } }',
            "Expected model rel to have an absolute path or URI",
        ),
    ],
    ids=["custom-config", "relative-path"],
)
def test_reload_errors(aux: Target, text: str, message: str) -> None:
    code, details = failure(aux.models.HandleReloadConfigRequest, reload_request(text))
    assert code == INVALID and message in details
    assert aux.predict.Predict(predict_request(inputs={"x": X2}), timeout=TIMEOUT).outputs["y"].tensor_content


def test_reload_config_type_is_model_server_config() -> None:
    # The stock message the seed tutorial imports for reloads.
    assert isinstance(reload_request(None).config, model_server_config_pb2.ModelServerConfig)


# -- the seed tutorial's gRPC client ----------------------------------------------------------


def seed_predict(address: str, model_name: str) -> predict_pb2.PredictResponse:
    """The tutorial's predict_test(), unchanged apart from tf.make_tensor_proto's import path."""
    serving_config = {
        "hostport": address,
        "max_message_length": 10 * 1024 * 1024,
        "timeout": 300,
        "signature_name": "serving_default",
        "model_name": model_name,
    }
    channel = grpc.insecure_channel(
        serving_config["hostport"],
        options=[
            ("grpc.max_send_message_length", serving_config["max_message_length"]),
            ("grpc.max_receive_message_length", serving_config["max_message_length"]),
        ],
    )
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = serving_config["model_name"]
    request.model_spec.signature_name = serving_config["signature_name"]
    request.inputs["words"].CopyFrom(tf.make_tensor_proto(["很", "喜欢"], shape=[1, 2]))
    request.inputs["nwords"].CopyFrom(tf.make_tensor_proto(2, shape=[1]))
    result = stub.Predict(request, serving_config["timeout"])
    channel.close()
    return result


def check_seed_result(result: predict_pb2.PredictResponse) -> None:
    assert result.outputs["classes_id"].int64_val[0] == 1
    assert result.outputs["labels"].string_val[0].decode() == "POS"
    softmax = list(result.outputs["softmax"].float_val)
    assert len(softmax) == 3 and abs(sum(softmax) - 1.0) < 1e-4 and softmax[1] == max(softmax)


def test_seed_client_on_own_string_model(own: Target) -> None:
    check_seed_result(seed_predict(own.server.grpc_address, "strings"))


@requires_shared
@pytest.mark.shared
@pytest.mark.skipif(not LSTM_MODEL.is_dir(), reason="examples/models/lstm is absent")
def test_seed_client_on_lstm(shared: Target) -> None:
    check_seed_result(seed_predict(shared.server.grpc_address, "lstm"))
