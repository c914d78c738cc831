"""Running the app: bind the socket first (so a bad host or a busy port is one clear line),
then hand it to uvicorn, with limits on slow and oversized clients.

uvicorn waits forever for a request's headers and body (its keep-alive timeout only runs
between requests), has no cap on connections (`limit_concurrency` answers 503 only once the
headers arrived), and answers an unparsable or oversized request head with a bare text 400.
So each connection's protocol here (`_guarded_protocol`):
- closes a connection whose request head is not complete `HEADER_TIMEOUT_S` after it opened
  (or after the request's first byte, on a kept-alive connection), and one whose body is not
  complete `BODY_TIMEOUT_S` after its head: a client sending one byte at a time holds no
  connection for long;
- closes any connection beyond `MAX_CONNECTIONS` at once;
- answers a request line over `MAX_URL_BYTES`, a head over `MAX_HEAD_BYTES`, and a request
  the parser refuses with the app's own error page (414, 431, 400), then closes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aar.net import ListenError, listening_socket
from aar.web._app import Web, WebConfig, create_app

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
else:
    _Base = object  # uvicorn is imported only when the server starts

log = logging.getLogger("aar.web")
HEADER_TIMEOUT_S = 5.0
BODY_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 200
MAX_URL_BYTES = 8 * 1024
MAX_HEAD_BYTES = 32 * 1024


ServeError = ListenError
"""The server cannot listen where it was asked to (exit 1: it ran, and failed)."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port), or one clear error."""
    return listening_socket(host, port)


def serve(config: WebConfig, sock: socket.socket, on_ready: Callable[[], None]) -> None:
    """Serve the app on `sock` until interrupted (Ctrl-C, SIGTERM); `on_ready` runs once the
    app is built and the findings memory open (connections wait in the socket's backlog)."""
    import uvicorn

    app = create_app(config)
    app.state.web.warm_store()
    on_ready()
    server = uvicorn.Server(server_config(app))
    server.run(sockets=[sock])


def server_config(app: Any) -> Any:
    """uvicorn's configuration of `app` with the limits of the module doc."""
    import uvicorn

    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http=_guarded_protocol(app.state.web),
        timeout_keep_alive=5,
        limit_concurrency=MAX_CONNECTIONS,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
    )


def _response(web: Web, status: int, title: str, message: str) -> bytes:
    """A whole HTTP response carrying the app's error page (no request reached the app)."""
    body = web.error_html(status, title, message).encode()
    head = (
        f"HTTP/1.1 {status} {title}\r\ncontent-type: text/html; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Limits(_Base):
    """The limits of the module doc, over uvicorn's httptools protocol (`_guarded_protocol`
    puts them in front of it, with the app's error pages as `too_long`, `too_big` and
    `malformed`)."""

    too_long = too_big = malformed = b""
    _timer: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _in_head = True
    _parsed = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > MAX_CONNECTIONS:
            log.warning("connection refused: %d connections open", len(self.connections))
            transport.close()
            return
        self._deadline(HEADER_TIMEOUT_S)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline(None)
        super().connection_lost(exc)

    def _deadline(self, seconds: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None if seconds is None else self.loop.call_later(seconds, self._slow)

    def _slow(self) -> None:
        log.info("closed a connection too slow to send its request")
        self._timer = None
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)  # may end the head (a body in the same data is no head)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(self.too_big)

    def send_400_response(self, msg: str) -> None:
        self._refuse(self.malformed)

    def _refuse(self, response: bytes) -> None:
        self._deadline(None)
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._parsed = True, 0
        if self._timer is None:
            self._deadline(HEADER_TIMEOUT_S)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed += len(name) + len(value) + 4
        if self._parsed > MAX_HEAD_BYTES:
            self._refuse(self.too_big)
            raise _Refused
        super().on_header(name, value)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self._refuse(self.too_long)
            raise _Refused

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        self._deadline(BODY_TIMEOUT_S)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._deadline(None)
        super().on_message_complete()


def _guarded_protocol(web: Web) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with the limits of the module doc."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class Guarded(_Limits, HttpToolsProtocol):
        too_long = _response(
            web, 414, "URL too long", f"the address is over {MAX_URL_BYTES:,} bytes"
        )
        too_big = _response(
            web,
            431,
            "Request head too large",
            f"the request's head is over {MAX_HEAD_BYTES:,} bytes",
        )
        malformed = _response(web, 400, "Malformed request", "the request could not be parsed")

    return Guarded


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request already answered."""
