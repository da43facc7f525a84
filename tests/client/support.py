"""Runs one client call sync or under asyncio, so every test covers both with one body."""

from __future__ import annotations

import asyncio
from typing import Any

from pyserving.client import AsyncClient, Client
from tests.helpers.server import RunningServer

MODES = ["sync", "async"]


def address(server: RunningServer, transport: str) -> str:
    return server.rest_url if transport == "rest" else f"grpc://{server.grpc_address}"


def call(
    server: RunningServer, kind: str, mode: str, method: str, *args: Any, protocol: str = "tfserving", **kw: Any
) -> Any:
    """``kind``: "rest", "rest-row" (TF Serving's row format), "rest-json" (OIP JSON) or "grpc"."""
    transport = kind.split("-")[0]
    options: dict[str, Any] = {"protocol": protocol}
    if kind == "rest-row":
        options["rest_format"] = "row"
    if kind == "rest-json":
        options["binary"] = False
    if mode == "sync":
        with Client(address(server, transport), **options) as client:
            return getattr(client, method)(*args, **kw)

    async def run() -> Any:
        async with AsyncClient(address(server, transport), **options) as client:
            return await getattr(client, method)(*args, **kw)

    return asyncio.run(run())
