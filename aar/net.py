"""Network addresses: the one test of "only this machine can reach it", and the one way aar's
servers (the web page, the scorer service) open a listening socket.

The web server warns before it binds anywhere else, the scorer service refuses to unless told,
and a provider base URL may send a key over plain HTTP only to such a host.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from aar.errors import AarError, UsageError


class ListenError(AarError):
    """A port that is taken or cannot be listened on (exit 1: the server ran, and failed)."""

    exit_code = 1


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listening_socket(host: str, port: int, *, backlog: int = 128) -> socket.socket:
    """A socket listening on host:port (port 0: any free port), or one clear error: a host
    that is no address of this machine is the user's `UsageError`, a taken port a
    `ListenError` naming `--port`."""
    if not host.strip() or any(c.isspace() for c in host):
        raise UsageError(f"--host {host!r} is not a host name or address")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--host {host!r} is not an address of this machine ({exc})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(
                f"port {port} on {host} is already in use; choose another with --port"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError(f"--host {host} is not an address of this machine") from None
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock
