"""Slow and idle REST clients do not stop the server from serving the others.

1,000 idle keep-alive connections and 50 clients that dribble their headers a byte at a time are
held open while normal requests are answered; the dribblers are cut off with a JSON 408 after
``--rest_api_header_timeout_seconds``; past ``--rest_api_max_connections`` a connection gets a
JSON 503. Latency is not asserted here (bench/soak.py reports it).
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import orjson
import requests

from tests.helpers.server import start_server
from tests.server.test_rest_hostile import read_response

IDLE = 1000
DRIBBLERS = 50
HEADER_TIMEOUT = 3
MAX_CONNECTIONS = 1100


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def test_idle_and_dribbling_clients_leave_the_server_serving(model_root: Path, tmp_path: Path) -> None:
    server = start_server(
        [
            f"--model_base_path={model_root / 'half_plus_two'}",
            "--model_name=m",
            f"--rest_api_header_timeout_seconds={HEADER_TIMEOUT}",
            "--rest_api_keep_alive_timeout_seconds=120",
            f"--rest_api_max_connections={MAX_CONNECTIONS}",
        ],
        tmp_path,
        wait_models=["m"],
        grpc=False,
    )
    sockets: list[socket.socket] = []
    stop = threading.Event()
    try:
        session = requests.Session()  # the normal client's connection, opened first
        assert session.get(f"{server.rest_url}/v1/models/m", timeout=30).status_code == 200
        idle = []
        for _ in range(IDLE):  # each makes one request, then stays open, idle
            sock = _connect(server.rest_port)
            sock.sendall(b"GET /v1/models/m HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock)[0] == 200
            idle.append(sock)
        sockets += idle
        dribblers = [_connect(server.rest_port) for _ in range(DRIBBLERS)]
        sockets += dribblers
        line = b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + b"X: y\r\n" * 50

        def dribble() -> None:
            for i in range(len(line)):  # one byte per client per round, never the blank line
                if stop.wait(0.05):
                    return
                for sock in dribblers:
                    try:
                        sock.sendall(line[i : i + 1])
                    except OSError:
                        pass  # cut off by the header timeout

        dribbling = threading.Thread(target=dribble, daemon=True)
        dribbling.start()
        for i in range(200):  # normal requests are served meanwhile
            r = session.post(f"{server.rest_url}/v1/models/m:predict", json={"instances": [[float(i)]]}, timeout=30)
            assert r.json() == {"predictions": [[i / 2 + 2]]}
        for sock in dribblers:  # cut off, with a JSON 408
            status, headers, body = read_response(sock)
            assert status == 408 and headers["content-type"] == "application/json"
            assert "--rest_api_header_timeout_seconds" in orjson.loads(body)["error"]
        stop.set()
        dribbling.join(30)
        for sock in idle[:10]:  # the idle connections are still usable
            sock.sendall(
                b'POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 22\r\n\r\n{"instances": [[4.0]]}'
            )
            status, _, body = read_response(sock)
            assert status == 200 and orjson.loads(body) == {"predictions": [[4.0]]}
        refused = None
        for _ in range(MAX_CONNECTIONS):  # open more until the limit answers (bounded)
            sock = _connect(server.rest_port)
            sockets.append(sock)
            sock.sendall(b"GET /v1/models/m HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = read_response(sock)
            if status != 200:
                refused = (status, headers, body)
                break
        assert refused is not None
        status, headers, body = refused
        assert status == 503 and headers["content-type"] == "application/json"
        assert "--rest_api_max_connections" in orjson.loads(body)["error"]
        # refused at the limit: the idle ones, the session and the ones opened here (dribblers were closed)
        assert IDLE + 1 + (len(sockets) - IDLE - DRIBBLERS) - 1 == MAX_CONNECTIONS
    finally:
        stop.set()
        for sock in sockets:
            sock.close()
        server.stop()
    assert "Traceback" not in server.log()
