"""HTTP/1.1 with kept-alive connections, sync (``http.client``) and asyncio (streams).

Why not requests/httpx/aiohttp: the client's only dependencies are numpy, grpcio and
protobuf. Both transports keep connections open between calls (one per thread for the sync
one, a small pool for the async one) and retry once, on a fresh connection, a request whose
kept-alive connection the server had closed before answering.
"""

from __future__ import annotations

import asyncio
import http.client
import ssl
import threading
import time
from dataclasses import dataclass

from pyserving.client.errors import DeadlineExceeded, ServingError, Unavailable

__all__ = ["Response", "SyncHTTP", "AsyncHTTP"]

# A kept-alive connection closed by the server shows up as one of these on the next request.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes


class SyncHTTP:
    """One kept-alive ``http.client`` connection per thread."""

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self, timeout: float | None) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        if self.ssl_context is not None:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ssl_context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn, False

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        deadline = None if timeout is None else time.monotonic() + timeout
        for attempt in (0, 1):
            conn, reused = self._connection(timeout)
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request(method, path, body=body, headers=headers or {})
                if deadline is not None and conn.sock is not None:
                    conn.sock.settimeout(max(deadline - time.monotonic(), 1e-6))
                answer = conn.getresponse()
                data = answer.read()
            except TimeoutError:
                self._drop()
                raise DeadlineExceeded(f"no answer within {timeout} s ({method} {path})") from None
            except _STALE as exc:
                self._drop()
                if reused and attempt == 0:
                    continue
                raise Unavailable(f"connection to {self.host}:{self.port} lost: {exc!r}") from None
            except OSError as exc:
                self._drop()
                raise Unavailable(f"cannot reach {self.host}:{self.port}: {exc}") from None
            if answer.will_close:
                self._drop()
            if deadline is not None and time.monotonic() > deadline:  # a whole-call deadline, as gRPC's
                raise DeadlineExceeded(f"no answer within {timeout} s ({method} {path})")
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class AsyncHTTP:
    """A pool of kept-alive asyncio stream connections (one per concurrent call)."""

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        try:
            return await asyncio.wait_for(self._request(method, path, body or b"", headers or {}), timeout)
        except TimeoutError:
            raise DeadlineExceeded(f"no answer within {timeout} s ({method} {path})") from None

    async def _request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Response:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        head.extend(f"{k}: {v}" for k, v in headers.items())
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (0, 1):
            reused = bool(self._idle)
            try:
                reader, writer = self._idle.pop() if reused else await self._open()
            except OSError as exc:
                raise Unavailable(f"cannot reach {self.host}:{self.port}: {exc}") from None
            try:
                writer.write(payload)
                await writer.drain()
                response, keep = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                writer.close()
                if reused and attempt == 0:
                    continue
                raise Unavailable(f"connection to {self.host}:{self.port} lost: {exc!r}") from None
            except BaseException:  # cancelled or timed out mid-answer: the connection's state is unknown
                writer.close()
                raise
            if keep:
                self._idle.append((reader, writer))
            else:
                writer.close()
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, ssl=self.ssl_context, limit=2**20)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            try:
                await writer.wait_closed()
            except OSError:
                pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ServingError(f"not an HTTP answer: {lines[0][:80]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    keep = parts[0] == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunks.append((await reader.readexactly(size + 2))[:-2])
        body = b"".join(chunks)
        while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
            pass
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        body = await reader.read()
        keep = False
    return Response(status, headers, body), keep
