"""The gateway in front of a real pyserving server: route forms, transforms, auth, limits, errors.

One gateway process for the module, with gRPC and REST upstreams to the same
server, a dead upstream (nothing listens) and stalled ones (accept, never answer).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.gateway.support import (
    RunningGateway,
    StalledServer,
    bearer,
    closed_port,
    make_key,
    start_gateway,
)
from tests.helpers.server import RunningServer

T = "tests.gateway.transforms"


@dataclass
class Env:
    gateway: RunningGateway
    server: RunningServer
    keys: dict[str, str]
    keys_file: Path

    def post(self, path: str, body: object = None, key: str | None = "full", **kwargs: object) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[arg-type]
        if key:
            headers.update(bearer(self.keys[key]))
        return requests.post(self.gateway.url + path, json=body, headers=headers, timeout=20, **kwargs)

    def get(self, path: str, params: dict | None = None, key: str | None = "full") -> requests.Response:
        headers = bearer(self.keys[key]) if key else {}
        return requests.get(self.gateway.url + path, params=params, headers=headers, timeout=20)


def _config(server: RunningServer, stalled: StalledServer, keys_file: Path) -> str:
    return f"""
[gateway]
max_body_bytes = 4096
transform_threads = 2

[auth]
keys_file = "{keys_file}"
reload_interval_s = 0.2

[upstreams.grpc]
replicas = ["{server.grpc_address}"]
health_interval_ms = 300

[upstreams.rest]
protocol = "rest"
replicas = ["{server.rest_url}"]
health_interval_ms = 300

[upstreams.dead]
replicas = ["127.0.0.1:{closed_port()}"]
timeout_ms = 3000
health_interval_ms = 300

[upstreams.stalled_rest]
protocol = "rest"
replicas = ["http://{stalled.address}"]
timeout_ms = 300
health_check = "none"

[upstreams.stalled_grpc]
replicas = ["{stalled.address}"]
timeout_ms = 300
health_check = "none"

[[routes]]
path = "/words"
methods = ["GET", "POST"]
upstream = "grpc"
model = "strings"
transform = "{T}:Tokens"

[[routes]]
path = "/words-rest"
methods = ["GET", "POST"]
upstream = "rest"
model = "strings"
transform = "{T}:Tokens"

[[routes]]
path = "/hp"
methods = ["GET", "POST"]
upstream = "rest"
model = "hp"
transform = "{T}:AsyncHalfPlusTwo"
options = {{ scale = 10 }}

[[routes]]
path = "/hp-grpc"
upstream = "grpc"
model = "hp"
version = 1
transform = "{T}:AsyncHalfPlusTwo"

[[routes]]
path = "/hp-fn"
upstream = "rest"
model = "hp"
transform = "tests.gateway.fn_transform"

[[routes]]
path = "/hp-body"
upstream = "grpc"
model = "hp"
transform = "{T}:PredictBody"

[[routes]]
path = "/caller-inputs"
upstream = "grpc"
model = "strings"
transform = "{T}:CallerInputs"

[[routes]]
path = "/predict/strings"
upstream = "grpc"
model = "strings"

[[routes]]
path = "/predict/hp"
upstream = "rest"
model = "hp"

[[routes]]
path = "/predict/hp-grpc"
upstream = "grpc"
model = "hp"

[[routes]]
path = "/raise"
upstream = "rest"
model = "hp"
transform = "{T}:Raising"

[[routes]]
path = "/raise-post"
upstream = "rest"
model = "hp"
transform = "{T}:RaisingPost"

[[routes]]
path = "/wrong-inputs"
upstream = "grpc"
model = "hp"
transform = "{T}:WrongInputs"

[[routes]]
path = "/not-json"
upstream = "grpc"
model = "hp"
transform = "{T}:NotJson"

[[routes]]
path = "/dead"
upstream = "dead"
model = "hp"

[[routes]]
path = "/no-such-model"
upstream = "rest"
model = "nope"

[[routes]]
path = "/stalled-rest"
upstream = "stalled_rest"
model = "hp"

