"""Measures what metrics and request logs cost per request (not a test; run by hand).

    .venv/bin/python -m tests.ops.measure_overhead [--seconds 2] [--rounds 8]

Serves the tiny half_plus_two model in four configurations (nothing, metrics,
request log, both), all four servers up at once but driven one at a time:
wrk for REST (one thread, 16 keep-alive connections) and a grpc.aio client in
a child process (16 calls in flight). Two numbers per run: requests/s, and
the server process's CPU time per request (user + system from /proc, all
threads). Short runs alternate between the configurations for many rounds and
the median counts, so drifting load on a shared machine hits every
configuration alike. Ratios are to the bare server. Traffic goes to
127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.helpers import models
from tests.helpers.server import start_server

CONFIGS = {
    "bare": ["--log_requests=false"],
    "metrics": ["--log_requests=false", "--monitoring_config_file={monitoring}"],
    "request_log": ["--log_requests=true"],
    "metrics+log": ["--log_requests=true", "--monitoring_config_file={monitoring}"],
}

GRPC_CLIENT = r"""
import asyncio, sys, time
import grpc
import numpy as np
from tensorflow_serving.apis import predict_pb2
from pyserving.apis.tensor_proto import array_to_tensor

async def main(target, seconds, concurrency):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m"
    array_to_tensor(np.array([[1.0]], np.float32), out=request.inputs["x"])
    payload = request.SerializeToString()
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary("/tensorflow.serving.PredictionService/Predict",
                                   request_serializer=None, response_deserializer=None)
        done = 0
        async def worker(deadline):
            nonlocal done
            while time.monotonic() < deadline:
                await call(payload)
                done += 1
        warm = time.monotonic() + 0.3
        await asyncio.gather(*(worker(warm) for _ in range(concurrency)))
        done = 0
        start = time.monotonic()
        await asyncio.gather(*(worker(start + seconds) for _ in range(concurrency)))
        print(done, done / (time.monotonic() - start))

asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3])))
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, body: str, seconds: float, tmp: Path) -> tuple[int, float]:
    script = tmp / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.body = ' + json.dumps(body) + '\nwrk.headers["Content-Type"] = "application/json"\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{int(seconds)}s", "-s", str(script), url], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if found is None or count is None or "Non-2xx" in out:
        raise RuntimeError(f"wrk failed:\n{out}")
    return int(count.group(1)), float(found.group(1))


def grpc_rate(target: str, seconds: float) -> tuple[int, float]:
    out = subprocess.run(
        [sys.executable, "-c", GRPC_CLIENT, target, str(seconds), "16"], capture_output=True, text=True, check=True
    ).stdout
    count, rate = out.strip().splitlines()[-1].split()
    return int(count), float(rate)


def measured(pid: int, run: Callable[[], tuple[int, float]]) -> tuple[float, float]:
    """(requests/s, server CPU microseconds per request)."""
    before = cpu_seconds(pid)
    count, rate = run()
    return rate, (cpu_seconds(pid) - before) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed for the REST measurement")
    tmp = Path(tempfile.mkdtemp(prefix="pyserving-overhead-"))
    models.export_half_plus_two(tmp / "m" / "1")
    monitoring = tmp / "monitoring.txt"
    monitoring.write_text('prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }\n')
    servers = {
        name: start_server(
            ["--model_name=m", f"--model_base_path={tmp / 'm'}", *(f.format(monitoring=monitoring) for f in flags)],
            tmp,
            wait_models=["m"],
        )
        for name, flags in CONFIGS.items()
    }
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for server in servers.values():  # warm every server up once
            wrk(f"{server.rest_url}/v1/models/m:predict", '{"instances": [[1.0]]}', 1, tmp)
        for _ in range(args.rounds):
            for name, server in servers.items():
                pid = server.process.pid
                url = f"{server.rest_url}/v1/models/m:predict"
                runs.setdefault((name, "rest"), []).append(
                    measured(pid, lambda u=url: wrk(u, '{"instances": [[1.0]]}', args.seconds, tmp))
                )
                runs.setdefault((name, "grpc"), []).append(
                    measured(pid, lambda a=server.grpc_address: grpc_rate(a, args.seconds))
                )
    finally:
        for server in servers.values():
            server.stop()
    rate = {k: statistics.median(r for r, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    print(f"medians of {args.rounds} interleaved {args.seconds:g} s runs")
    print(
        f"{'config':<13}{'REST req/s':>11}{'ratio':>7}{'CPU us/req':>11}{'ratio':>7}"
        f"{'gRPC req/s':>11}{'ratio':>7}{'CPU us/req':>11}{'ratio':>7}"
    )
    for name in CONFIGS:
        row = f"{name:<13}"
        for protocol in ("rest", "grpc"):
            key, base = (name, protocol), ("bare", protocol)
            row += f"{rate[key]:>11.0f}{rate[key] / rate[base]:>7.3f}{cpu[key]:>11.0f}{cpu[key] / cpu[base]:>7.3f}"
        print(row)


if __name__ == "__main__":
    main()
