"""TF Serving's REST API through the real server, on the project's own models."""

from __future__ import annotations

import base64
import gzip
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import write_model_config
from tests.helpers.server import RunningServer, start_server

MODELS = ["default", "two", "counter", "strings", "tf2", "dtypes", "half_plus_three"]


@pytest.fixture(scope="module")
def server(model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("rest")
    config = write_model_config(
        tmp / "models.config",
        [
            {"name": "default", "base_path": model_root / "half_plus_two"},
            {
                "name": "two",
                "base_path": model_root / "two_versions",
                "policy": "all {}",
                "labels": {"stable": 123, "canary": 124},
            },
            {"name": "counter", "base_path": model_root / "counter"},
            {"name": "strings", "base_path": model_root / "string_model"},
            {"name": "tf2", "base_path": model_root / "tf2_half_plus_two"},
            {"name": "dtypes", "base_path": model_root / "dtypes"},
            {"name": "half_plus_three", "base_path": model_root / "half_plus_three"},
        ],
    )
    running = start_server([f"--model_config_file={config}"], tmp, wait_models=MODELS, grpc=False)
    running.wait_available("two", 123)
    running.wait_available("two", 124)
    yield running
    running.stop()


def post(
    server: RunningServer, path: str, body: object | None = None, data: bytes | None = None, **kwargs: object
) -> requests.Response:
    if data is None and body is not None:
        return requests.post(server.rest_url + path, json=body, timeout=30, **kwargs)
    return requests.post(server.rest_url + path, data=data, timeout=30, **kwargs)


def error_of(response: requests.Response) -> str:
    assert response.headers["content-type"] == "application/json"
    return response.json()["error"]


# -- success cases (TF Serving's R1-R22 rules) ---------------------------------------------


def test_row_predict_returns_predictions(server: RunningServer) -> None:
    r = post(server, "/v1/models/default:predict", {"instances": [[2.0], [3.0], [4.0]]})
    assert r.status_code == 200
    assert r.json() == {"predictions": [[3.0], [3.5], [4.0]]}


def test_columnar_predict_returns_outputs(server: RunningServer) -> None:
    r = post(server, "/v1/models/default:predict", {"inputs": [[2.0], [3.0], [4.0]]})
    assert r.json() == {"outputs": [[3.0], [3.5], [4.0]]}


def test_shapes_are_not_checked_against_the_signature(server: RunningServer) -> None:
    # x is declared [-1, 1]; TF Serving feeds [2, 2] anyway and the runtime broadcasts.
    r = post(server, "/v1/models/two:predict", {"instances": [[1.0, 2.0], [3.0, 4.0]]})
    assert r.json() == {"predictions": [[2.5, 3.0], [3.5, 4.0]]}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/two/versions/123:predict",
        "/v1/models/two/labels/stable:predict",
        "/v1/models/two/labels/canary:predict",
        "/v1/models/TWO/Versions/123:predict".replace("TWO", "two"),
    ],
)
def test_version_and_label_routes(server: RunningServer, path: str) -> None:
    r = post(server, path, {"signature_name": "serving_default", "instances": [[1.0], [2.0]]})
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [[2.5], [3.0]]}


def test_classify_and_regress_use_results_key(server: RunningServer) -> None:
    r = post(
        server,
        "/v1/models/default:classify",
        {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}, {"x": 20.0}]},
    )
    assert r.json() == {"results": [[["", 3.0]], [["", 12.0]]]}
    r = post(
        server, "/v1/models/two/labels/stable:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}
    )
    assert r.json() == {"results": [42.0]}
    r = post(
        server, "/v1/models/two/versions/124:regress", {"signature_name": "regress_x_to_y2", "examples": [{"x": 2.0}]}
    )
    assert r.json() == {"results": [4.0]}


def test_classify_context_is_merged_into_each_example(server: RunningServer) -> None:
    r = post(
        server,
        "/v1/models/default:regress",
        {
            "signature_name": "regress_x2_to_y3" if False else "regress_x_to_y",
            "context": {"x": 10.0},
            "examples": [{}, {"x": 2.0}],
        },
    )
    assert r.json() == {"results": [7.0, 3.0]}


