"""A hostile client against the real server: hand-written malformed messages, then generated ones.

What must hold for every call (gRPC and REST): no crash (the process lives), no hang (every
call answers inside its deadline), no INTERNAL/UNKNOWN (500) for bad input, except INTERNAL
for request bytes that do not decode (what gRPC servers answer), and every valid call
interleaved with the fuzzing answered right. ``PYSERVING_FUZZ_EXAMPLES`` raises the number
of generated requests (the CI default keeps this module to well under a minute); the run's
figures (calls, codes, RSS before and after) go to ``fuzz-summary.json`` in the test's tmp dir
and to the captured output.
"""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from pyserving.apis.tensor_proto import array_to_tensor, tensor_to_array
from pyserving.tensors.limits import STRING_MAX_RANK
from tests.conftest import write_model_config
from tests.helpers.models import DTYPES_MODEL_INPUTS
from tests.helpers.server import RunningServer, start_server
from tests.helpers.shared import LSTM_MODEL, requires_shared

EXAMPLES = int(os.environ.get("PYSERVING_FUZZ_EXAMPLES", "150"))
TIMEOUT = 20
INVALID = grpc.StatusCode.INVALID_ARGUMENT
INTERNAL = grpc.StatusCode.INTERNAL
# What a bad request may get. INTERNAL only with "Failed to parse" (undecodable bytes).
ALLOWED_FOR_BAD_INPUT = {
    grpc.StatusCode.OK,
    INVALID,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.OUT_OF_RANGE,
}
PREDICTION = "/tensorflow.serving.PredictionService/"
MODEL_SERVICE = "/tensorflow.serving.ModelService/"


# -- the server -------------------------------------------------------------------------------------


class Fuzzed:
    """One server, its channel, and the tally of what it answered."""

    def __init__(self, server: RunningServer, base: Path) -> None:
        self.server = server
        self.base = base
        self.channel = grpc.insecure_channel(server.grpc_address)
        self.predict = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self.codes: collections.Counter[str] = collections.Counter()
        self.calls = 0
        self.valid_calls = 0
        self.rss_before = rss_kib(server.process.pid)

    def call(self, method: Callable[..., Any], request: Any) -> tuple[grpc.StatusCode, str, Any]:
        """One call; fails the test on a hang or a dead server."""
        self.calls += 1
        try:
            response = method(request, timeout=TIMEOUT)
            code, details = grpc.StatusCode.OK, ""
        except grpc.RpcError as exc:
            response, code, details = None, exc.code(), exc.details() or ""
        self.codes[code.name] += 1
        assert self.server.process.poll() is None, f"server died on {request!r:.300}:\n{self.server.log()[-3000:]}"
        assert code not in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE), (
            f"no answer in {TIMEOUT} s ({code.name}) to {request!r:.300}"
        )
        return code, details, response

    def raw(self, method: str, payload: bytes) -> tuple[grpc.StatusCode, str, Any]:
        stub = self.channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        return self.call(stub, payload)

    def check_valid_calls(self) -> None:
        """Valid requests answered right, between hostile ones."""
        x = np.array([[1.0], [-3.5]], np.float32)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "half_plus_two"
        request.inputs["x"].CopyFrom(array_to_tensor(x))
        code, details, response = self.call(self.predict.Predict, request)
        assert code == grpc.StatusCode.OK, details
        np.testing.assert_allclose(tensor_to_array(response.outputs["y"]), x / 2 + 2)
        echo = predict_pb2.PredictRequest()
        echo.model_spec.name = "dtypes"
        values = {alias: _sample(dtype) for alias, dtype in DTYPES_MODEL_INPUTS}
        for alias, value in values.items():
            echo.inputs[alias].CopyFrom(array_to_tensor(value))
        code, details, response = self.call(self.predict.Predict, echo)
        assert code == grpc.StatusCode.OK, details
        for alias, value in values.items():
            out = "out_bytes" if alias == "raw_bytes" else f"{alias}_out"
            np.testing.assert_array_equal(tensor_to_array(response.outputs[out]), value)
        self.valid_calls += 2

    def check_bad(self, code: grpc.StatusCode, details: str, what: str) -> None:
        if code == INTERNAL:
            assert details.startswith("Failed to parse the request"), f"{what}: INTERNAL {details}"
            return
        assert code in ALLOWED_FOR_BAD_INPUT, f"{what}: {code.name} {details}"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _sample(dtype: str) -> np.ndarray:
    if dtype == "string":
        out = np.empty(2, dtype=object)
        out[:] = [b"a", b"\xff\x00b"]
        return out
    return np.array([1, 0], dtype=dtype)


