"""TLS: gRPC through TF Serving's --ssl_config_file, REST through --rest_api_ssl_*; with and without client certs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from pyserving.apis.tensor_proto import array_to_tensor
from tests.helpers.server import RunningServer, run_serve, start_server

pytest.importorskip("cryptography", reason="the TLS tests make their certificates with cryptography")

from tests.ops.certs import Pair, TestPki, make_pki


def _quoted(pem: bytes) -> str:
    return '"' + pem.decode().replace("\n", "\\n") + '"'


def write_ssl_config(path: Path, pki: TestPki, client_verify: bool) -> Path:
    lines = [f"server_key: {_quoted(pki.server.key_pem)}", f"server_cert: {_quoted(pki.server.cert_pem)}"]
    if client_verify:
        lines += [f"custom_ca: {_quoted(pki.ca.cert_pem)}", "client_verify: true"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestPki, Path]:
    directory = tmp_path_factory.mktemp("pki")
    pki = make_pki()
    pki.ca.write(directory, "ca")
    pki.server.write(directory, "server")
    pki.client.write(directory, "client")
    pki.stranger.write(directory, "stranger")
    return pki, directory


def https(server: RunningServer, path: str) -> str:
    return f"https://127.0.0.1:{server.rest_port}{path}"


def start_tls_server(ops_models: Path, tmp: Path, pki: TestPki, directory: Path, client_verify: bool) -> RunningServer:
    ssl_config = write_ssl_config(tmp / "ssl.config", pki, client_verify)
    flags = [
        "--model_name=hp",
        f"--model_base_path={ops_models / 'half_plus_two'}",
        f"--ssl_config_file={ssl_config}",
        f"--rest_api_ssl_certfile={directory / 'server.crt'}",
        f"--rest_api_ssl_keyfile={directory / 'server.key'}",
    ]
    cert = None
    if client_verify:
        flags += [f"--rest_api_ssl_ca_certs={directory / 'ca.crt'}", "--rest_api_ssl_client_verify"]
        cert = (str(directory / "client.crt"), str(directory / "client.key"))

    def ready(server: RunningServer) -> bool:
        r = requests.get(https(server, "/readyz"), verify=str(directory / "ca.crt"), cert=cert, timeout=2)
        return r.status_code == 200

    return start_server(flags, tmp, ready=ready)


@pytest.fixture(scope="module")
def tls_server(
    ops_models: Path, pki: tuple[TestPki, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    server = start_tls_server(ops_models, tmp_path_factory.mktemp("tls"), *pki, client_verify=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mtls_server(
    ops_models: Path, pki: tuple[TestPki, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    server = start_tls_server(ops_models, tmp_path_factory.mktemp("mtls"), *pki, client_verify=True)
    yield server
    server.stop()


def predict(channel: grpc.Channel) -> list[float]:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hp"
    array_to_tensor(np.array([[1.0]], np.float32), out=request.inputs["x"])
    response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)
    return list(response.outputs["y"].float_val)


def secure_channel(server: RunningServer, pki: TestPki, client: Pair | None = None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.cert_pem,
        private_key=client.key_pem if client else None,
        certificate_chain=client.cert_pem if client else None,
    )
    return grpc.secure_channel(
        server.grpc_address, credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    )


def test_grpc_serves_tls_and_refuses_plaintext(tls_server: RunningServer, pki: tuple[TestPki, Path]) -> None:
    with secure_channel(tls_server, pki[0]) as channel:
        assert predict(channel) == [2.5]
    with grpc.insecure_channel(tls_server.grpc_address) as channel, pytest.raises(grpc.RpcError) as error:
        predict(channel)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_rest_serves_https_without_client_certificates(tls_server: RunningServer, pki: tuple[TestPki, Path]) -> None:
    ca = str(pki[1] / "ca.crt")
    r = requests.post(https(tls_server, "/v1/models/hp:predict"), json={"instances": [[2.0]]}, verify=ca, timeout=10)
    assert r.status_code == 200 and r.json() == {"predictions": [[3.0]]}
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{tls_server.rest_port}/healthz", timeout=5)
    with pytest.raises(requests.exceptions.SSLError):  # our CA is not in the system store
        requests.get(https(tls_server, "/healthz"), timeout=5)


def test_grpc_mutual_tls_requires_a_client_certificate_from_the_ca(
    mtls_server: RunningServer, pki: tuple[TestPki, Path]
) -> None:
    certs = pki[0]
    with secure_channel(mtls_server, certs, certs.client) as channel:
        assert predict(channel) == [2.5]
    for client in (None, certs.stranger):
        with secure_channel(mtls_server, certs, client) as channel, pytest.raises(grpc.RpcError) as error:
            predict(channel)
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_rest_mutual_tls_requires_a_client_certificate_from_the_ca(
    mtls_server: RunningServer, pki: tuple[TestPki, Path]
) -> None:
    directory = pki[1]
    ca = str(directory / "ca.crt")
    good = (str(directory / "client.crt"), str(directory / "client.key"))
    stranger = (str(directory / "stranger.crt"), str(directory / "stranger.key"))
    r = requests.get(https(mtls_server, "/v1/models/hp"), verify=ca, cert=good, timeout=10)
    assert r.status_code == 200
    for cert in (None, stranger):
        with pytest.raises(requests.ConnectionError):  # SSLError is a ConnectionError
            requests.get(https(mtls_server, "/v1/models/hp"), verify=ca, cert=cert, timeout=10)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ssl_config_file={bad}"], "client_verify: true needs custom_ca"),
        (["--use_alts_credentials"], "--use_alts_credentials is not supported"),
        (["--rest_api_ssl_client_verify", "--rest_api_ssl_certfile=/x.crt"], "needs --rest_api_ssl_ca_certs"),
    ],
)
def test_tls_misconfiguration_stops_startup(
    tmp_path: Path, pki: tuple[TestPki, Path], flags: list[str], message: str
) -> None:
    bad = tmp_path / "bad.config"
    bad.write_text(
        f"server_key: {_quoted(pki[0].server.key_pem)}\nserver_cert: "
        f"{_quoted(pki[0].server.cert_pem)}\nclient_verify: true\n"
    )
    result = run_serve(f"--model_base_path={tmp_path}", *(f.format(bad=bad) for f in flags))
    assert result.returncode == 255
    assert message in result.stderr
