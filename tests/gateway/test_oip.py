"""The gateway in front of OIP v2 model servers: oip-rest (binary and JSON tensors) and oip-grpc upstreams.

The upstream is a fixture with two params: pyserving's own ``/v2`` REST and
``inference.GRPCInferenceService`` endpoints (the suite's server), and NVIDIA
Triton from ``../shared/bench/triton`` (skipped where its virtualenv is absent),
so the same tests show the gateway can front either.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from tests.gateway.support import RunningGateway, closed_port, start_gateway
from tests.helpers import triton
from tests.helpers.server import RunningServer

T = "tests.gateway.transforms"
KINDS = ("oip-rest", "oip-rest-json", "oip-grpc")


@dataclass
class OipPeer:
    """An OIP server to put behind the gateway: its addresses and which test models it serves."""

    name: str
    rest_url: str
    grpc_address: str
    hp: str  # half_plus_two: x FP32 -> y = 0.5x + 2
    strings: str | None  # the lstm stand-in (words BYTES [-1, -1], nwords INT32 [-1]), if served
    refused: tuple[str, dict]  # a pass-through route prefix and a body whose shape the server refuses


@pytest.fixture(scope="module", params=["pyserving", "triton"])
def oip_peer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OipPeer]:
    if request.param == "pyserving":
        server: RunningServer = request.getfixturevalue("model_server")
        # pyserving's half_plus_two clone has an x of unknown rank; the string model's words are rank 2
        refused = ("/predict-words", {"inputs": {"words": ["a", "b"], "nwords": [2]}})
        yield OipPeer("pyserving", server.rest_url, server.grpc_address, "hp", "strings", refused)
        return
    reason = triton.unavailable()
    if reason:
        pytest.skip(f"Triton peer: {reason}")
    running = triton.start_triton(tmp_path_factory.mktemp("gateway-triton"))
    try:
        refused = ("/predict", {"instances": [[1.0, 2.0]]})  # Triton's x is [-1, 1]
        yield OipPeer("triton", running.rest_url, running.grpc_address, triton.MODEL, None, refused)
    finally:
        running.stop()


def _config(peer: OipPeer) -> str:
    rest, grpc = peer.rest_url, peer.grpc_address
    text = f"""
auth = "none"

[upstreams.oip-rest]
protocol = "oip-rest"
replicas = ["{rest}"]
health_interval_ms = 300

[upstreams.oip-rest-json]
protocol = "oip-rest"
replicas = ["{rest}"]
binary_tensors = false
health_interval_ms = 300

[upstreams.oip-grpc]
protocol = "oip-grpc"
replicas = ["{grpc}"]
health_interval_ms = 300

[upstreams.dead-rest]
protocol = "oip-rest"
replicas = ["http://127.0.0.1:{closed_port()}"]
health_interval_ms = 300

[upstreams.dead-grpc]
protocol = "oip-grpc"
replicas = ["127.0.0.1:{closed_port()}"]
health_interval_ms = 300
"""
    for kind in KINDS:
        text += f"""
[[routes]]
path = "/hp/{kind}"
methods = ["GET", "POST"]
upstream = "{kind}"
model = "{peer.hp}"
transform = "{T}:AsyncHalfPlusTwo"

[[routes]]
path = "/predict/{kind}"
upstream = "{kind}"
model = "{peer.hp}"

[[routes]]
path = "/nope/{kind}"
upstream = "{kind}"
model = "nope"
"""
        if peer.strings:
            text += f"""
[[routes]]
path = "/words/{kind}"
upstream = "{kind}"
model = "{peer.strings}"
transform = "{T}:Tokens"

[[routes]]
path = "/predict-words/{kind}"
upstream = "{kind}"
model = "{peer.strings}"
"""
    for kind in ("rest", "grpc"):
        text += f"""
