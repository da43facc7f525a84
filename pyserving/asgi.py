"""The two ASGI chores both HTTP apps do by hand: reading a request body under a limit, and lifespan.

Shared by the model server's REST app (``protocols/rest/app.py``) and the gateway
(``gateway/app.py``), which otherwise share no code but the codecs; so this module
imports only the standard library.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

logger = logging.getLogger("pyserving.asgi")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BodyTooLarge(Exception):
    """The body exceeds the limit: ``size`` is its declared or read size, None when still unknown."""

    def __init__(self, size: int | None) -> None:
        super().__init__(size)
        self.size = size


class BadContentLength(ValueError):
    """The Content-Length header is not a number."""


class ClientGone(Exception):
    """The client disconnected before its body was read: nobody is left to answer."""


async def read_body(receive: Receive, headers: Iterable[tuple[bytes, bytes]], limit: int) -> bytes:
    """The whole request body; ``BodyTooLarge`` past ``limit`` bytes (0: no limit).

    A declared Content-Length over the limit is refused before reading anything,
    so a client sending ``Expect: 100-continue`` never uploads the body.
    """
    if limit:
        for name, value in headers:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise BadContentLength(value.decode("latin-1")) from None
                if declared > limit:
                    raise BodyTooLarge(declared)
                break
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if message["type"] == "http.disconnect":
            raise ClientGone
        if limit and len(body) > limit:
            raise BodyTooLarge(len(body))
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body"):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit and size > limit:
            raise BodyTooLarge(None)
        chunks.append(chunk)
    return b"".join(chunks)


async def lifespan(
    receive: Receive,
    send: Send,
    startup: Callable[[], Awaitable[None]] | None = None,
    shutdown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Answers the ASGI lifespan protocol, running ``startup`` and ``shutdown`` when given.

    A ``startup`` that raises is reported as ``lifespan.startup.failed`` (the server exits).
    """
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if startup is not None:
                try:
                    await startup()
                except Exception as exc:  # reported to the server, which exits
                    logger.exception("Startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if shutdown is not None:
                await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
