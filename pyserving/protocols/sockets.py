"""The listening socket the REST server runs on; also how the workers supervisor probes a port."""

from __future__ import annotations

import socket

from pyserving.core.errors import InvalidArgumentError


def bind_socket(host: str, port: int, reuse_port: bool = False, flag: str = "") -> socket.socket:
    """A listening TCP socket; InvalidArgumentError naming ``flag`` (if given) when the bind fails."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and
    # without it every response waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:  # --num_workers: every worker listens on the port, the kernel spreads connections
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f" ({flag})" if flag else ""
        raise InvalidArgumentError(f"Failed to bind {host}:{port}{where}: {exc.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock
