"""Production layout: real nginx (deploy/nginx) -> gunicorn + uvicorn workers (gateway) -> model server.

nginx runs unprivileged-port, with pid file, logs and temp paths inside
tmp_path. Skipped when there is no nginx binary (CI installs the Debian
package); the gateway runs under gunicorn when it is installed, else under
``pyserving gateway --workers 2``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.gateway.support import RunningGateway, bearer, die_with_parent, make_key, start_gateway
from tests.helpers.server import REPO, RunningServer, free_port

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)
pytestmark = pytest.mark.skipif(NGINX is None, reason="no nginx binary (apt-get install nginx)")

SNIPPET = REPO / "deploy" / "nginx" / "pyserving-gateway.conf"
EXAMPLE = REPO / "examples" / "sentiment"


@dataclass
class Stack:
    url: str
    gateway: RunningGateway
    nginx: subprocess.Popen[bytes]
    tmp: Path
    key: str

    def post(self, path: str, body: object, **headers: str) -> requests.Response:
        return requests.post(self.url + path, json=body, timeout=30, headers={**bearer(self.key), **headers})


def _gateway_command() -> list[str] | None:
    if importlib.util.find_spec("gunicorn") is None:
        return None
    worker = (
        "uvicorn_worker.UvicornWorker"
        if importlib.util.find_spec("uvicorn_worker")
        else "uvicorn.workers.UvicornWorker"
    )
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-k",
        worker,
        "-w",
        "2",
        "-b",
        "127.0.0.1:{port}",
        "--graceful-timeout",
        "5",
        "pyserving.gateway.app:create_app_from_env()",
    ]


def _nginx_config(tmp: Path, port: int, gateway_port: int) -> Path:
    snippet = SNIPPET.read_text()
    for old, new in [
        ("server 127.0.0.1:8080", f"server 127.0.0.1:{gateway_port}"),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("/var/log/nginx/pyserving-gateway.access.log", str(tmp / "access.log")),
    ]:
        assert old in snippet, f"{SNIPPET} no longer has {old!r}"
        snippet = snippet.replace(old, new)
    (tmp / "pyserving-gateway.conf").write_text(snippet)
    temp = "\n".join(
        f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach tmp_path
    conf = tmp / "nginx.conf"
    conf.write_text(f"""{user}worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
{temp}
    include {tmp / "pyserving-gateway.conf"};
}}
""")
    return conf


@pytest.fixture(scope="module")
def stack(model_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    pytest.importorskip("jieba")
    tmp = tmp_path_factory.mktemp("nginx")
    key, entry = make_key("web", ["/sentiment"])
    keys_file = tmp / "keys.toml"
    keys_file.write_text(entry)
    config = (EXAMPLE / "gateway.toml").read_text(encoding="utf-8")
    for old, new in [
        ('"127.0.0.1:8500"', f'"{model_server.rest_url}"'),
        ('protocol = "grpc"', 'protocol = "rest"'),
        ('keys_file = "keys.toml"', f'keys_file = "{keys_file}"'),
        ('python_path = ["."]', f'python_path = ["{EXAMPLE}"]'),
        ('model = "lstm"', 'model = "strings"'),
    ]:
        config = config.replace(old, new)
    command = _gateway_command()
    gateway = start_gateway(
        config,
        tmp,
        command=command,
        env={"PYSERVING_GATEWAY_CONFIG": "{config}"} if command else None,
        extra_args=() if command else ("--workers", "2"),
    )
    nginx_out = open(tmp / "nginx.out", "wb")
    nginx: subprocess.Popen[bytes] | None = None
    try:
        port = free_port()
        conf = _nginx_config(tmp, port, gateway.port)
        nginx = subprocess.Popen(
            [NGINX, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(conf), "-g", "daemon off;"],
            stdout=nginx_out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if nginx.poll() is not None:  # type: ignore[union-attr]
                raise AssertionError(
                    f"nginx exited:\n{(tmp / 'nginx.out').read_text()}\n"
                    f"{(tmp / 'error.log').read_text() if (tmp / 'error.log').exists() else ''}"
                )
            return requests.get(url + "/readyz", timeout=2).status_code == 200

        gateway.wait_for(up, 30, "nginx -> gateway -> model server")
        yield Stack(url, gateway, nginx, tmp, key)
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        nginx_out.close()
        gateway.stop()


def test_sentiment_through_nginx(stack: Stack) -> None:
    response = stack.post("/sentiment", {"text": "这家酒店很好"})
    assert response.status_code == 200, response.text
    assert response.json()["label"] == "POS"
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32  # made by nginx ($request_id), passed to the gateway
    stack.gateway.wait_for(lambda: f"request_id={request_id}" in stack.gateway.log(), 5, "gateway log")
    stack.gateway.wait_for(
        lambda: f"request_id={request_id}" in (stack.tmp / "access.log").read_text(), 5, "nginx access log"
    )  # nginx logs after it has answered


def test_callers_request_id_survives_both_hops(stack: Stack) -> None:
    response = stack.post("/sentiment", {"text": "房间很脏，服务太差"}, **{"X-Request-ID": "trace-7"})
    assert response.json()["label"] == "NEG"
    assert response.headers["X-Request-ID"] == "trace-7"


def test_gateway_errors_pass_through_nginx_unchanged(stack: Stack) -> None:
    response = requests.post(stack.url + "/sentiment", json={"text": "好"}, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    big = stack.post("/sentiment", {"text": "好" * 40000})  # over the gateway's 64 KiB, under nginx's 1 MiB
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "payload_too_large"


def test_nginx_own_errors_use_the_same_json_shape(stack: Stack) -> None:
    huge = requests.post(
        stack.url + "/sentiment",
        data=b"x" * (2 << 20),
        timeout=30,
        headers={"content-type": "application/json", "X-Request-ID": "big-1"},
    )
    assert huge.status_code == 413
    assert huge.json() == {
        "error": {
            "code": "payload_too_large",
            "message": "request body exceeds nginx client_max_body_size",
            "request_id": "big-1",
        }
    }


def test_gateway_down_is_a_json_503_from_nginx(stack: Stack) -> None:
    stack.gateway.stop()  # last test of the module
    response = stack.post("/sentiment", {"text": "好"})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "gateway_unavailable"
    assert error["request_id"] == response.headers["X-Request-ID"]