@pytest.fixture(scope="module")
def fuzzed(model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    tmp = tmp_path_factory.mktemp("fuzz")
    entries = [
        {"name": name, "base_path": str(model_root / name)} for name in ("half_plus_two", "dtypes", "string_model")
    ]
    if LSTM_MODEL.is_dir():
        entries.append({"name": "lstm", "base_path": str(LSTM_MODEL)})
    config = write_model_config(tmp / "models.config", entries)
    server = start_server([f"--model_config_file={config}"], tmp, wait_models=[e["name"] for e in entries])
    fuzz = Fuzzed(server, tmp)
    try:
        yield fuzz
        fuzz.check_valid_calls()
        summary = {
            "calls": fuzz.calls,
            "valid_calls": fuzz.valid_calls,
            "codes": dict(fuzz.codes),
            "rss_kib_before": fuzz.rss_before,
            "rss_kib_after": rss_kib(server.process.pid),
            "alive": server.process.poll() is None,
        }
        (tmp / "fuzz-summary.json").write_text(json.dumps(summary, indent=2))
        print("gRPC fuzz summary:", json.dumps(summary))
    finally:
        fuzz.channel.close()
        server.stop()


# -- hand-written cases --------------------------------------------------------------------------


def tensor(dtype: int, dims: list[int] | None, unknown_rank: bool = False, **fields: Any) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=dtype)
    if dims is not None:
        for size in dims:
            proto.tensor_shape.dim.add().size = size
    proto.tensor_shape.unknown_rank = unknown_rank
    for name, value in fields.items():
        if name == "tensor_content":
            proto.tensor_content = value
        else:
            getattr(proto, name).extend(value)
    return proto


def predict(model: str, signature: str = "", **inputs: tensor_pb2.TensorProto) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for alias, proto in inputs.items():
        request.inputs[alias].CopyFrom(proto)
    return request


def through_classify(proto: tensor_pb2.TensorProto) -> predict_pb2.PredictRequest:
    """half_plus_two's classify signature: one DT_STRING input of unknown rank (``tf_example:0``)."""
    return predict("half_plus_two", "classify_x_to_y", inputs=proto)


