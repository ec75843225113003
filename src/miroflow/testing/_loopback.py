"""The transport suite's loopback server: a threaded stdlib HTTP(S) server on 127.0.0.1,
scripted per path to answer, stall, drip-feed, flood or hang up; and the throwaway
certificate authority its TLS tests trust (made with trustme)."""

from __future__ import annotations

import functools
import http.client
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

import attrs

try:
    import trustme
except ModuleNotFoundError as missing:  # without the testing extra: say which to install
    from miroflow.testing import _needs_testing_extra

    raise _needs_testing_extra(__name__, missing) from None

__all__ = [
    "LoopbackServer",
    "Received",
    "authority",
    "free_port",
    "server_context",
    "verifying_context",
]

FLOOD = 64 * 1024 * 1024  # far beyond any socket buffer, so only a reader that stops is seen
_DRIP_BYTES = 120  # at one byte per 50 ms: 6 s, so a per-read deadline fails the test
_DRIP_GAP = 0.05
_HANDLER_LIMIT = 30.0  # a misbehaving handler gives up by then, whatever the test does


@attrs.frozen(kw_only=True)
class Received:
    """One request as the loopback server read it."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = attrs.field(repr=False)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


Behaviour = Callable[["_Handler"], None]


class LoopbackServer:
    """A threaded HTTP(S) server on 127.0.0.1, scripted per path; unknown paths get 404.

    Use as a context manager; leaving it releases every stalled handler and stops the server.
    """

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.release = threading.Event()
        self.received: list[Received] = []
        #: For ``flood``: whether the handler wrote the whole body (False: the peer hung up).
        self.wrote_everything: bool | None = None
        self.handler_done = threading.Event()
        self._routes: dict[str, Behaviour] = {}
        self._lock = threading.Lock()
        self._server = _Server(self, tls)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        scheme = "https" if tls is not None else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return self.base_url + path

    def hits(self, path: str) -> int:
        """How many requests arrived for ``path`` (query ignored)."""
        with self._lock:
            return sum(1 for r in self.received if r.target.split("?")[0] == path)

    # --- scripts ----------------------------------------------------------------------

    def respond(
        self,
        path: str,
        *,
        status: int = 200,
        headers: tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
        framing: str = "length",
    ) -> None:
        """Answer with ``body`` framed by Content-Length (``"length"``), chunked encoding
        (``"chunked"``) or the end of the connection (``"close"``)."""

        def behaviour(handler: _Handler) -> None:
            if framing == "chunked":
                handler.head(status, (*headers, ("Transfer-Encoding", "chunked")))
                for start in range(0, len(body), 1000):
                    piece = body[start : start + 1000]
                    handler.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                handler.write(b"0\r\n\r\n")
            elif framing == "close":
                handler.head(status, headers)
                handler.write(body)
            else:
                handler.head(status, (*headers, ("Content-Length", str(len(body)))))
                handler.write(body)

        self._routes[path] = behaviour

    def stall(self, path: str, *, after: bytes = b"") -> None:
        """Send ``after`` (e.g. a status line and part of a body), then nothing at all."""

        def behaviour(handler: _Handler) -> None:
            handler.write(after)
            handler.wait()

        self._routes[path] = behaviour

    def drip(self, path: str, *, in_headers: bool = False) -> None:
        """Send one byte every 50 ms: of a header line, or of a declared body."""

        def behaviour(handler: _Handler) -> None:
            if in_headers:
                handler.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
            else:
                handler.head(200, (("Content-Length", str(_DRIP_BYTES)),))
            for _ in range(_DRIP_BYTES):
                if handler.wait(_DRIP_GAP):
                    return
                handler.write(b"a")
            handler.write(b"\r\n\r\n" if in_headers else b"")

        self._routes[path] = behaviour

    def flood(self, path: str, *, size: int = FLOOD, chunked: bool = False) -> None:
        """Write a ``size``-byte body as fast as the peer reads it; record whether it all went
        (``wrote_everything``) and set ``handler_done``."""

        def behaviour(handler: _Handler) -> None:
            framing = ("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(size))
            piece = b"x" * (64 * 1024)
            frame = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
            try:
                handler.head(200, (framing,))
                for _ in range(size // len(piece)):
                    handler.write(frame)
                handler.write(b"0\r\n\r\n" if chunked else b"")
                self.wrote_everything = True
            except OSError:
                self.wrote_everything = False
            finally:
                self.handler_done.set()

        self._routes[path] = behaviour

    def cut(self, path: str) -> None:
        """Declare a 1000-byte body, send 10 bytes, hang up."""

        def behaviour(handler: _Handler) -> None:
            handler.head(200, (("Content-Length", "1000"),))
            handler.write(b"0123456789")

        self._routes[path] = behaviour

    def drop(self, path: str) -> None:
        """Read the request and hang up without a word."""
        self._routes[path] = _hang_up

    # --- used by the handler ----------------------------------------------------------

    def _record(self, received: Received) -> Behaviour:
        with self._lock:
            self.received.append(received)
        return self._routes.get(received.target.split("?")[0], _not_found)


def _hang_up(handler: _Handler) -> None:
    pass  # returning without writing closes the connection


def _not_found(handler: _Handler) -> None:
    handler.head(404, (("Content-Length", "0"),))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: LoopbackServer, tls: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.tls = tls
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # peers hanging up mid-write or failing TLS are what these tests provoke


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _HANDLER_LIMIT
    server: _Server

    def setup(self) -> None:
        if self.server.tls is not None:
            # The handshake runs here, in the handler's thread, not in the accepting loop.
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def finish(self) -> None:
        super().finish()
        if self.server.tls is not None:
            self.request.close()  # the server closes the plain socket, emptied by wrap_socket

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline or not self.parse_request():
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        received = Received(
            method=self.command,
            target=self.path,
            headers=tuple(self.headers.items()),
            body=self.rfile.read(length) if length else b"",
        )
        self.server.owner._record(received)(self)
        self.close_connection = True

    def head(self, status: int, headers: tuple[tuple[str, str], ...]) -> None:
        reason = http.client.responses.get(status, "Unknown")
        lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers)]
        self.write(("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode("latin-1"))

    def write(self, data: bytes) -> None:
        if data:
            self.request.sendall(data)

    def wait(self, seconds: float = _HANDLER_LIMIT) -> bool:
        """Block until the test ends (True) or ``seconds`` pass (False)."""
        return self.server.owner.release.wait(seconds)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


@functools.cache
def authority() -> trustme.CA:
    return trustme.CA()


def verifying_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@functools.cache
def server_context(*names: str) -> ssl.SSLContext:
    """A server context whose certificate, from ``authority()``, names ``names``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority().issue_cert(*names).configure_cert(context)
    return context


def free_port() -> int:
    """A loopback port nobody listens on: bound, then closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
