"""Load generators for the benchmark suite: wrk or a Python HTTP/1.1 client for REST, grpc.aio for gRPC.

Used by ``bench/run.py``; each generator also runs alone:

    python -m bench.load http --url http://127.0.0.1:8501/v1/models/m:predict --body-file body.json \\
                              -c 64 -d 10 --warmup 2 [--wrk | --python] [--header NAME:VALUE ...]
    python -m bench.load grpc --target 127.0.0.1:8500 --model m --rows 1 --width 1 -c 16 -d 10 --warmup 2
                              [--method /inference.GRPCInferenceService/ModelInfer --request-file F]

(from the repository root: ``bench`` is a package, and the suite imports ``tests.helpers`` as one)

Every generator prints one JSON line (``LoadResult``): requests and errors counted in the
measured window, req/s, p50/p99 latency in ms, and which generator ran.

* REST, wrk (when ``shutil.which("wrk")``): one thread (``-t1``), ``-c N`` keep-alive
  connections, a generated Lua script that POSTs the body file and writes wrk's own
  summary (requests, errors, latency percentiles) as JSON from its ``done`` hook.
  ``--latency`` is passed too, and its text distribution is the fallback parse. A separate
  ``-d WARMUP`` run comes first and is discarded.
* REST, Python: N connections on raw asyncio (uvloop when installed) protocols, one
  request in flight per connection, reconnecting when the server closes
  (``Connection: close``); always run in a child process, so it shares no GIL with the
  caller. Requests completing in the window after the warm-up are counted.
* gRPC: ``grpc.aio`` in a child process, N calls in flight spread over C channels (each
  its own TCP connection), calling ``/tensorflow.serving.PredictionService/Predict``
  with a pre-serialized request and no response parsing, so the client spends as little
  CPU as grpc allows; the same for every server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]

PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"


@dataclass
class LoadResult:
    generator: str
    connections: int
    seconds: float
    requests: int
    errors: int
    req_s: float
    p50_ms: float
    p99_ms: float
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _percentile(sorted_values, q: float) -> float:
    if not len(sorted_values):
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def _summarize(
    generator: str, connections: int, seconds: float, latencies: list[float], errors: int, note: str = ""
) -> LoadResult:
    latencies.sort()
    count = len(latencies)
    return LoadResult(
        generator,
        connections,
        seconds,
        count,
        errors,
        count / seconds if seconds > 0 else 0.0,
        _percentile(latencies, 0.50) * 1000,
        _percentile(latencies, 0.99) * 1000,
        note,
    )


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run_child(argv: list[str], timeout: float) -> LoadResult:
    """Runs ``python -m bench.load ...`` (from the repository root) and parses its last JSON line."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.load", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_child_env(),
        cwd=REPO,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return LoadResult(**json.loads(lines[-1]))


# --------------------------------------------------------------------------- REST: wrk

