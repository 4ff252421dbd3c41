"""The server's listening sockets, bound before anything else is opened.

``wess serve`` binds its address first: a port another process holds then stops
start-up before a data directory, a server secret or an admin key is created, with an
error that names the address. The sockets are bound as asyncio's ``create_server``
binds them (every address the host resolves to, ``SO_REUSEADDR``, IPv6 sockets
IPv6-only) and handed to uvicorn, so nothing else about serving changes.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from wess.errors import CannotListen

BACKLOG = 2048
"""uvicorn's default: connections the kernel queues before they are accepted."""
WHY = {
    errno.EADDRINUSE: "the address is already in use (another process listens there); "
    "stop that process or choose another port with --port",
    errno.EADDRNOTAVAIL: "the address is not one of this machine's; choose another with --host",
    errno.EACCES: "permission denied (ports below 1024 need privileges); choose "
    "another port with --port",
}


@contextmanager
def listening(host: str, port: int) -> Iterator[list[socket.socket]]:
    """Sockets listening on ``host:port``, closed on exit; ``CannotListen`` if any
    address cannot be bound."""
    sockets = bind(host, port)
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def bind(host: str, port: int) -> list[socket.socket]:
    """A listening socket per address ``host`` resolves to; ``CannotListen`` else."""
    where = address_of(host, port)
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise CannotListen(
            f"cannot listen on {where}: the host name does not resolve ({exc.strerror})",
            address=where,
        ) from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, protocol, _, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, protocol)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        why = WHY.get(exc.errno or 0, exc.strerror or str(exc))
        raise CannotListen(f"cannot listen on {where}: {why}", address=where) from None
    return sockets


def address_of(host: str, port: int) -> str:
    """``host:port`` as a URL writes it (``[::1]:8080`` for IPv6)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