[[routes]]
path = "/dead/{kind}"
upstream = "dead-{kind}"
model = "{peer.hp}"
"""
    return text


@pytest.fixture(scope="module")
def gateway(oip_peer: OipPeer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = tmp_path_factory.mktemp(f"gateway-oip-{oip_peer.name}")
    running = start_gateway(_config(oip_peer), tmp)
    try:
        running.wait_for(
            lambda: all(
                requests.get(f"{running.url}/readyz", timeout=2).json()["upstreams"][kind]["models"][oip_peer.hp] == 1
                for kind in KINDS
            ),
            what="OIP upstreams healthy",
        )
        yield running
    finally:
        running.stop()


def post(gateway: RunningGateway, path: str, body: object) -> requests.Response:
    return requests.post(gateway.url + path, json=body, timeout=20)


@pytest.mark.parametrize("kind", KINDS)
def test_transform_route_runs_the_model_over_oip(gateway: RunningGateway, kind: str) -> None:
    response = post(gateway, f"/hp/{kind}", {"xs": [1.0, 2.0, -4.0]})
    assert response.status_code == 200, response.text
    assert response.json()["ys"] == [2.5, 3.0, 0.0]
    response = requests.get(f"{gateway.url}/hp/{kind}", params={"x": "3"}, timeout=20)
    assert response.status_code == 200, response.text
    assert response.json()["y"] == 3.5


@pytest.mark.parametrize("kind", KINDS)
def test_pass_through_speaks_tf_serving_json_in_front_of_oip(gateway: RunningGateway, kind: str) -> None:
    rows = post(gateway, f"/predict/{kind}", {"instances": [[1.0], [2.0]]})
    assert rows.status_code == 200, rows.text
    assert rows.json() == {"predictions": [[2.5], [3.0]]}
    columns = post(gateway, f"/predict/{kind}", {"inputs": {"x": [[0.5]]}})
    assert columns.status_code == 200, columns.text
    assert columns.json() == {"outputs": [[2.25]]}


@pytest.mark.parametrize("kind", KINDS)
def test_strings_travel_as_bytes_tensors(gateway: RunningGateway, oip_peer: OipPeer, kind: str) -> None:
    if oip_peer.strings is None:
        pytest.skip(f"the {oip_peer.name} peer serves no string model")
    response = post(gateway, f"/words/{kind}", {"texts": ["很 好", "不 好 吃"]})
    assert response.status_code == 200, response.text
    rows = response.json()
    assert len(rows) == 2
    assert all(isinstance(row["label"], str) and 0.0 <= row["pos"] <= 1.0 for row in rows)


@pytest.mark.parametrize("kind", KINDS)
def test_inputs_the_server_rejects_are_400_with_its_message(
    gateway: RunningGateway, oip_peer: OipPeer, kind: str
) -> None:
    prefix, body = oip_peer.refused
    response = post(gateway, f"{prefix}/{kind}", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_argument"
    assert error["message"].startswith(f"upstream '{kind}': ")


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_model_is_503_model_unavailable_and_not_ready(gateway: RunningGateway, kind: str) -> None:
    response = post(gateway, f"/nope/{kind}", {"instances": [[1.0]]})
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "model_unavailable"
    health = requests.get(f"{gateway.url}/readyz", timeout=5).json()["upstreams"][kind]
    assert health["models"]["nope"] == 0 and health["reachable_replicas"] == 1


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_unreachable_oip_upstream_is_503(gateway: RunningGateway, kind: str) -> None:
    response = post(gateway, f"/dead/{kind}", {"instances": [[1.0]]})
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "upstream_unavailable"
    gateway.wait_for(
        lambda: (
            requests.get(f"{gateway.url}/readyz", timeout=5).json()["upstreams"][f"dead-{kind}"]["reachable_replicas"]
            == 0
        ),
        10,
        "dead upstream probed",
    )


def test_oip_upstreams_import_no_tensorflow() -> None:
    """A gateway with only OIP upstreams stays small: tritonclient's protos, not TensorFlow's."""
    code = (
        "import sys, asyncio\n"
        "from pyserving.gateway.config import UpstreamConfig\n"
        "from pyserving.gateway.transports import create_transport\n"
        "async def main():\n"
        "    for p, a in [('oip-grpc', '127.0.0.1:1'), ('oip-rest', 'http://127.0.0.1:1')]:\n"
        "        await create_transport(p, a, UpstreamConfig('u', p, (a,))).aclose()\n"
        "asyncio.run(main())\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
