"""The listening socket the REST server runs on; also how the workers supervisor reserves a port."""

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
    _bind(sock, host, port, flag)
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def reserve_port(host: str, port: int, flag: str = "") -> socket.socket:
    """A bound, never listening socket that keeps ``port`` for this process's children.

    Why: with ``--num_workers`` the workers listen with SO_REUSEPORT, which would also let a
    stranger (another pyserving, any gRPC server: grpcio sets SO_REUSEPORT by default) join
    the port and take part of its connections. The supervisor holds this socket for its whole
    life: it has SO_REUSEPORT (so the workers may bind next to it) but not SO_REUSEADDR, and it
    never listens, so it gets no connections, and any bind without SO_REUSEPORT fails even
    while no worker is listening (between a crash and the replacement's start).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # First a bind without SO_REUSEPORT: it fails while anything else holds the port, another
    # supervisor's reservation included (a SO_REUSEPORT bind would join that one).
    bind_socket(host, port, flag=flag).close()
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    _bind(sock, host, port, flag)
    return sock


def _bind(sock: socket.socket, host: str, port: int, flag: str) -> None:
    """Binds ``sock``, or closes it and raises InvalidArgumentError naming ``flag`` (if given)."""
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f" ({flag})" if flag else ""
        raise InvalidArgumentError(f"Failed to bind {host}:{port}{where}: {exc.strerror}") from None