STRING, FLOAT = types_pb2.DT_STRING, types_pb2.DT_FLOAT
HUGE = [2**31, 2**40, 2**62, 2**63 - 1]
CASES: dict[str, tuple[predict_pb2.PredictRequest, str]] = {
    # (request, what the INVALID_ARGUMENT message must say)
    "string rank 33 (TF's conversion segfaults)": (
        through_classify(tensor(STRING, [1] * (STRING_MAX_RANK + 1), string_val=[b"a"])),
        "rank 33 is over the limit of 32",
    ),
    "string rank 64": (
        through_classify(tensor(STRING, [1] * 64, string_val=[b"a"])),
        "rank 64 is over the limit of 32",
    ),
    "float rank 65": (
        predict("half_plus_two", x=tensor(FLOAT, [1] * 65, float_val=[1.0])),
        "rank 65 is over the limit of 64",
    ),
    "rank 255": (predict("half_plus_two", x=tensor(FLOAT, [1] * 255, float_val=[1.0])), "at most 254 allowed"),
    "dims [2^62]": (predict("half_plus_two", x=tensor(FLOAT, [2**62], float_val=[1.0])), "--max_tensor_elements"),
    "dims [2^63-1]": (predict("half_plus_two", x=tensor(FLOAT, [2**63 - 1])), "--max_tensor_elements"),
    "dims [0, 2^62]": (predict("half_plus_two", x=tensor(FLOAT, [0, 2**62])), "holds no elements but spans"),
    "dims [2^40, 0] string": (through_classify(tensor(STRING, [2**40, 0])), "holds no elements but spans"),
    "dims overflow int64": (predict("half_plus_two", x=tensor(FLOAT, [2**62, 4])), "too many elements"),
    "negative dim": (predict("half_plus_two", x=tensor(FLOAT, [-1, 1], float_val=[1.0])), "negative dimension"),
    "one value repeated over 2^30": (
        predict("half_plus_two", x=tensor(FLOAT, [2**30], float_val=[1.0])),
        "--max_tensor_elements",
    ),
    "string repeated past --max_tensor_bytes": (
        through_classify(tensor(STRING, [2**26], string_val=[b"x" * 64])),
        "--max_tensor_bytes",
    ),
    "tensor_content of 4 bytes for shape [0]": (
        predict("half_plus_two", x=tensor(FLOAT, [0], tensor_content=b"\0\0\0\0")),
        "tensor_content holds 4 bytes",
    ),
    "tensor_content short": (
        predict("half_plus_two", x=tensor(FLOAT, [2, 1], tensor_content=b"\0" * 7)),
        "tensor_content holds 7 bytes",
    ),
    "unknown_rank with values": (
        predict("half_plus_two", x=tensor(FLOAT, None, True, float_val=[1.0])),
        "unknown rank",
    ),
    "unknown_rank with dims": (predict("half_plus_two", x=tensor(FLOAT, [1], True)), "must not have any dimensions"),
    "unknown dtype": (predict("half_plus_two", x=tensor(999, [1])), "unsupported dtype"),
    "DT_RESOURCE": (predict("half_plus_two", x=tensor(types_pb2.DT_RESOURCE, [1])), "unsupported dtype"),
    "DT_VARIANT": (predict("half_plus_two", x=tensor(types_pb2.DT_VARIANT, [1])), "unsupported dtype"),
    "DT_INVALID": (predict("half_plus_two", x=tensor(types_pb2.DT_INVALID, [1])), "unsupported dtype"),
    "string tensor_content truncated": (
        through_classify(tensor(STRING, [2], tensor_content=b"\x05ab")),
        "tensor parsing error: inputs",
    ),
    "non-UTF-8 bytes into ParseExample": (
        through_classify(tensor(STRING, [1], string_val=[b"\xff\xfe\x80junk"])),
        "not valid UTF-8",
    ),
    "junk Example bytes": (
        through_classify(tensor(STRING, [1], string_val=[b"\x0a\x05junk"])),
        "Could not parse example input",
    ),
    "wrong dtype": (
        predict("half_plus_two", x=tensor(types_pb2.DT_INT32, [1, 1], int_val=[1])),
        "Expects arg[0] to be float but int32 is provided",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hand_written_tensor_is_invalid_argument(fuzzed: Fuzzed, case: str) -> None:
    request, message = CASES[case]
    code, details, _ = fuzzed.call(fuzzed.predict.Predict, request)
    assert code == INVALID, (case, code, details)
    assert message in details, (case, details)


def test_the_rank_limit_lets_rank_32_strings_reach_tensorflow(fuzzed: Fuzzed) -> None:
    # The other side of the limit: a rank-32 string tensor converts, and the graph's own
    # ParseExample op answers (it wants a vector), so the limit is no tighter than TF's.
    code, details, _ = fuzzed.call(
        fuzzed.predict.Predict, through_classify(tensor(STRING, [1] * STRING_MAX_RANK, string_val=[b"a"]))
    )
    assert code == INVALID and "rank 32" not in details and "ParseExample" in details, details
    fuzzed.check_valid_calls()


UNDECODABLE = {
    "truncated": bytes(predict("half_plus_two", x=tensor(FLOAT, [1], float_val=[1.0])).SerializeToString())[:-3],
    "invalid UTF-8 in model name": b"\x0a\x05\x0a\x03\xff\xfe\xfd",
    "wrong wire type": b"\x0a\x05\xff\xff\xff",
    "junk Example inside an Input": b"\x12\x08\x0a\x06\x0a\x04\xff\xff\xff\xff",
}


@pytest.mark.parametrize("method", ["Predict", "Classify", "Regress", "MultiInference", "GetModelMetadata"])
@pytest.mark.parametrize("case", list(UNDECODABLE))
def test_undecodable_request_bytes_are_internal(fuzzed: Fuzzed, method: str, case: str) -> None:
    code, details, _ = fuzzed.raw(PREDICTION + method, UNDECODABLE[case])
    if code == grpc.StatusCode.OK or code != INTERNAL:  # these bytes may decode as another message type
        fuzzed.check_bad(code, details, f"{method} {case}")
        return
    assert details.startswith("Failed to parse the request as tensorflow.serving."), details
    assert "Unexpected <class" not in details


def test_undecodable_model_service_requests_are_internal(fuzzed: Fuzzed) -> None:
    for method in ("GetModelStatus", "HandleReloadConfigRequest"):
        code, details, _ = fuzzed.raw(MODEL_SERVICE + method, b"\x0a\x05\xff\xff\xff")
        assert code == INTERNAL and details.startswith("Failed to parse the request"), (method, details)


def _reload(fuzzed: Fuzzed, config: model_server_config_pb2.ModelServerConfig | None) -> tuple[Any, str]:
    request = model_management_pb2.ReloadConfigRequest()
    if config is not None:
        request.config.CopyFrom(config)
    code, details, _ = fuzzed.call(fuzzed.models.HandleReloadConfigRequest, request)
    return code, details


@pytest.mark.parametrize(
    "base_path, message",
    [
        ("/no/such/base/path", "Could not find base path /no/such/base/path for servable extra"),
        ("/tmp/a\x00b", "base_path with a NUL byte"),
        ("/" + "x" * 5000, "Could not find base path"),
        ("relative/path", "to have an absolute path or URI"),
    ],
)
def test_a_bad_reload_is_invalid_argument_and_the_config_stays(
    fuzzed: Fuzzed, model_root: Path, base_path: str, message: str
) -> None:
    config = model_server_config_pb2.ModelServerConfig()
    for model in ("half_plus_two", "dtypes", "string_model", *(("lstm",) if LSTM_MODEL.is_dir() else ())):
        path = str(LSTM_MODEL) if model == "lstm" else str(model_root / model)
        config.model_config_list.config.add(name=model, base_path=path, model_platform="tensorflow")
    config.model_config_list.config.add(name="extra", base_path=base_path, model_platform="tensorflow")
    code, details = _reload(fuzzed, config)
    assert code == INVALID and message in details, details
    assert fuzzed.server.version_states("half_plus_two") == {1: "AVAILABLE"}
    fuzzed.check_valid_calls()


def test_a_reload_without_a_config_is_invalid_argument(fuzzed: Fuzzed) -> None:
    code, details = _reload(fuzzed, None)
    assert code == INVALID and "Only ModelConfigList is currently supported" in details, details
    fuzzed.check_valid_calls()


# -- the same over REST ----------------------------------------------------------------------------


def _nested(depth: int, leaf: str) -> str:
    return "[" * depth + leaf + "]" * depth


REST_CASES = {
    "string rank 33": (
        '{"signature_name": "classify_x_to_y", "inputs": {"inputs": %s}}' % _nested(33, '"a"'),
        "rank 33 is over the limit of 32",
    ),
    "numbers nested 65 deep": ('{"inputs": {"x": %s}}' % _nested(65, "1.0"), "65 levels deep"),
    "numbers nested 300 deep": ('{"instances": %s}' % _nested(300, "1.0"), "299 levels deep"),
    "nested 10,000 deep": ('{"instances": %s}' % _nested(10_000, "1.0"), "Nesting too deep"),
    "100,000 unclosed brackets": ('{"instances": ' + "[" * 100_000, "JSON Parse error"),
    "object nested 10,000 deep": (
        '{"signature_name": ' + '{"a":' * 10_000 + "1" + "}" * 10_000 + "}",
        "Nesting too deep",
    ),
    "lone surrogate in a string tensor": (
        '{"signature_name": "classify_x_to_y", "instances": ["\\ud800"]}',
        "surrogate",
    ),
    "lone surrogate in signature_name": ('{"signature_name": "\\udc00x", "instances": [[1.0]]}', "surrogate"),
    "surrogate after NaN": ('{"instances": [NaN], "signature_name": "\\ud800"}', "not found in signature def"),
}


@pytest.mark.parametrize("case", list(REST_CASES))
def test_rest_hostile_bodies_are_400_json(fuzzed: Fuzzed, case: str) -> None:
    body, message = REST_CASES[case]
    response = requests.post(
        f"{fuzzed.server.rest_url}/v1/models/half_plus_two:predict", data=body.encode(), timeout=TIMEOUT
    )
    assert response.status_code == 400, (case, response.status_code, response.text[:300])
    assert message in response.json()["error"], (case, response.text[:300])
    assert fuzzed.server.process.poll() is None


@requires_shared
def test_the_seed_lstm_model_survives_the_reported_requests(fuzzed: Fuzzed) -> None:
    body = '{"inputs": {"words": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["a"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], "nwords": [1]}}'
    response = requests.post(f"{fuzzed.server.rest_url}/v1/models/lstm:predict", data=body.encode(), timeout=TIMEOUT)
    assert response.status_code == 400 and "rank 33" in response.json()["error"], response.text
    for dims in ([1] * 33, [2**40, 0], [2**21, 0]):
        words = tensor(STRING, dims, string_val=[b"a"] if 0 not in dims else [])
        request = predict("lstm", words=words, nwords=tensor(types_pb2.DT_INT32, [1], int_val=[1]))
        code, details, _ = fuzzed.call(fuzzed.predict.Predict, request)
        assert code == INVALID and "tensor parsing error: words" in details, details
    response = requests.post(
        f"{fuzzed.server.rest_url}/v1/models/lstm:predict",
        timeout=TIMEOUT,
        json={"instances": [{"words": ["很", "喜欢"], "nwords": 2}]},
    )
    assert response.status_code == 200 and response.json()["predictions"][0]["labels"] == "POS", response.text


# -- generated requests ------------------------------------------------------------------------------

TYPED_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "float_val": st.floats(width=32),
    "double_val": st.floats(),
    "int_val": st.integers(-(2**31), 2**31 - 1),
    "int64_val": st.integers(-(2**63), 2**63 - 1),
    "uint32_val": st.integers(0, 2**32 - 1),
    "uint64_val": st.integers(0, 2**64 - 1),
    "bool_val": st.booleans(),
    "half_val": st.integers(-(2**31), 2**31 - 1),
    "string_val": st.binary(max_size=12),
    "scomplex_val": st.floats(width=32),
    "dcomplex_val": st.floats(),
}
DTYPES = st.sampled_from([*range(0, 24), 101, 107, 119, 1000])
DIM = st.one_of(st.integers(0, 3), st.integers(-(2**63), -1), st.sampled_from(HUGE))
DIMS = st.one_of(st.none(), st.lists(DIM, max_size=6), st.integers(28, 70).map(lambda rank: [1] * rank))


@st.composite
def tensors(draw: st.DrawFn) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=draw(DTYPES))
    dims = draw(DIMS)
    for size in dims or []:
        proto.tensor_shape.dim.add().size = size
    proto.tensor_shape.unknown_rank = (
        draw(st.booleans()) if dims is None else draw(st.sampled_from([False] * 9 + [True]))
    )
    kind = draw(st.sampled_from(["none", "content", "typed", "typed"]))
    if kind == "content":
        proto.tensor_content = draw(st.binary(max_size=64))
    elif kind == "typed":
        field = draw(st.sampled_from(sorted(TYPED_FIELDS)))
        getattr(proto, field).extend(draw(st.lists(TYPED_FIELDS[field], max_size=8)))
    return proto


