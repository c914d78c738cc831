"""Running the app: bind the socket first (so a bad host or a busy port is one clear line),
then hand it to uvicorn."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

from aar.errors import AarError, UsageError
from aar.web._app import WebConfig, create_app


class ServeError(AarError):
    """The server cannot listen where it was asked to (exit 1: it ran, and failed)."""

    exit_code = 1


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port), or one clear error."""
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
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {port} on {host} is already in use; choose another with --port"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError(f"--host {host} is not an address of this machine") from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def serve(config: WebConfig, sock: socket.socket, on_ready: Callable[[], None]) -> None:
    """Serve the app on `sock` until interrupted (Ctrl-C, SIGTERM); `on_ready` runs once the
    app is built and the findings memory open (connections wait in the socket's backlog)."""
    import uvicorn

    app = create_app(config)
    app.state.web.warm_store()
    on_ready()
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    server.run(sockets=[sock])