def test_integer_feature_literal_is_int64_and_fails_a_float_parser(server: RunningServer) -> None:
    r = post(server, "/v1/models/default:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 2}]})
    assert r.status_code == 400
    assert "Data types don't match" in error_of(r) or "dtype" in error_of(r).lower()


def test_status_lists_versions_newest_first(server: RunningServer) -> None:
    body = requests.get(server.rest_url + "/v1/models/two", timeout=10).json()
    assert body == {
        "model_version_status": [
            {"version": "124", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
            {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
        ]
    }
    one = requests.get(server.rest_url + "/v1/models/two/versions/123", timeout=10).json()
    assert [v["version"] for v in one["model_version_status"]] == ["123"]
    # TF Serving ignores the label on the status route.
    labelled = requests.get(server.rest_url + "/v1/models/two/labels/whatever", timeout=10)
    assert labelled.json() == body


def test_metadata_has_signatures_and_resolved_version(server: RunningServer) -> None:
    body = requests.get(server.rest_url + "/v1/models/two/metadata", timeout=10).json()
    assert body["model_spec"] == {"name": "two", "signature_name": "", "version": "124"}
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert set(sigs) == {
        "serving_default",
        "classify_x_to_y",
        "regress_x_to_y",
        "regress_x_to_y2",
        "regress_x2_to_y3",
        "classify_x2_to_y3",
    }
    x = sigs["serving_default"]["inputs"]["x"]
    assert x["name"] == "x:0" and x["dtype"] == "DT_FLOAT" and "unknown_rank" in x["tensor_shape"]
    assert sigs["serving_default"]["method_name"] == "tensorflow/serving/predict"
    v123 = requests.get(server.rest_url + "/v1/models/two/labels/stable/metadata", timeout=10).json()
    assert v123["model_spec"]["version"] == "123"


def test_string_model_row_and_columnar(server: RunningServer) -> None:
    body = {"instances": [{"words": ["很", "喜欢"], "nwords": 2}, {"words": ["很", "垃圾"], "nwords": 2}]}
    predictions = post(server, "/v1/models/strings:predict", body).json()["predictions"]
    assert [p["labels"] for p in predictions] == ["POS", "NEG"]
    assert [p["classes_id"] for p in predictions] == [1, 0]
    assert all(len(p["softmax"]) == 3 and math.isclose(sum(p["softmax"]), 1, rel_tol=1e-5) for p in predictions)
    columnar = post(
        server, "/v1/models/strings:predict", {"inputs": {"words": [["很", "喜欢"]], "nwords": [2]}}
    ).json()["outputs"]
    assert columnar["labels"] == ["POS"] and columnar["classes_id"] == [1]


def test_b64_values_in_and_out(server: RunningServer) -> None:
    raw = bytes([0, 255, 128, 10])
    body = {
        "inputs": {
            "f32": [1.5],
            "f64": [2.5],
            "i8": [-3],
            "u8": [300],
            "i16": [7],
            "i32": [8],
            "i64": [2**40],
            "u32": [4000000000],
            "b": [True],
            "s": ["héllo"],
            "raw_bytes": [{"b64": base64.b64encode(raw).decode()}],
        }
    }
    r = post(server, "/v1/models/dtypes:predict", body)
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    assert out["f32_out"] == [1.5] and out["f64_out"] == [2.5] and out["i8_out"] == [-3]
    assert out["u8_out"] == [44]  # truncated like TF Serving (300 as uint8)
    assert out["u32_out"] == [4000000000]
    assert out["i64_out"] == [2**40] and out["b_out"] == [True] and out["s_out"] == ["héllo"]
    assert out["out_bytes"] == [{"b64": base64.b64encode(raw).decode()}]


def test_scalar_columnar_input_and_output(server: RunningServer) -> None:
    r = post(server, "/v1/models/dtypes:predict", {"signature_name": "scalar", "inputs": 2.0})
    assert r.json() == {"outputs": 4.0}
    # Row format always adds a batch dimension.
    r = post(server, "/v1/models/dtypes:predict", {"signature_name": "scalar", "instances": [2.0]})
    assert r.status_code == 400 or r.json() == {"predictions": [4.0]}


def test_non_finite_numbers_round_trip_as_tf_serving_tokens(server: RunningServer) -> None:
    r = post(
        server,
        "/v1/models/dtypes:predict",
        data=b'{"inputs": {"f32": [NaN, Infinity, -Infinity], "f64": [1], "i8": [1], "u8": [1],'
        b' "i16": [1], "i32": [1], "i64": [1], "u32": [1], "b": [true], "s": ["a"], "raw_bytes": ["b"]}}',
    )
    assert r.status_code == 200, r.text
    assert b"NaN" in r.content and b"-Infinity" in r.content
    assert r.json()["outputs"]["f32_out"][1] == math.inf  # Python's json reads the tokens


def test_tf2_model_with_default_input(server: RunningServer) -> None:
    r = post(server, "/v1/models/tf2:predict", {"instances": [1.0, 2.0]})
    assert r.json() == {"predictions": [2.5, 3.0]}


def test_gzip_request_body(server: RunningServer) -> None:
    data = gzip.compress(b'{"instances": [[2.0]]}')
    r = post(server, "/v1/models/default:predict", data=data, headers={"Content-Encoding": "gzip"})
    assert r.json() == {"predictions": [[3.0]]}


def test_counter_state_is_kept_between_requests(server: RunningServer) -> None:
    r = post(server, "/v1/models/counter:predict", {"signature_name": "incr_counter_by", "inputs": {"delta": 3.0}})
    assert r.status_code == 200, r.text
    # Signatures without inputs cannot be called over REST (TF Serving's rule).
    r = post(server, "/v1/models/counter:predict", {"signature_name": "get_counter", "instances": [1]})
    assert r.status_code == 400
    assert error_of(r) == "Failed to get input map for signature: get_counter"


# -- error cases (TF Serving's R23-R40 rules) -----------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/v1/foo", 400, "Malformed request: GET /v1/foo"),
        ("POST", "/v1/foo", 400, "Malformed request: POST /v1/foo"),
        ("GET", "/v1/models", 400, "Missing model name in request."),
        ("GET", "/v1/models/debug/model_name", 400, "Malformed request: GET /v1/models/debug/model_name"),
        ("POST", "/v1/models", 400, "Malformed request: POST /v1/models"),
        ("GET", "/v1/models/foo:predict", 400, "Malformed request: GET /v1/models/foo:predict"),
        ("POST", "/v1/models/foo/version/50:regress", 400, "Malformed request"),
        ("POST", "/v1/models/foo/versions/HELLO:regress", 400, "Malformed request"),
        ("POST", "/v1/models/foo/versions/50/labels/some_label:regress", 400, "Malformed request"),
        ("POST", "/v1/models/foo/metadata", 400, "Malformed request"),
        ("POST", "/v1/models/default:PREDICT", 400, "Malformed request"),
        ("PUT", "/v1/models/default:predict", 400, "Malformed request: PUT /v1/models/default:predict"),
        ("POST", "/v1/models/foo/versions/18446744073709551615:regress", 400, "Failed to convert version"),
        ("GET", "/v1/models/foo", 404, "Could not find any versions of model foo"),
        ("GET", "/v1/models/two/versions/7", 404, "Could not find version 7 of model two"),
        ("GET", "/v1/models/foo/metadata", 404, "Servable not found for request: Latest(foo)"),
    ],
)
def test_routing_errors(server: RunningServer, method: str, path: str, status: int, message: str) -> None:
    r = requests.request(method, server.rest_url + path, data=b'{"instances": [1]}', timeout=10)
    assert r.status_code == status
    assert message in error_of(r)


@pytest.mark.parametrize(
    ("path", "data", "status", "message"),
    [
        ("/v1/models/foo:predict", b'{ "instances": [1] }', 404, "Servable not found for request: Latest(foo)"),
        (
            "/v1/models/foo/versions/50:predict",
            b'{ "instances": [1] }',
            404,
            "Servable not found for request: Specific(foo, 50)",
        ),
        (
            "/v1/models/two/versions/999:predict",
            b'{ "instances": [1] }',
            404,
            "Servable not found for request: Specific(two, 999)",
        ),
        ("/v1/models/default:predict", b"", 400, "JSON Parse error: The document is empty"),
        ("/v1/models/default:predict", b"instances = [1, 2]", 400, "JSON Parse error: Invalid value"),
        (
            "/v1/models/default:predict",
            b'{ "instances": ["x", "y"] }',
            400,
            "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: JSON Value: \"x\" "
            "Type: String is not of expected type: float",
        ),
        (
            "/v1/models/two/labels/Version_Nonexistent:predict",
            b'{"instances": [1.0]}',
            400,
            "Unrecognized servable version label: Version_Nonexistent",
        ),
        ("/v1/models/default:predict", b"[1, 2]", 400, "Is not object"),
        (
            "/v1/models/default:predict",
            b'{"signature_name": 5, "instances": [1]}',
            400,
            "'signature_name' key must be a string value.",
        ),
        (
            "/v1/models/default:predict",
            b'{"signature_name": "nope", "instances": [1]}',
            400,
            'Serving signature name: "nope" not found in signature def',
        ),
        (
            "/v1/models/default:predict",
            b'{"instances": [1], "inputs": [1]}',
            400,
            "expecting only one of 'inputs' or 'instances' keys to exist",
        ),
        ("/v1/models/default:predict", b'{"foo": [1]}', 400, "Missing 'inputs' or 'instances' key"),
        ("/v1/models/default:predict", b'{"instances": []}', 400, "No values in 'instances' array"),
        (
            "/v1/models/default:predict",
            b'{"instances": [[1.0], [1.0, 2.0]]}',
            400,
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: Expecting tensor size: 1 but got: 2",
        ),
        ("/v1/models/default:predict", b'{"instances": [[1.0], [[1.0]]]}', 400, "Expecting shape [1] but got: [1,1]"),
        (
            "/v1/models/strings:predict",
            b'{"instances": [["a"]]}',
            400,
            "instances is a plain list, but expecting list of objects as multiple input tensors",
        ),
        (
            "/v1/models/strings:predict",
            b'{"instances": [{"words": ["a"], "nwords": 1, "x": 1}]}',
            400,
            "JSON object: does not have named input: x",
        ),
        (
            "/v1/models/strings:predict",
            b'{"instances": [{"words": ["a"]}]}',
            400,
            "keys must be equal to: nwords,words",
        ),
        (
            "/v1/models/strings:predict",
            b'{"inputs": {"words": [["a"]]}}',
            400,
            "Missing named input: nwords in 'inputs' object.",
        ),
        (
            "/v1/models/strings:predict",
            b'{"inputs": [1]}',
            400,
            "inputs is a plain value/list, but expecting an object",
        ),
        (
            "/v1/models/strings:predict",
            b'{"inputs": {"words": [["a"]], "nwords": [1.5]}}',
            400,
            "JSON Value: 1.5 Type: Number is not of expected type: int32",
        ),
        (
            "/v1/models/strings:predict",
            b'{"inputs": {"words": [["a"]], "nwords": [3000000000]}}',
            400,
            "is not of expected type: int32",
        ),
        (
            "/v1/models/default:predict",
            b'{"inputs": [[1.0], [1.0, 2.0]]}',
            400,
            "Encountered list at unexpected size: 2 at level: 1 expected size: 1",
        ),
        ("/v1/models/default:predict", b'{"inputs": [[true]]}', 400, "Type: True is not of expected type: float"),
        (
            "/v1/models/dtypes:predict",
            b'{"signature_name": "scalar", "inputs": {"b64": "%%%"}}',
            400,
            "is not of expected type: float",
        ),
        (
            "/v1/models/default:classify",
            b'{"signature_name": "nope", "examples": [{"x": 1.0}]}',
            400,
            "No signature was found with the name: nope",
        ),
        (
            "/v1/models/default:classify",
            b'{"signature_name": "classify_x_to_y"}',
            400,
            "key 'examples' is expected and was not found",
        ),
        (
            "/v1/models/default:regress",
            b'{"signature_name": "regress_x_to_y", "examples": []}',
            400,
            "'examples' value is an empty array",
        ),
        (
            "/v1/models/default:regress",
            b'{"signature_name": "regress_x_to_y", "examples": [[1]]}',
            400,
            "Example must be JSON object but got JSON Array",
        ),
        (
            "/v1/models/default:regress",
            b'{"signature_name": "regress_x_to_y", "examples": [{"x": null}]}',
            400,
            "Feature: x has element with unexpected JSON type: Null",
        ),
        (
            "/v1/models/default:regress",
            b'{"signature_name": "regress_x_to_y", "examples": [{"x": ["a", 1]}]}',
            400,
            "Unexpected element type in feature: x expecting type: bytes",
        ),
        (
            "/v1/models/default:regress",
            b'{"signature_name": "serving_default", "examples": [{"x": 1.0}]}',
            400,
            "No regression inputs found in SignatureDef",
        ),
    ],
)
def test_request_errors(server: RunningServer, path: str, data: bytes, status: int, message: str) -> None:
    r = post(server, path, data=data)
    assert r.status_code == status, r.text
    assert message in error_of(r)


ROWS_1KB = b", ".join([b"[1.0]"] * 300)  # past the numeric fast path's threshold


@pytest.mark.parametrize(
    "data,predictions",
    [
        (b'{"instances": [[1.0]]}garbage {', [[2.5]]),
        (b'{"instances": [[1.0]], "instances": [[5.0]]}', [[2.5]]),
        (b'{"instances": [[1.0]], "signature_name": "serving_default", "signature_name": "nope"}', [[2.5]]),
        (b'{"instances": [' + ROWS_1KB + b"]}}", [[2.5]] * 300),
        (b'{"instances": [' + ROWS_1KB + b'], "instances": [[5.0]]}', [[2.5]] * 300),
        (b'{"instances": [{"x": [1.0], "x": [5.0]}], "note": "a:b"}', [[2.5]]),
    ],
    ids=[
        "trailing-bytes",
        "repeated-key",
        "repeated-signature-name",
        "numeric-trailing",
        "numeric-repeated",
        "nested-repeated-with-colon-in-a-string",
    ],
)
def test_json_bodies_are_read_as_tf_servings_rapidjson_reads_them(
    server: RunningServer, data: bytes, predictions: list
) -> None:
    """The first document is read and the rest ignored; a repeated key keeps its first value."""
    r = post(server, "/v1/models/default:predict", data=data)
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": predictions}


def test_json_values_in_errors_are_pretty_printed_as_tf_servings(server: RunningServer) -> None:
    r = post(server, "/v1/models/default:predict", data=b'{"signature_name": 5, "instances": [[1.0], {"a": 1}]}')
    assert r.status_code == 400
    assert error_of(r) == (
        'JSON Value: {\n    "signature_name": 5,\n    "instances": [[1.0], {\n            "a": 1\n        }]\n} '
        "not formatted correctly. 'signature_name' key must be a string value."
    )


def test_runtime_error_passes_through_with_its_code(server: RunningServer) -> None:
    r = post(
        server, "/v1/models/counter:predict", {"signature_name": "incr_counter_by", "inputs": {"delta": [1.0, 2.0]}}
    )
    assert r.status_code == 400
    assert error_of(r)


def test_non_v1_paths_are_404(server: RunningServer) -> None:
    assert requests.get(server.rest_url + "/nothing", timeout=10).status_code == 404


def test_cors_preflight_needs_an_origin(server: RunningServer) -> None:
    r = requests.options(
        server.rest_url + "/v1/models/default:predict", headers={"Origin": "http://example.com"}, timeout=10
    )
    assert r.status_code == 200
    r = requests.options(server.rest_url + "/v1/models/default:predict", timeout=10)
    assert r.status_code == 400
