"""Predict throughput and latency over gRPC and REST, against one server.

    python -m bench.grpc_vs_rest [MODEL_BASE_PATH] [--name NAME] [--clients 16] [--requests 4000]
                                 [--batch 1] [--warmup 200]

Without a base path, half_plus_two is exported to a temporary directory. The
server runs in its own process; the clients share one asyncio loop here: gRPC
through a grpc.aio stub on one channel (HTTP/2 multiplexes the clients), REST
over one keep-alive HTTP/1.1 connection per client, written on raw asyncio
streams by default (``--rest-client httpx`` uses httpx.AsyncClient instead,
whose own CPU cost on a small machine shows up in the REST figures).
Prints requests/s and p50/p99 latency for each protocol. Both protocols send
the same ``x`` float tensor of shape [batch, 1] (half_plus_two's signature).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path


def export_model(root: Path) -> Path:
    from tests.helpers.models import export_half_plus_two

    base = root / "half_plus_two"
    export_half_plus_two(base / "1")
    return base


async def drive(call: Callable[[], Awaitable[None]], clients: int, total: int) -> tuple[float, list[float]]:
    """``clients`` concurrent loops sharing ``total`` requests; returns (seconds, latencies)."""
    remaining = total
    latencies: list[float] = []

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, latencies


def report(label: str, seconds: float, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return (
        f"{label:>5}: {len(ordered) / seconds:8.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
        f"   ({len(ordered)} requests in {seconds:.2f} s)"
    )


async def bench(grpc_address: str, rest_url: str, name: str, args: argparse.Namespace) -> list[str]:
    import grpc
    import numpy as np
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from pyserving.apis.tensor_proto import array_to_tensor

    values = np.arange(args.batch, dtype=np.float32).reshape(args.batch, 1)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["x"].CopyFrom(array_to_tensor(values))
    body = json.dumps({"instances": values.tolist()}).encode()
    lines = []

    if "grpc" in args.protocols:
        async with grpc.aio.insecure_channel(grpc_address) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

            async def grpc_call() -> None:
                await stub.Predict(request, timeout=30)

            await drive(grpc_call, args.clients, args.warmup)
            lines.append(report("gRPC", *await drive(grpc_call, args.clients, args.requests)))
    if "rest" not in args.protocols:
        return lines

    path = f"/v1/models/{name}:predict"
    if args.rest_client == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            headers = {"content-type": "application/json"}

            async def rest_call() -> None:
                response = await client.post(rest_url + path, content=body, headers=headers)
                response.raise_for_status()

            await drive(rest_call, args.clients, args.warmup)
            lines.append(report("REST", *await drive(rest_call, args.clients, args.requests)))
        return lines

    host, port = rest_url.removeprefix("http://").rsplit(":", 1)
    pool = [await RawHttpConnection.open(host, int(port)) for _ in range(args.clients)]
    idle: asyncio.Queue[RawHttpConnection] = asyncio.Queue()
    for connection in pool:
        idle.put_nowait(connection)
    raw_request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def raw_call() -> None:
        connection = await idle.get()
        try:
            await connection.round_trip(raw_request)
        finally:
            idle.put_nowait(connection)

    try:
        await drive(raw_call, args.clients, args.warmup)
        lines.append(report("REST", *await drive(raw_call, args.clients, args.requests)))
    finally:
        for connection in pool:
            connection.close()
    return lines


class RawHttpConnection:
    """The least client work for one keep-alive HTTP/1.1 exchange (Content-Length or chunked)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> RawHttpConnection:
        return cls(*await asyncio.open_connection(host, port))

    async def round_trip(self, request: bytes) -> bytes:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = head[9:12]
        if status != b"200":
            raise RuntimeError(f"HTTP {status.decode()}: {head.decode(errors='replace')}")
        length = 0
        chunked = False
        for line in head.split(b"\r\n"):
            lower = line.lower()
            if lower.startswith(b"content-length:"):
                length = int(line[15:])
            elif lower.startswith(b"transfer-encoding:") and b"chunked" in lower:
                chunked = True
        if not chunked:
            return await self.reader.readexactly(length)
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await self.reader.readexactly(size + 2))  # chunk + CRLF
            if size == 0:
                return b"".join(p[:-2] for p in parts)

    def close(self) -> None:
        self.writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_path", nargs="?", help="model base path (default: export half_plus_two)")
    parser.add_argument("--name", default="m")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rest-client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--protocols", default="grpc,rest", help="comma list of grpc, rest (in that order)")
    args = parser.parse_args()

    from tests.helpers.server import start_server

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.base_path) if args.base_path else export_model(Path(tmp))
        server = start_server(
            [f"--model_name={args.name}", f"--model_base_path={base}"], Path(tmp), wait_models=[args.name]
        )
        try:
            lines = asyncio.run(bench(server.grpc_address, server.rest_url, args.name, args))
        finally:
            server.stop()
    print(
        f"model {args.name} at {base}; {args.clients} clients, {args.requests} requests, "
        f"batch {args.batch}, REST client {args.rest_client}"
    )
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