WRK_LUA = """\
local f = assert(io.open({path}, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
{headers}
function done(summary, latency, requests)
  io.write(string.format(
    "WRKJSON {{\\"requests\\": %d, \\"duration_us\\": %d, \\"connect\\": %d, \\"read\\": %d, " ..
    "\\"write\\": %d, \\"status\\": %d, \\"timeout\\": %d, \\"p50_us\\": %f, \\"p99_us\\": %f}}\\n",
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _parse_wrk_text(text: str) -> dict:
    """Fallback parse of wrk's ``--latency`` text output."""
    out: dict = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if m:
        out["requests"] = int(m.group(1))
        out["duration_us"] = float(m.group(2)) * _UNITS[m.group(3)] * 1000
    for pct, key in (("50", "p50_us"), ("99", "p99_us")):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        if m:
            out[key] = float(m.group(1)) * _UNITS[m.group(2)] * 1000
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["status"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out.update(connect=int(m.group(1)), read=int(m.group(2)), write=int(m.group(3)), timeout=int(m.group(4)))
    return out


def run_wrk(
    url: str,
    body: bytes,
    connections: int,
    duration: float,
    warmup: float,
    wrk: str = "wrk",
    timeout_s: int = 10,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """``headers`` are set (or override Content-Type) on every request, e.g. Inference-Header-Content-Length."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        body_path = Path(tmp) / "body.json"
        body_path.write_bytes(body)
        script = Path(tmp) / "post.lua"
        lines = "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in (headers or {}).items())
        script.write_text(WRK_LUA.format(path=json.dumps(str(body_path)), headers=lines))

        def once(seconds: float) -> str:
            argv = [
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                f"--timeout={timeout_s}s",
                "--latency",
                "-s",
                str(script),
                url,
            ]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_s + 30)
            if proc.returncode != 0:
                raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr[-2000:]}{proc.stdout[-2000:]}")
            return proc.stdout

        if warmup > 0:
            once(warmup)
        text = once(duration)
    line = next((ln for ln in text.splitlines() if ln.startswith("WRKJSON ")), None)
    data = json.loads(line[len("WRKJSON ") :]) if line else _parse_wrk_text(text)
    seconds = data["duration_us"] / 1e6
    socket_errors = sum(int(data.get(k, 0)) for k in ("connect", "read", "write", "timeout"))
    errors = int(data.get("status", 0)) + socket_errors
    requests = int(data["requests"])
    note = ""
    if data.get("read") and not data.get("status"):
        note = "read errors: server closes connections"
    return LoadResult(
        "wrk",
        connections,
        seconds,
        requests,
        errors,
        requests / seconds,
        data["p50_us"] / 1000,
        data["p99_us"] / 1000,
        note,
    )


# --------------------------------------------------------------------------- REST: Python


class _HttpLoad:
    """Shared state of the Python HTTP generator's connections."""

    def __init__(self, host: str, port: int, request: bytes, warmup: float, duration: float, count: int | None) -> None:
        self.host, self.port, self.request = host, port, request
        self.count = count
        now = time.perf_counter()
        self.measure_start = now + warmup
        self.measure_end = self.measure_start + duration if count is None else float("inf")
        self.last_end = self.measure_start
        self.latencies: list[float] = []
        self.errors = 0
        self.running = True
        self.done = asyncio.get_running_loop().create_future()

    def record(self, started: float, ended: float, ok: bool) -> None:
        if ended < self.measure_start:
            return
        if ended > self.measure_end:
            self.finish()
            return
        if ok:
            self.latencies.append(ended - started)
        else:
            self.errors += 1
        self.last_end = ended
        if self.count is not None and len(self.latencies) + self.errors >= self.count:
            self.finish()

    def finish(self) -> None:
        if self.running:
            self.running = False
            if not self.done.done():
                self.done.set_result(None)

    def connect(self) -> None:
        loop = asyncio.get_running_loop()

        async def open_one() -> None:
            try:
                await loop.create_connection(lambda: _HttpConnection(self), self.host, self.port)
            except OSError:
                self.errors += 1
                if self.running:
                    await asyncio.sleep(0.01)
                    self.connect()

        loop.create_task(open_one())


class _HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with one request in flight (Content-Length or chunked)."""

    def __init__(self, load: _HttpLoad) -> None:
        self.load = load
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.sent_at = 0.0
        self.closing = False

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.send()

    def send(self) -> None:
        if not self.load.running:
            self.closing = True
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.load.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        buf = self.buffer
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(buf[:head_end]).lower()
        body_start = head_end + 4
        idx = head.find(b"\r\ncontent-length:")
        if idx >= 0:
            stop = head.find(b"\r\n", idx + 2)
            length = int(head[idx + 17 : stop if stop >= 0 else None])
            end = body_start + length
            if len(buf) < end:
                return
        elif b"\r\ntransfer-encoding: chunked" in head:
            end = self._chunked_end(body_start)
            if end < 0:
                return
        else:  # no framing: read until close
            return
        ended = time.perf_counter()
        ok = buf[9:12] == b"200"
        keep_alive = b"\r\nconnection: close" not in head
        del buf[:end]
        self.load.record(self.sent_at, ended, ok)
        if keep_alive:
            self.send()
        else:
            self.closing = True
            self.transport.close()
            if self.load.running:
                self.load.connect()

    def _chunked_end(self, pos: int) -> int:
        buf = self.buffer
        while True:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                return -1
            size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
            pos = line_end + 2 + size + 2
            if len(buf) < pos:
                return -1
            if size == 0:
                return pos

    def connection_lost(self, exc) -> None:  # type: ignore[override]
        if not self.closing and self.load.running:
            self.load.errors += 1
            self.load.connect()


async def _http_main(
    host: str, port: int, request: bytes, connections: int, duration: float, warmup: float, count: int | None
) -> LoadResult:
    load = _HttpLoad(host, port, request, warmup, duration, count)
    for _ in range(connections):
        load.connect()
    limit = warmup + (duration if count is None else 600)
    try:
        await asyncio.wait_for(asyncio.shield(load.done), timeout=limit + 0.05)
    except TimeoutError:
        load.finish()
    seconds = (load.last_end if count is not None else load.measure_end) - load.measure_start
    await asyncio.sleep(0)  # let connections see ``running`` go false
    return _summarize("python-http", connections, seconds, load.latencies, load.errors)


def http_request_bytes(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    fields = {"Content-Type": "application/json", **(headers or {})}
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return host, port, head + body


def run_python_http(
    url: str,
    body: bytes,
    connections: int,
    duration: float,
    warmup: float,
    count: int | None = None,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """The Python generator, in a child process."""
    with tempfile.NamedTemporaryFile(prefix="bench-body-", suffix=".json") as f:
        f.write(body)
        f.flush()
        argv = [
            "http",
            "--python",
            "--url",
            url,
            "--body-file",
            f.name,
            "-c",
            str(connections),
            "-d",
            str(duration),
            "--warmup",
            str(warmup),
        ]
        if count:
            argv += ["-n", str(count)]
        for name, value in (headers or {}).items():
            argv += ["--header", f"{name}:{value}"]
        return _run_child(argv, timeout=warmup + duration + 120 + (600 if count else 0))


def run_http(
    url: str,
    body: bytes,
    connections: int,
    duration: float,
    warmup: float,
    generator: str = "auto",
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """wrk when installed (or ``generator="wrk"``), otherwise the Python generator."""
    wrk = shutil.which("wrk")
    if generator == "wrk" or (generator == "auto" and wrk):
        if not wrk:
            raise RuntimeError("wrk is not installed")
        return run_wrk(url, body, connections, duration, warmup, wrk, headers=headers)
    return run_python_http(url, body, connections, duration, warmup, headers=headers)


# --------------------------------------------------------------------------- gRPC


def predict_request_bytes(
    model: str, rows: int, width: int, input_alias: str = "x", signature: str = "serving_default", seed: int = 0
) -> bytes:
    """A serialized PredictRequest with one float32 input of shape [rows, width]."""
    import numpy as np
    from tensorflow_serving.apis import predict_pb2

    from pyserving.apis.tensor_proto import array_to_tensor

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    values = np.random.default_rng(seed).uniform(-1, 1, (rows, width)).astype(np.float32)
    request.inputs[input_alias].CopyFrom(array_to_tensor(values))
    return request.SerializeToString()


async def _grpc_main(
    target: str,
    payload: bytes,
    connections: int,
    channels: int,
    duration: float,
    warmup: float,
    method: str = PREDICT_METHOD,
) -> LoadResult:
    import grpc

    chans = [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(max(1, min(channels, connections)))
    ]
    calls = [ch.unary_unary(method) for ch in chans]
    try:
        for ch in chans:
            await asyncio.wait_for(ch.channel_ready(), 30)
        await calls[0](payload, timeout=10)  # fail fast on a broken server
        start = time.perf_counter()
        measure_start, measure_end = start + warmup, start + warmup + duration
        latencies: list[float] = []
        errors = 0

        async def worker(call) -> None:
            nonlocal errors
            while True:
                t0 = time.perf_counter()
                if t0 >= measure_end:
                    return
                try:
                    await call(payload, timeout=10)
                    ok = True
                except grpc.RpcError:
                    ok = False
                t1 = time.perf_counter()
                if measure_start <= t1 <= measure_end:
                    if ok:
                        latencies.append(t1 - t0)
                    else:
                        errors += 1

        tasks = [asyncio.ensure_future(worker(calls[i % len(calls)])) for i in range(connections)]
        # calls still in flight one second after the window are abandoned (a stalled server)
        _, pending = await asyncio.wait(tasks, timeout=warmup + duration + 1)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        stalled = len(pending)
    finally:
        for ch in chans:
            await ch.close()
    note = f"{len(chans)} channels" + (f", {stalled} calls still pending at the end" if stalled else "")
    return _summarize("grpc.aio", connections, duration, latencies, errors, note)


def run_grpc(
    target: str,
    payload: bytes,
    connections: int,
    duration: float,
    warmup: float,
    channels: int | None = None,
    method: str = PREDICT_METHOD,
) -> LoadResult:
    """The gRPC generator, in a child process; ``method``: Predict, or OIP's ModelInfer."""
    with tempfile.NamedTemporaryFile(prefix="bench-grpc-", suffix=".pb") as f:
        f.write(payload)
        f.flush()
        argv = [
            "grpc",
            "--target",
            target,
            "--request-file",
            f.name,
            "-c",
            str(connections),
            "-d",
            str(duration),
            "--warmup",
            str(warmup),
        ]
        if channels:
            argv += ["--channels", str(channels)]
        if method != PREDICT_METHOD:
            argv += ["--method", method]
        return _run_child(argv, timeout=warmup + duration + 120)


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    http = sub.add_parser("http", help="REST load: wrk when installed, else the Python generator")
    http.add_argument("--url", required=True)
    http.add_argument("--body-file", required=True)
    gen = http.add_mutually_exclusive_group()
    gen.add_argument("--wrk", dest="generator", action="store_const", const="wrk")
    gen.add_argument("--python", dest="generator", action="store_const", const="python")
    http.add_argument("-n", "--count", type=int, default=None, help="Python generator: stop after N requests")
    http.add_argument("--header", action="append", default=[], metavar="NAME:VALUE", help="extra request header")
    grpc_p = sub.add_parser("grpc", help="gRPC Predict load (grpc.aio)")
    grpc_p.add_argument("--target", required=True)
    grpc_p.add_argument("--request-file", help="serialized PredictRequest (else built from the flags below)")
    grpc_p.add_argument("--model", default="m")
    grpc_p.add_argument("--input", default="x")
    grpc_p.add_argument("--rows", type=int, default=1)
    grpc_p.add_argument("--width", type=int, default=1)
    grpc_p.add_argument("--channels", type=int, default=None, help="default: one per connection")
    grpc_p.add_argument("--method", default=PREDICT_METHOD, help="the unary method the request file is for")
    for p in (http, grpc_p):
        p.add_argument("-c", "--connections", type=int, default=16)
        p.add_argument("-d", "--duration", type=float, default=10.0)
        p.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args(argv)

    if args.kind == "http":
        body = Path(args.body_file).read_bytes()
        headers = dict(h.split(":", 1) for h in args.header)
        if args.generator == "python":
            try:
                import uvloop

                uvloop.install()
            except ImportError:
                pass
            host, port, request = http_request_bytes(args.url, body, headers)
            result = asyncio.run(
                _http_main(host, port, request, args.connections, args.duration, args.warmup, args.count)
            )
        else:
            result = run_http(
                args.url, body, args.connections, args.duration, args.warmup, args.generator or "auto", headers
            )
    else:
        payload = (
            Path(args.request_file).read_bytes()
            if args.request_file
            else predict_request_bytes(args.model, args.rows, args.width, args.input)
        )
        result = asyncio.run(
            _grpc_main(
                args.target,
                payload,
                args.connections,
                args.channels or args.connections,
                args.duration,
                args.warmup,
                args.method,
            )
        )
    print(json.dumps(result.to_dict()))


if __name__ == "__main__":
    main()
