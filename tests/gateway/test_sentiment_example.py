"""examples/sentiment end to end: its gateway.toml and transform (jieba) in front of a real server.

Twice: against the project's exported string model (always; it scores 好 positive
and 差 negative, so jieba's tokens decide) over gRPC as the example ships, and
against the bundled lstm model (examples/models/lstm) over REST.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.gateway.support import RunningGateway, bearer, make_key, start_gateway
from tests.helpers.server import REPO, RunningServer, start_server
from tests.helpers.shared import LSTM_MODEL

pytest.importorskip("jieba")

EXAMPLE = REPO / "examples" / "sentiment"
POSITIVE, NEGATIVE = "这家酒店很好", "房间很脏，服务太差"


@dataclass
class Example:
    gateway: RunningGateway
    key: str  # subscribed to /sentiment only
    admin: str  # subscribed to every route

    def sentiment(self, body: object, key: str | None = None) -> requests.Response:
        return requests.post(f"{self.gateway.url}/sentiment", json=body, headers=bearer(key or self.key), timeout=30)


def _example_config(keys_file: Path, upstream: str, protocol: str, model: str) -> str:
    text = (EXAMPLE / "gateway.toml").read_text(encoding="utf-8")
    for old, new in [
        ('"127.0.0.1:8500"', f'"{upstream}"'),
        ('keys_file = "keys.toml"', f'keys_file = "{keys_file}"'),
        ('python_path = ["."]', f'python_path = ["{EXAMPLE}"]'),
        ('protocol = "grpc"', f'protocol = "{protocol}"'),
    ]:
        assert old in text, f"examples/sentiment/gateway.toml no longer has {old}"
        text = text.replace(old, new)
    return text.replace('model = "lstm"', f'model = "{model}"')


@pytest.fixture(scope="module", params=["string_model", "lstm"])
def example(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    tmp = tmp_path_factory.mktemp(f"sentiment-{request.param}")
    key, entry = make_key("frontend", ["/sentiment"])
    admin, admin_entry = make_key("ops", ["*"])
    keys_file = tmp / "keys.toml"
    keys_file.write_text(
        entry + "\n" + admin_entry + "\n" + (EXAMPLE / "keys.example.toml").read_text(encoding="utf-8")
    )
    server: RunningServer | None = None
    if request.param == "string_model":
        shared_server: RunningServer = request.getfixturevalue("model_server")
        config = _example_config(keys_file, shared_server.grpc_address, "grpc", "strings")
    else:
        server = start_server(["--model_name=lstm", f"--model_base_path={LSTM_MODEL}"], tmp, wait_models=("lstm",))
        config = _example_config(keys_file, server.rest_url, "rest", "lstm")
    try:
        gateway = start_gateway(config, tmp)
        try:
            gateway.wait_ready()
            yield Example(gateway, key, admin)
        finally:
            gateway.stop()
    finally:
        if server is not None:
            server.stop()


def test_positive_and_negative_reviews(example: Example) -> None:
    for text, label in [(POSITIVE, "POS"), (NEGATIVE, "NEG")]:
        response = example.sentiment({"text": text})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["label"] == label, (text, body)
        assert set(body["scores"]) == {"NEG", "POS"}
        assert body["confidence"] == body["scores"][label] > 0.5


def test_batch_of_texts_keeps_order(example: Example) -> None:
    body = example.sentiment({"texts": [POSITIVE, NEGATIVE, POSITIVE]}).json()
    assert [row["label"] for row in body] == ["POS", "NEG", "POS"]


def test_get_with_query_parameter(example: Example) -> None:
    response = requests.get(
        f"{example.gateway.url}/sentiment", params={"text": NEGATIVE}, headers=bearer(example.key), timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json()["label"] == "NEG"


def test_shipped_demo_key_works(example: Example) -> None:
    assert example.sentiment({"text": POSITIVE}, key="demo.example-key-do-not-deploy").status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"text": ""}, "every text must be a non-empty string"),
        ({"texts": []}, "'texts' must be a non-empty list of strings"),
        ({"texts": ["好"] * 65}, "at most 64 texts per request, got 65"),
        ({"review": "好"}, "missing 'text'"),
        (["好"], "expected a JSON object"),
    ],
)
def test_bad_input_is_400_with_the_reason(example: Example, body: object, message: str) -> None:
    response = example.sentiment(body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]


def test_pass_through_route_is_scoped(example: Example) -> None:
    body = {"instances": [{"words": ["很", "好"], "nwords": 2}]}
    url = f"{example.gateway.url}/models/lstm/predict"
    assert requests.post(url, json=body, headers=bearer(example.key), timeout=30).status_code == 403
    response = requests.post(url, json=body, headers=bearer(example.admin), timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["labels"] == "POS"