SIGNATURES = {
    "half_plus_two": ["", "serving_default", "classify_x_to_y", "regress_x_to_y", "regress_x_to_y2", "nope"],
    "dtypes": ["", "scalar", "no_input"],
    "string_model": [""],
    "absent_model": [""],
}
ALIASES = ["x", "inputs", "words", "nwords", "f32", "s", "raw_bytes", "i64", "b", "u8", "extra"]


@st.composite
def predict_requests(draw: st.DrawFn) -> predict_pb2.PredictRequest:
    model = draw(st.sampled_from(sorted(SIGNATURES)))
    request = predict("", draw(st.sampled_from(SIGNATURES[model])))
    request.model_spec.name = model
    if draw(st.booleans()):
        request.model_spec.version.value = draw(st.sampled_from([1, 2, -1, 2**62]))
    for alias in draw(st.lists(st.sampled_from(ALIASES), max_size=3, unique=True)):
        request.inputs[alias].CopyFrom(draw(tensors()))
    request.output_filter.extend(draw(st.lists(st.sampled_from(["y", "f32_out", "zzz", "scores"]), max_size=2)))
    return request


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ_SETTINGS
@given(request=predict_requests())
def test_generated_predict_requests(fuzzed: Fuzzed, request: predict_pb2.PredictRequest) -> None:
    code, details, _ = fuzzed.call(fuzzed.predict.Predict, request)
    fuzzed.check_bad(code, details, f"Predict {request!r:.400}")
    if fuzzed.calls % 25 == 0:
        fuzzed.check_valid_calls()