[[routes]]
path = "/stalled-grpc"
upstream = "stalled_grpc"
model = "hp"
timeout_ms = 400
"""


@pytest.fixture(scope="module")
def env(model_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("gateway-routes")
    keys, entries = {}, []
    for key_id, routes, rate, burst, scheme in [
        ("full", ["*"], float("inf"), None, "sha256"),
        ("words-only", ["/words"], None, None, "sha256"),
        ("limited", ["/hp"], 0.5, 2, "sha256"),
        ("slow", ["*"], None, None, "scrypt"),
    ]:
        keys[key_id], entry = make_key(key_id, routes, rate, burst, scheme)
        entries.append(entry)
    keys_file = tmp / "keys.toml"
    keys_file.write_text("\n".join(entries))
    stalled = StalledServer()
    try:
        gateway = start_gateway(_config(model_server, stalled, keys_file), tmp)
    except BaseException:
        stalled.stop()
        raise
    try:
        # Ready for this module: the live upstreams serve their models, the dead one was probed.
        def probed() -> bool:
            health = requests.get(f"{gateway.url}/readyz", timeout=2).json()["upstreams"]
            return (
                health["grpc"]["models"] == {"strings": 1, "hp": 1}
                and health["rest"]["models"] == {"strings": 1, "hp": 1, "nope": 0}
                and health["dead"]["reachable_replicas"] == 0
            )

        gateway.wait_for(probed, what="health checks")
        yield Env(gateway, model_server, keys, keys_file)
    finally:
        gateway.stop()
        stalled.stop()


def assert_error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == code, body
    assert body["error"]["request_id"] == response.headers["X-Request-ID"]
    assert response.headers["content-type"] == "application/json"
    return body["error"]


# -- route forms and transforms ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/words", "/words-rest"])
def test_post_json_single_and_batch_with_sync_transform(env: Env, path: str) -> None:
    single = env.post(path, {"text": "很 喜欢"})
    assert single.status_code == 200, single.text
    assert single.json()["label"] == "POS"
    assert single.json()["thread"].startswith("gateway-transform")  # sync code left the loop
    batch = env.post(path, {"texts": ["很 喜欢", "很 垃圾", "喜欢 好 差"]})
    assert [row["label"] for row in batch.json()] == ["POS", "NEG", "POS"]


def test_get_with_query_parameters(env: Env) -> None:
    assert env.get("/words", {"text": "很 垃圾"}).json()["label"] == "NEG"
    hp = env.get("/hp", {"x": "3"})
    assert hp.status_code == 200, hp.text
    assert hp.json()["y"] == pytest.approx((0.5 * 3 + 2) * 10)  # route options reach the class


def test_repeated_query_parameter_becomes_a_list(env: Env) -> None:
    response = env.get("/hp", [("xs", "0"), ("xs", "2")])  # type: ignore[arg-type]
    assert response.json()["ys"] == pytest.approx([20.0, 30.0])


def test_async_transform_runs_on_the_event_loop(env: Env) -> None:
    for path, scale in [("/hp", 10), ("/hp-grpc", 1)]:
        response = env.post(path, {"xs": [0, 2]})
        assert response.status_code == 200, response.text
        assert response.json()["ys"] == pytest.approx([2.0 * scale, 3.0 * scale])
        assert response.json()["thread"] == "MainThread"


def test_module_of_functions_as_transform(env: Env) -> None:
    assert env.post("/hp-fn", {"x": 4}).json() == {"y": 4.0}


def test_preprocess_may_return_a_predict_body_and_postprocess_defaults_to_outputs(env: Env) -> None:
    response = env.post("/hp-body", {"xs": [1, 2]})
    assert response.json() == {"outputs": {"y": [[2.5], [3.0]]}}


def test_without_preprocess_the_caller_sends_model_inputs(env: Env) -> None:
    response = env.post("/caller-inputs", {"words": [["喜欢", ""], ["垃圾", "差"]], "nwords": [1, 2]})
    assert response.json() == {"labels": ["POS", "NEG"], "ids": [1, 0]}
    error = assert_error(env.post("/caller-inputs", {"words": [["喜欢"]]}), 400, "bad_request")
    assert "nwords" in error["message"]


def test_pass_through_returns_tf_serving_json(env: Env) -> None:
    body = {"instances": [{"words": ["很", "喜欢"], "nwords": 2}]}
    direct = requests.post(f"{env.server.rest_url}/v1/models/strings:predict", json=body, timeout=10)
    via_gateway = env.post("/predict/strings", body)  # gRPC upstream: JSON rebuilt from tensors
    assert via_gateway.status_code == 200, via_gateway.text
    assert via_gateway.json()["predictions"][0]["labels"] == "POS"
    assert via_gateway.json()["predictions"][0]["classes_id"] == direct.json()["predictions"][0]["classes_id"]
    assert via_gateway.json()["predictions"][0]["softmax"] == pytest.approx(direct.json()["predictions"][0]["softmax"])
    for path in ["/predict/hp", "/predict/hp-grpc"]:
        assert env.post(path, {"instances": [1.0, 2.0]}).json() == {"predictions": [2.5, 3.0]}
        assert env.post(path, {"inputs": {"x": [[1.0]]}}).json() == {"outputs": [[2.5]]}


def test_pass_through_reports_the_model_servers_complaint_as_400(env: Env) -> None:
    for path in ["/predict/hp", "/predict/hp-grpc"]:
        error = assert_error(
            env.post(path, {"instances": ["not a number"]}),
            400,
            "invalid_argument" if path == "/predict/hp" else "bad_request",
        )
        assert "string" in error["message"].lower() or "type" in error["message"].lower()
    assert_error(env.post("/predict/hp", [1, 2]), 400, "bad_request")


# -- access control --------------------------------------------------------------------------


def test_missing_key_is_401_with_a_challenge(env: Env) -> None:
    response = env.post("/words", {"text": "好"}, key=None)
    assert assert_error(response, 401, "unauthenticated")["message"].startswith("missing API key")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_key_is_401(env: Env) -> None:
    forged = "full." + "A" * 43  # a real id with a wrong secret
    for headers in [bearer(forged), bearer("garbage"), {"Authorization": "Basic dXNlcjpwYXNz"}, {"X-API-Key": ""}]:
        response = requests.post(env.gateway.url + "/words", json={"text": "好"}, headers=headers, timeout=10)
        assert assert_error(response, 401, "unauthenticated")["message"] in (
            "invalid API key",
            "missing API key (send 'Authorization: Bearer <key>' or 'X-API-Key')",
        )


def test_right_key_in_either_header(env: Env) -> None:
    assert env.post("/words", {"text": "好"}).status_code == 200
    response = requests.post(
        env.gateway.url + "/words", json={"text": "好"}, headers={"X-API-Key": env.keys["words-only"]}, timeout=10
    )
    assert response.status_code == 200, response.text


def test_key_outside_its_subscriptions_is_403(env: Env) -> None:
    error = assert_error(env.post("/hp", {"x": 1}, key="words-only"), 403, "forbidden")
    assert "words-only" in error["message"] and "/hp" in error["message"]


def test_scrypt_hashed_key_works(env: Env) -> None:
    for _ in range(2):  # the second time from the verified-key cache
        assert env.post("/hp-fn", {"x": 1}, key="slow").status_code == 200
    forged = "slow." + "B" * 43
    assert env.post("/hp-fn", {"x": 1}, headers=bearer(forged), key=None).status_code == 401


def test_rate_limit_gives_429_with_retry_after(env: Env) -> None:
    statuses = [env.post("/hp", {"x": 1}, key="limited") for _ in range(3)]
    assert [r.status_code for r in statuses[:2]] == [200, 200]
    error = assert_error(statuses[2], 429, "rate_limited")
    assert "limited" in error["message"]
    assert int(statuses[2].headers["Retry-After"]) >= 1
    assert env.post("/hp", {"x": 1}).status_code == 200  # other keys are not affected


def test_keys_file_changes_apply_without_restart(env: Env) -> None:
    key, entry = make_key("late", ["/hp-fn"])
    assert env.post("/hp-fn", {"x": 1}, headers=bearer(key), key=None).status_code == 401
    original = env.keys_file.read_text()
    env.keys_file.write_text(original + "\n" + entry)
    try:
        env.gateway.wait_for(
            lambda: env.post("/hp-fn", {"x": 1}, headers=bearer(key), key=None).status_code == 200,
            10,
            "new key accepted",
        )
    finally:
        env.keys_file.write_text(original)
    env.gateway.wait_for(
        lambda: env.post("/hp-fn", {"x": 1}, headers=bearer(key), key=None).status_code == 401,
        10,
        "removed key refused",
    )


# -- errors --------------------------------------------------------------------------------


def test_bad_input_is_400_saying_what_was_wrong(env: Env) -> None:
    headers = {**bearer(env.keys["full"]), "content-type": "application/json"}
    bad_json = requests.post(env.gateway.url + "/words", data=b"{not json", headers=headers, timeout=10)
    assert "not valid JSON" in assert_error(bad_json, 400, "bad_request")["message"]
    empty = requests.post(env.gateway.url + "/words", data=b"", headers=headers, timeout=10)
    assert "empty" in assert_error(empty, 400, "bad_request")["message"]
    assert (
        assert_error(env.post("/words", {"txt": "x"}), 400, "bad_request")["message"] == "send 'text' or 'texts'"
    )  # BadRequest from the transform


def test_unknown_route_is_404_and_wrong_method_405(env: Env) -> None:
    assert "/nope" in assert_error(env.post("/nope", {}), 404, "not_found")["message"]
    response = env.get("/hp-fn", {"x": "1"})
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"


def test_body_size_limit_is_413(env: Env) -> None:
    big = {"text": "好 " * 4000}
    assert_error(env.post("/words", big), 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b'{"text": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}'

    headers = {**bearer(env.keys["full"]), "content-type": "application/json"}
    chunked = requests.post(env.gateway.url + "/words", data=chunks(), headers=headers, timeout=10)
    assert_error(chunked, 413, "payload_too_large")


def test_request_id_is_accepted_or_made(env: Env) -> None:
    mine = env.post("/nope", {}, headers={"X-Request-ID": "client-req-42"})
    assert mine.headers["X-Request-ID"] == "client-req-42"
    assert mine.json()["error"]["request_id"] == "client-req-42"
    ok = env.post("/hp-fn", {"x": 1}, headers={"X-Request-ID": "ok-1"})
    assert ok.status_code == 200 and ok.headers["X-Request-ID"] == "ok-1"
    hostile = env.post("/nope", {}, headers={"X-Request-ID": "bad id\twith spaces"})
    assert hostile.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(hostile.headers["X-Request-ID"]) == 32


def test_transform_that_raises_is_500_with_request_id_and_no_traceback(env: Env) -> None:
    response = env.post("/raise", {"x": 1})
    error = assert_error(response, 500, "transform_error")
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert "preprocess" in error["message"]
    request_id = error["request_id"]
    env.gateway.wait_for(lambda: request_id in env.gateway.log(), 5, "log line")
    log = env.gateway.log()
    assert "Traceback" in log and "hunter2" in log  # the operator gets the details
    assert "postprocess" in assert_error(env.post("/raise-post", {}), 500, "transform_error")["message"]
    assert_error(env.post("/not-json", {}), 500, "transform_error")


def test_preprocess_output_that_does_not_fit_the_signature_is_500(env: Env) -> None:
    error = assert_error(env.post("/wrong-inputs", {}), 500, "transform_error")
    assert "not_an_input" in error["message"]


def test_upstream_down_is_503(env: Env) -> None:
    response = env.post("/dead", {"instances": [1.0]})
    error = assert_error(response, 503, "upstream_unavailable")
    assert "dead" in error["message"]
    assert response.headers["Retry-After"] == "1"
    assert_error(env.post("/no-such-model", {"instances": [1.0]}), 503, "model_unavailable")


@pytest.mark.parametrize("path", ["/stalled-rest", "/stalled-grpc"])
def test_upstream_deadline_is_504(env: Env, path: str) -> None:
    began = time.monotonic()
    assert_error(env.post(path, {"instances": [1.0]}), 504, "upstream_timeout")
    assert time.monotonic() - began < 3


def test_health_endpoints_need_no_key(env: Env) -> None:
    assert requests.get(env.gateway.url + "/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(env.gateway.url + "/readyz", timeout=5)
    assert ready.status_code == 503  # the "dead" upstream has no reachable replica
    assert ready.json()["upstreams"]["grpc"] == {
        "replicas": 1,
        "reachable_replicas": 1,
        "models": {"hp": 1, "strings": 1},
    }
    assert "127.0.0.1" not in ready.text  # no addresses to unauthenticated callers


def test_access_log_has_one_line_per_request_with_latency(env: Env) -> None:
    response = env.post("/hp-fn", {"x": 2}, headers={"X-Request-ID": "access-log-check"})
    assert response.status_code == 200
    env.gateway.wait_for(lambda: "request_id=access-log-check" in env.gateway.log(), 5, "access line")
    line = next(text for text in env.gateway.log().splitlines() if "request_id=access-log-check" in text)
    assert '"POST /hp-fn" 200' in line and "ms request_id=" in line and "key=full" in line
