"""Soak: a mixed REST + gRPC load for a given number of requests, with version swaps, reporting leaks.

    .venv/bin/python -m bench.soak --requests 1000000 [--report-every 100000] [--swap-seconds 60]
        [--rest-connections 8] [--grpc-streams 8] [--json soak.json]

Starts one pyserving server on free 127.0.0.1 ports with two models: ``a`` gets a new version
every ``--swap-seconds`` (half_plus_two and half_plus_three in turn, the version before last
deleted), ``b`` stays. The load is REST (raw keep-alive HTTP/1.1) and gRPC (grpc.aio), about
three valid predicts for every invalid request (broken JSON, junk base64, deep nesting, an
unknown model, a wrong input alias). Every ``--report-every`` requests it prints the server's
RSS, open file descriptors, threads, and the p99 of the valid requests in that window.

Fails (exit 1) on a valid request that is not answered correctly, an invalid one answered 5xx,
gRPC UNKNOWN/INTERNAL or an error body that is not JSON, or a server that dies. The targets of
issue 17 (RSS growth after warm-up < 5 %, fds and threads flat, last p99 within 1.5x of the first)
are measured and printed with PASS/MISS: measurements, not tests (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

import numpy as np


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_figures(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_kib": int(fields["VmRSS"].split()[0]),
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


# -- the requests ------------------------------------------------------------------------------------

VALID_REST = {
    "a": b'{"instances": [[2.0]]}',
    "b": b'{"instances": [[2.0]]}',
}
ANSWERS = {"a": {3.0, 4.0}, "b": {3.0}}  # a: half_plus_two or half_plus_three, whichever is served
INVALID_REST = [
    ("/v1/models/a:predict", b'{"instances": [[1.0]', 400),
    ("/v1/models/a:predict", b'{"signature_name": "classify_x_to_y", "instances": [{"b64": "!!!"}]}', 400),
    ("/v1/models/b:predict", b'{"instances": ' + b"[" * 2000 + b"1" + b"]" * 2000 + b"}", 400),
    ("/v1/models/nope:predict", b'{"instances": [[1.0]]}', 404),
    ("/v1/models/b/versions/" + "9" * 40 + ":predict", b'{"instances": [[1.0]]}', 400),
]


def http_request(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class Window:
    latencies: list[float] = field(default_factory=list)
    valid: int = 0
    invalid: int = 0


@dataclass
class Soak:
    total: int
    report_every: int
    pid: int
    done: int = 0
    recorded: int = 0
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    failures: list[str] = field(default_factory=list)
    window: Window = field(default_factory=Window)
    reports: list[dict] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        if self.done >= self.total:
            return False
        self.done += 1
        return True

    def record(self, valid: bool, seconds: float, problem: str | None) -> None:
        if problem is not None and len(self.failures) < 1000:
            self.failures.append(problem)
        if valid:
            self.window.valid += 1
            self.window.latencies.append(seconds)
        else:
            self.window.invalid += 1
        self.recorded += 1
        if (self.window.valid + self.window.invalid) >= self.report_every or self.recorded == self.total:
            self.report()
        if self.recorded == self.total:
            self.finished.set()  # every connection is still open for this last count

    def report(self) -> None:
        window, self.window = self.window, Window()
        if not window.latencies:
            return
        figures = server_figures(self.pid)
        p99 = float(np.percentile(window.latencies, 99)) * 1000
        entry = {
            "requests": sum(r["window"] for r in self.reports) + window.valid + window.invalid,
            "window": window.valid + window.invalid,
            "valid": window.valid,
            "invalid": window.invalid,
            "p99_ms": round(p99, 2),
            "p50_ms": round(float(np.percentile(window.latencies, 50)) * 1000, 2),
            **figures,
            "failures": len(self.failures),
            "elapsed_s": round(time.monotonic() - self.started, 1),
        }
        self.reports.append(entry)
        print(json.dumps(entry), flush=True)


async def rest_worker(soak: Soak, port: int, counter: itertools.count) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while soak.take():
            i = next(counter)
            if i % 4 == 3:
                path, body, expected = INVALID_REST[(i // 4) % len(INVALID_REST)]
                valid, model = False, ""
            else:
                model = "a" if i % 2 else "b"
                path, body, expected, valid = f"/v1/models/{model}:predict", VALID_REST[model], 200, True
            start = time.perf_counter()
            writer.write(http_request(path, body))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            payload = await reader.readexactly(length)
            seconds = time.perf_counter() - start
            status = int(head.split(b" ", 2)[1])
            problem = None
            try:
                doc = json.loads(payload)
            except ValueError:
                doc = None
            if valid and (status != 200 or doc["predictions"][0][0] not in ANSWERS[model]):
                problem = f"REST {model}: {status} {payload[:200]!r}"
            elif not valid and (status != expected or not isinstance(doc, dict) or "error" not in doc):
                problem = f"REST invalid {path[:60]}: {status} {payload[:200]!r}"
            soak.record(valid, seconds, problem)
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await soak.finished.wait()  # connections stay open until the last report has counted the fds
    finally:
        writer.close()


async def grpc_worker(soak: Soak, stub: object, counter: itertools.count) -> None:
    import grpc
    from tensorflow_serving.apis import predict_pb2

    from pyserving.apis.tensor_proto import array_to_tensor, tensor_to_array

    x = array_to_tensor(np.array([[2.0]], np.float32))
    while soak.take():
        i = next(counter)
        request = predict_pb2.PredictRequest()
        valid = i % 4 != 3
        model = ("a" if i % 2 else "b") if valid else ("nope" if i % 8 == 3 else "b")
        request.model_spec.name = model
        request.inputs["x" if valid else "not_an_input"].CopyFrom(x)
        start = time.perf_counter()
        problem = None
        try:
            response = await stub.Predict(request, timeout=30)  # type: ignore[attr-defined]
            value = float(tensor_to_array(response.outputs["y"]).reshape(-1)[0])
            if not valid or value not in ANSWERS[model]:
                problem = f"gRPC {model}: answered {value}"
        except grpc.aio.AioRpcError as exc:
            expected = grpc.StatusCode.NOT_FOUND if model == "nope" else grpc.StatusCode.INVALID_ARGUMENT
            if valid or exc.code() != expected:
                problem = f"gRPC {model}: {exc.code().name} {exc.details()[:200]}"
        soak.record(valid, time.perf_counter() - start, problem)


async def swapper(base: Path, sources: list[Path], seconds: float, soak: Soak) -> list[int]:
    from tests.helpers import models

    version, swaps = 1, []
    while soak.done < soak.total:
        deadline = time.monotonic() + seconds
        while soak.done < soak.total and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        if soak.done >= soak.total:
            break
        version += 1
        await asyncio.to_thread(models.copy_version, sources[version % 2], base / str(version))
        old = base / str(version - 2)
        if old.exists():
            await asyncio.to_thread(shutil.rmtree, old)
        swaps.append(version)
        print(json.dumps({"swap": version, "at_request": soak.done}), flush=True)
    return swaps


async def drive(
    args: argparse.Namespace, soak: Soak, rest_port: int, grpc_port: int, base_a: Path, sources: list[Path]
) -> list[int]:
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    counter = itertools.count()
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") for _ in range(max(1, args.grpc_streams // 8))]
    stubs = [prediction_service_pb2_grpc.PredictionServiceStub(c) for c in channels]
    swaps = asyncio.create_task(swapper(base_a, sources, args.swap_seconds, soak))
    workers = [rest_worker(soak, rest_port, counter) for _ in range(args.rest_connections)]
    workers += [grpc_worker(soak, stubs[i % len(stubs)], counter) for i in range(args.grpc_streams)]
    await asyncio.gather(*workers)
    for channel in channels:
        await channel.close()
    return await swaps


def verdict(reports: list[dict], failures: int) -> dict:
    full = [r for r in reports if r["window"] >= 0.5 * reports[0]["window"]] or reports
    warm, last = full[0], full[-1]
    return {
        "requests": sum(r["window"] for r in reports),
        "failures": failures,
        "rss_growth_after_warmup_pct": round(100 * (last["rss_kib"] - warm["rss_kib"]) / warm["rss_kib"], 2),
        "fds_first_last": [warm["fds"], last["fds"]],
        "threads_first_last": [warm["threads"], last["threads"]],
        "p99_first_last_ms": [warm["p99_ms"], last["p99_ms"]],
        "p99_ratio": round(last["p99_ms"] / warm["p99_ms"], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--report-every", type=int, default=100_000)
    parser.add_argument("--swap-seconds", type=float, default=60.0)
    parser.add_argument("--rest-connections", type=int, default=8)
    parser.add_argument("--grpc-streams", type=int, default=8)
    parser.add_argument("--json", default="", help="write the reports and the verdict here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (models, server log)")
    args = parser.parse_args()

    from tests.helpers import models

    tmp = Path(tempfile.mkdtemp(prefix="pyserving-soak-"))
    sources = [
        models.export_half_plus_two(tmp / "src" / "hp3", b=3.0),
        models.export_half_plus_two(tmp / "src" / "hp2"),
    ]
    base_a, base_b = tmp / "a", tmp / "b"
    models.copy_version(sources[1], base_a / "1")
    models.copy_version(sources[1], base_b / "1")
    config = tmp / "models.config"
    config.write_text(
        "model_config_list {\n"
        + "".join(
            f'  config {{ name: "{n}" base_path: "{p}" model_platform: "tensorflow" }}\n'
            for n, p in (("a", base_a), ("b", base_b))
        )
        + "}\n"
    )
    rest_port, grpc_port = free_port(), free_port()
    log = open(tmp / "server.log", "wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyserving",
            "serve",
            f"--model_config_file={config}",
            "--host=127.0.0.1",
            f"--port={grpc_port}",
            f"--rest_api_port={rest_port}",
            "--file_system_settle_seconds=2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    status = 1
    try:
        import requests

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{rest_port}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None:
                raise SystemExit(f"the server exited: {(tmp / 'server.log').read_text()[-3000:]}")
            time.sleep(0.2)
        print(json.dumps({"start": server_figures(server.pid), "requests": args.requests}), flush=True)
        soak = Soak(args.requests, args.report_every, server.pid)
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        swaps = runner(drive(args, soak, rest_port, grpc_port, base_a, sources))
        alive = server.poll() is None
        result = verdict(soak.reports, len(soak.failures))
        result.update(
            {"swaps": len(swaps), "server_alive": alive, "elapsed_s": round(time.monotonic() - soak.started, 1)}
        )
        checks = {
            "rss growth < 5 %": result["rss_growth_after_warmup_pct"] < 5,
            "fds flat": result["fds_first_last"][1] <= result["fds_first_last"][0] + 5,
            "threads flat": result["threads_first_last"][1] <= result["threads_first_last"][0] + 2,
            "p99 last <= 1.5x first": result["p99_ratio"] <= 1.5,
        }
        result["targets"] = {name: "PASS" if ok else "MISS" for name, ok in checks.items()}
        print(json.dumps({"verdict": result}), flush=True)
        for problem in soak.failures[:20]:
            print("FAILED:", problem, flush=True)
        if args.json:
            Path(args.json).write_text(
                json.dumps({"reports": soak.reports, "verdict": result, "failures": soak.failures[:100]}, indent=2)
            )
        status = 0 if alive and not soak.failures else 1
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        if args.keep:
            print(f"kept {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