EXAMPLE_METHODS = {
    "Classify": (classification_pb2.ClassificationRequest, "classify_x_to_y"),
    "Regress": (regression_pb2.RegressionRequest, "regress_x_to_y"),
}


@FUZZ_SETTINGS
@given(
    method=st.sampled_from(["Predict", "Classify", "Regress", "MultiInference", "GetModelMetadata"]),
    payload=st.one_of(st.binary(max_size=200), predict_requests().map(lambda r: r.SerializeToString()[:-1])),
)
def test_generated_bytes(fuzzed: Fuzzed, method: str, payload: bytes) -> None:
    code, details, _ = fuzzed.raw(PREDICTION + method, payload)
    fuzzed.check_bad(code, details, f"{method} {payload!r:.300}")


@FUZZ_SETTINGS
@given(
    method=st.sampled_from(sorted(EXAMPLE_METHODS)), features=st.lists(st.binary(max_size=40), min_size=1, max_size=3)
)
def test_generated_example_inputs(fuzzed: Fuzzed, method: str, features: list[bytes]) -> None:
    # Example bytes spliced into a well-formed request (each item a length-delimited Example).
    message_class, signature = EXAMPLE_METHODS[method]
    request = message_class()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = signature
    examples = b"".join(b"\x0a" + bytes([len(f)]) + f for f in features)
    assert len(examples) + 2 < 128  # every length below fits one varint byte
    payload = request.SerializeToString() + b"\x12" + bytes([len(examples) + 2, 0x0A, len(examples)]) + examples
    code, details, _ = fuzzed.raw(PREDICTION + method, payload)
    fuzzed.check_bad(code, details, f"{method} {payload!r:.300}")


def test_status_and_metadata_still_answer(fuzzed: Fuzzed) -> None:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "half_plus_two"
    code, _, response = fuzzed.call(fuzzed.models.GetModelStatus, request)
    assert code == grpc.StatusCode.OK and response.model_version_status[0].state == 30  # AVAILABLE
    metadata = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    metadata.model_spec.name = "dtypes"
    code, details, _ = fuzzed.call(fuzzed.predict.GetModelMetadata, metadata)
    assert code == grpc.StatusCode.OK, details
    fuzzed.check_valid_calls()
