"""REST input that a hostile client sends: every answer is a JSON object with ``error``, never a 500.

The families of issue 17 that the JSON codec does not see: base64, version digits, OPTIONS, URL
and header sizes (``--rest_api_max_url_bytes``, ``--rest_api_max_header_bytes``), broken framing
and clients that never finish their headers (``--rest_api_header_timeout_seconds``). Raw sockets
where ``requests`` would refuse to send the bytes.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests
from tensorflow.core.example import example_pb2

from tests.helpers.server import RunningServer, serve_models, start_server

HEADER_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server(model_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("hostile")
    running = serve_models(
        [
            {"name": "half_plus_two", "base_path": str(model_root / "half_plus_two")},
            {"name": "two_versions", "base_path": str(model_root / "two_versions"), "labels": {"stable": 123}},
        ],
        tmp,
        f"--rest_api_header_timeout_seconds={HEADER_TIMEOUT}",
    )
    try:
        yield running
    finally:
        running.stop()


def raw(server: RunningServer, data: bytes, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """Sends ``data`` on a new connection and reads one response (the server closes or sends it whole)."""
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {buffer[:200]!r}")
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body[:length]


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int, message: str) -> None:
    assert status == expected, (status, body[:300])
    assert headers["content-type"] == "application/json", headers
    error = orjson.loads(body)["error"]
    assert message in error, error


def example(x: float) -> bytes:
    proto = example_pb2.Example()
    proto.features.feature["x"].float_list.value.append(x)
    return proto.SerializeToString()


def post(server: RunningServer, path: str, body: object) -> requests.Response:
    return requests.post(server.rest_url + path, data=orjson.dumps(body), timeout=30)


def test_b64_that_is_not_base64_is_400(server: RunningServer) -> None:
    for junk in ("!!!", "a!b=", "ab$d", "+-ab", "a"):
        r = post(
            server,
            "/v1/models/half_plus_two:predict",
            {"signature_name": "classify_x_to_y", "instances": [{"b64": junk}]},
        )
        assert r.status_code == 400, (junk, r.text)
        assert "Unable to base64 decode" in r.json()["error"]


def test_b64_standard_and_web_safe_without_padding_still_decode(server: RunningServer) -> None:
    data = example(2.0)
    for encoded in (base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode().rstrip("=")):
        r = post(
            server,
            "/v1/models/half_plus_two:predict",
            {"signature_name": "regress_x_to_y", "instances": [{"b64": encoded}]},
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"predictions": [[3.0]]}


def test_bad_example_bytes_through_regress_are_400(server: RunningServer) -> None:
    for junk in (b"\xff\xfe\xfd", b"\x0a\x05\xff\xff", b"\x0a" + b"\xff" * 10):
        r = post(
            server,
            "/v1/models/half_plus_two:predict",
            {"signature_name": "regress_x_to_y", "instances": [{"b64": base64.b64encode(junk).decode()}]},
        )
        assert r.status_code == 400, (junk, r.text)
        assert r.json()["error"]


@pytest.mark.parametrize("version", ["9" * 10_000, "0" * 5000 + "124", "9" * 20, "١٢٣", "123٤"])
def test_versions_that_are_not_int64_are_400(server: RunningServer, version: str) -> None:
    get = requests.get(f"{server.rest_url}/v1/models/two_versions/versions/{version}", timeout=30)
    posted = post(server, f"/v1/models/two_versions/versions/{version}:predict", {"instances": [[1.0]]})
    for r in (get, posted):
        if version == "0" * 5000 + "124":  # leading zeros: still version 124, as TF Serving parses it
            assert r.status_code == 200, r.text[:300]
            continue
        assert r.status_code == 400, r.text[:300]
        assert len(r.json()["error"]) < 1000


def test_options_is_json(server: RunningServer) -> None:
    r = requests.options(server.rest_url + "/v1/models/half_plus_two:predict", timeout=10)
    assert r.status_code == 400
    assert "Origin" in r.json()["error"]
    assert (
        requests.options(
            server.rest_url + "/v1/models/half_plus_two:predict", headers={"Origin": "https://example.com"}, timeout=10
        ).status_code
        == 200
    )


def test_unknown_paths_are_json_404(server: RunningServer) -> None:
    for path in ("/nothing", "/v2/models", "/%ff%fe", "/" + "x" * 5000):  # "/" is the console
        r = requests.get(server.rest_url + path, timeout=10)
        assert r.status_code == 404, path
        assert "Not found" in r.json()["error"]


@pytest.mark.parametrize("where", ["model name", "label", "query", "version"])
def test_a_64_kib_url_is_414_json(server: RunningServer, where: str) -> None:
    long = "a" * 65536
    path = {
        "model name": f"/v1/models/{long}:predict",
        "label": f"/v1/models/two_versions/labels/{long}",
        "query": f"/v1/models/half_plus_two?{long}",
        "version": f"/v1/models/x/versions/{'1' * 65536}",
    }[where]
    assert_json_error(*raw(server, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()), 414, "--rest_api_max_url_bytes")


def test_a_64_kib_header_is_431_json(server: RunningServer) -> None:
    request = b"GET /v1/models/half_plus_two HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 65536 + b"\r\n\r\n"
    assert_json_error(*raw(server, request), 431, "--rest_api_max_header_bytes")
    many = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(1000))
    assert_json_error(
        *raw(server, b"GET /v1/models/half_plus_two HTTP/1.1\r\n" + many + b"\r\n"), 431, "--rest_api_max_header_bytes"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello on the plain port
        b"POST /v1/models/half_plus_two:predict HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n12345",
        b"POST /v1/models/half_plus_two:predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /v1/models/half_plus_two HTTP/1.1\r\nBad Header Name: x\r\n\r\n",
        b"GET /v1/models/half_plus_two HTTP/1.1\r\nX: \x00\x01\r\n\r\n",
    ],
    ids=["garbage", "version", "tls", "two lengths", "bad chunk", "space in name", "control bytes"],
)
def test_broken_framing_is_400_json(server: RunningServer, data: bytes) -> None:
    assert_json_error(*raw(server, data), 400, "Invalid HTTP request")


def test_headers_that_never_end_are_408_json(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=30) as sock:
        sock.sendall(b"GET /v1/models/half_plus_two HTTP/1.1\r\nHost: x\r\n")  # no blank line, ever
        assert_json_error(*read_response(sock), 408, "--rest_api_header_timeout_seconds")
        assert sock.recv(1) == b""  # and closed
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=30) as sock:
        assert_json_error(*read_response(sock), 408, "--rest_api_header_timeout_seconds")  # nothing sent


def test_an_upgrade_request_is_answered_as_http_1_1(server: RunningServer) -> None:
    status, _, body = raw(
        server,
        b"GET /v1/models/half_plus_two HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, "
        b"HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    )
    assert status == 200, body
    assert orjson.loads(body)["model_version_status"][0]["state"] == "AVAILABLE"


def test_the_server_still_serves(server: RunningServer) -> None:
    r = post(server, "/v1/models/half_plus_two:predict", {"instances": [[1.0]]})
    assert r.json() == {"predictions": [[2.5]]}
    assert server.process.poll() is None
    assert "Traceback" not in server.log()


def test_a_body_that_never_ends_is_408_json(model_root: Path, tmp_path: Path) -> None:
    server = start_server(
        [f"--model_base_path={model_root / 'half_plus_two'}", "--model_name=hp2", "--rest_api_body_timeout_seconds=1"],
        tmp_path,
        wait_models=["hp2"],
    )
    try:
        with socket.create_connection(("127.0.0.1", server.rest_port), timeout=30) as sock:
            sock.sendall(b'POST /v1/models/hp2:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"inst')
            assert_json_error(*read_response(sock), 408, "--rest_api_body_timeout_seconds")
            assert sock.recv(1) == b""
        r = requests.post(f"{server.rest_url}/v1/models/hp2:predict", json={"instances": [[1.0]]}, timeout=30)
        assert r.json() == {"predictions": [[2.5]]}
    finally:
        server.stop()
    assert "Traceback" not in server.log()
