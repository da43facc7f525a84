"""What the gateway costs, and how it compares with the seed's Flask + gevent gateway.

    python -m bench.gateway_bench [--requests 3000] [--connections 32] [--latency-requests 300]
                                  [--gateway-workers 1] [--seed-faithful]

Starts one model server (``pyserving serve``; the lstm model from ../shared, or
the project's exported string model when that is absent), then:

* ``pyserving gateway`` with examples/sentiment (jieba transform, API key auth
  on, gRPC upstream), and
* bench/peers/flask_gateway.py (gevent-patched Flask, jieba, the stock gRPC stub),

and drives them with the same bounded asyncio + httpx load generator: N
connections, a fixed number of requests, one Chinese review per request.
Latency runs use one connection (no queueing) and also call the model server
directly with pre-segmented tokens, so the gateway's *added* p50 is visible.
Prints one table with the ratios. Everything runs on this machine: the
load generator shares the CPUs with the servers, so compare rows, not absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import requests

from tests.helpers.server import RunningServer, free_port, start_server
from tests.helpers.shared import LSTM_MODEL

REPO = Path(__file__).resolve().parents[1]

TEXTS = ["这家酒店很好", "房间很脏，服务太差", "位置不错，早餐也很丰富", "前台态度冷淡，再也不来了"]
TOKENS = [["这家", "酒店", "很", "好"], ["房间", "很脏", "服务", "太", "差"]]


@dataclass
class Row:
    target: str
    connections: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    cpu_ms_per_request: float = float("nan")  # of the tier under test (all its processes)

    @property
    def req_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        values = sorted(self.latencies_ms)
        return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


async def drive(name: str, call: Callable[[int], Awaitable[bool]], total: int, connections: int, warmup: int) -> Row:
    """``total`` calls, at most ``connections`` in flight; ``call(i)`` returns success."""
    for i in range(warmup):
        await call(i)
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            began = time.perf_counter()
            ok = await call(i)
            latencies.append((time.perf_counter() - began) * 1000)
            errors += not ok

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return Row(name, connections, total, errors, time.perf_counter() - began, latencies)


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live children (uvicorn workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, parents = 0.0, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    family = {pid}
    for _ in range(3):
        family |= {p for p, (ppid, _) in parents.items() if ppid in family}
    for p in family:
        total += parents.get(p, (0, 0.0))[1]
    return total


async def measured(pid: int, run: Awaitable[Row]) -> Row:
    before = tree_cpu_s(pid)
    row = await run
    row.cpu_ms_per_request = (tree_cpu_s(pid) - before) * 1000 / row.requests
    return row


def http_call(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: Callable[[int], object]
) -> Callable[[int], Awaitable[bool]]:
    async def call(i: int) -> bool:
        try:
            response = await client.post(url, json=body(i), headers=headers)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    return call


def grpc_call(target: str, model: str) -> tuple[Callable[[int], Awaitable[bool]], Callable[[], Awaitable[None]]]:
    import grpc
    import numpy as np
    from tensorflow_serving.apis import predict_pb2

    from pyserving.apis.tensor_proto import array_to_tensor

    channel = grpc.aio.insecure_channel(target)
    predict = channel.unary_unary(
        "/tensorflow.serving.PredictionService/Predict",
        request_serializer=predict_pb2.PredictRequest.SerializeToString,
        response_deserializer=predict_pb2.PredictResponse.FromString,
    )
    requests_ = []
    for tokens in TOKENS:
        req = predict_pb2.PredictRequest()
        req.model_spec.name = model
        array_to_tensor(np.array([tokens], dtype=object), out=req.inputs["words"])
        array_to_tensor(np.array([len(tokens)], dtype=np.int32), out=req.inputs["nwords"])
        requests_.append(req)

    async def call(i: int) -> bool:
        try:
            await predict(requests_[i % len(requests_)], timeout=30)
        except grpc.aio.AioRpcError:
            return False
        return True

    return call, channel.close


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args} exited:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {url}:\n{log.read_text()[-3000:]}")


def wait_idle(pid: int, timeout: float = 60) -> None:
    """Until ``pid`` and its children stop burning CPU (every worker finished importing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = tree_cpu_s(pid)
        time.sleep(0.5)
        if tree_cpu_s(pid) - before < 0.05:
            return


def spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
        )


def model_base(tmp: Path) -> tuple[Path, str]:
    if LSTM_MODEL.is_dir():
        return LSTM_MODEL, "lstm (../shared)"
    from tests.helpers import models

    models.export_string_model(tmp / "lstm" / "1")
    return tmp / "lstm", "exported string model (../shared absent)"


def gateway_config(server: RunningServer, keys_file: Path) -> str:
    text = (REPO / "examples" / "sentiment" / "gateway.toml").read_text(encoding="utf-8")
    example = REPO / "examples" / "sentiment"
    for old, new in [
        ('"127.0.0.1:8500"', f'"{server.grpc_address}"'),
        ('keys_file = "keys.toml"', f'keys_file = "{keys_file}"'),
        ('python_path = ["."]', f'python_path = ["{example}"]'),
    ]:
        text = text.replace(old, new)
    return text.replace("[gateway]", "[gateway]\naccess_log = false", 1)


async def run(
    args: argparse.Namespace, server: RunningServer, gateway_url: str, flask_url: str, key: str, pids: dict[str, int]
) -> list[Row]:
    rows: list[Row] = []
    limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
    auth = {"Authorization": f"Bearer {key}"}
    text_body = lambda i: {"text": TEXTS[i % len(TEXTS)]}  # noqa: E731
    token_body = lambda i: {"instances": [{"words": TOKENS[i % 2], "nwords": len(TOKENS[i % 2])}]}  # noqa: E731
    async with httpx.AsyncClient(limits=limits, timeout=60, trust_env=False) as client:
        grpc_direct, close = grpc_call(server.grpc_address, "lstm")
        n, w = args.latency_requests, 30
        server_pid = server.process.pid
        rows.append(
            await measured(
                server_pid,
                drive(
                    "model server REST, tokens (direct)",
                    http_call(client, f"{server.rest_url}/v1/models/lstm:predict", {}, token_body),
                    n,
                    1,
                    w,
                ),
            )
        )
        rows.append(await measured(server_pid, drive("model server gRPC, tokens (direct)", grpc_direct, n, 1, w)))
        tiers = [
            ("pyserving gateway /sentiment", gateway_url, auth, pids["gateway"]),
            ("flask+gevent /sentiment", flask_url, {}, pids["flask"]),
        ]
        for name, url, headers, pid in tiers:
            rows.append(
                await measured(pid, drive(name, http_call(client, f"{url}/sentiment", headers, text_body), n, 1, w))
            )
        for name, url, headers, pid in tiers:
            rows.append(
                await measured(
                    pid,
                    drive(
                        name,
                        http_call(client, f"{url}/sentiment", headers, text_body),
                        args.requests,
                        args.connections,
                        100,
                    ),
                )
            )
        await close()
    return rows


def report(rows: list[Row], model: str, args: argparse.Namespace) -> None:
    print(
        f"\nmodel: {model}; gateway workers: {args.gateway_workers}; flask peer: "
        f"{'seed-faithful' if args.seed_faithful else 'shared channel + grpc gevent'}; "
        f"CPUs: {os.cpu_count()}"
    )
    print(
        f"{'target':38} {'conns':>5} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'CPU ms/req':>10}"
    )
    for r in rows:
        print(
            f"{r.target:38} {r.connections:>5} {r.requests:>8} {r.errors:>6} {r.req_s:>8.0f} "
            f"{r.pct(0.5):>7.2f} {r.pct(0.99):>7.2f} {r.cpu_ms_per_request:>10.2f}"
        )
    rest, grpc_, gw1, fl1, gwn, fln = rows
    print(
        f"\nadded p50 latency, gateway vs direct gRPC: {gw1.pct(0.5) - grpc_.pct(0.5):+.2f} ms "
        f"(vs direct REST: {gw1.pct(0.5) - rest.pct(0.5):+.2f} ms; includes jieba, auth, transform)"
    )
    print(f"p50 at 1 connection, gateway / flask+gevent: {gw1.pct(0.5) / fl1.pct(0.5):.2f}x")
    print(
        f"req/s at {args.connections} connections, gateway / flask+gevent: "
        f"{gwn.req_s:.0f} / {fln.req_s:.0f} = {gwn.req_s / fln.req_s:.2f}x"
    )
    print(
        f"CPU per request at {args.connections} connections, gateway / flask+gevent: "
        f"{gwn.cpu_ms_per_request:.2f} / {fln.cpu_ms_per_request:.2f} ms = "
        f"{gwn.cpu_ms_per_request / fln.cpu_ms_per_request:.2f}x "
        "(CPU ms/req of the model server row = the server alone)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--latency-requests", type=int, default=300)
    parser.add_argument("--gateway-workers", type=int, default=1)
    parser.add_argument("--seed-faithful", action="store_true", help="pass --seed-faithful to the Flask peer")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    base, model = model_base(tmp)
    server = start_server(["--model_name=lstm", f"--model_base_path={base}"], tmp, wait_models=("lstm",))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        from pyserving.gateway.keys import entry_toml, generate_key, hash_key

        key = generate_key("bench")
        keys_file = tmp / "keys.toml"
        keys_file.write_text(entry_toml("bench", hash_key(key), ["*"], float("inf"), None))
        config = tmp / "gateway.toml"
        config.write_text(gateway_config(server, keys_file), encoding="utf-8")
        gateway_port, flask_port = free_port(), free_port()
        procs.append(
            spawn(
                [
                    sys.executable,
                    "-m",
                    "pyserving.gateway",
                    "--config",
                    str(config),
                    "--port",
                    str(gateway_port),
                    "--workers",
                    str(args.gateway_workers),
                    "--log-level",
                    "warning",
                ],
                tmp / "gateway.log",
            )
        )
        flask_argv = [
            sys.executable,
            str(REPO / "bench" / "peers" / "flask_gateway.py"),
            "--port",
            str(flask_port),
            "--grpc-target",
            server.grpc_address,
            "--model",
            "lstm",
        ]
        procs.append(spawn(flask_argv + (["--seed-faithful"] if args.seed_faithful else []), tmp / "flask.log"))
        gateway_url, flask_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{flask_port}"
        wait_http(f"{gateway_url}/readyz", procs[0], tmp / "gateway.log")
        wait_http(f"{flask_url}/sentiment?text=好", procs[1], tmp / "flask.log")
        for proc in procs:
            wait_idle(proc.pid)
        coroutine = run(args, server, gateway_url, flask_url, key, {"gateway": procs[0].pid, "flask": procs[1].pid})
        try:
            import uvloop

            rows = uvloop.run(coroutine)
        except ImportError:
            rows = asyncio.run(coroutine)
        report(rows, model, args)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.stop()


if __name__ == "__main__":
    main()
