"""One HTTP exchange over ``http.client``: a fresh connection, a total deadline, a body cap.

Why a watchdog: a socket timeout bounds each read, not the exchange. A server that
drip-feeds one byte per second never trips a per-read timeout, so a timer shuts the socket
down at the deadline. ``shutdown`` (unlike ``close``) wakes a read blocked in another thread;
the read then fails and, the deadline having passed, the failure is reported as a timeout.
Each read also gets the time left as its own timeout, so a stalled server is caught exactly
even where ``shutdown`` does not wake a reader.

One connection per exchange and no keep-alive: token calls are rare, and a fresh connection
is what lets the watchdog own the socket from the first byte (TLS handshake included).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from urllib.parse import SplitResult, urlsplit

from miroflow import HttpRequest, HttpResponse, MiroflowError, TransportError, TransportTimeout

_CHUNK = 64 * 1024
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"})


class _Cutter:
    """Shuts the exchange's socket down when the deadline passes, waking any blocked read.

    The socket may be set after the deadline (a slow connect): then it is cut at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Kept here too because http.client drops its own reference once a response says
        # "Connection: close", while the body is still being read through it.
        self.sock: socket.socket | None = None
        self.fired = False

    def arm(self, sock: socket.socket) -> None:
        with self._lock:
            self.sock = sock
            if self.fired:
                _shut(sock)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            if self.sock is not None:
                _shut(self.sock)


def _shut(sock: socket.socket) -> None:
    # The plain socket method, even on an SSLSocket: its own shutdown() unwraps TLS state
    # that a reader in another thread is still using.
    with contextlib.suppress(OSError):  # already closed: nothing left to wake
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Connection(http.client.HTTPConnection):
    """An HTTP(S) connection whose socket the cutter holds from before the TLS handshake."""

    def __init__(
        self,
        parts: SplitResult,
        *,
        timeout: float,
        tls: ssl.SSLContext | None,
        cutter: _Cutter,
    ) -> None:
        self.default_port = 443 if tls is not None else 80
        super().__init__(parts.hostname or "", parts.port or self.default_port, timeout=timeout)
        self._tls = tls
        self._cutter = cutter

    def connect(self) -> None:
        # Each socket is ``self.sock`` as soon as it exists, so close() closes it on failure.
        self.sock = socket.create_connection((self.host, self.port), self.timeout)
        self._cutter.arm(self.sock)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:
            self.sock = self._tls.wrap_socket(
                self.sock, server_hostname=self.host, do_handshake_on_connect=False
            )
            # wrap_socket takes the file descriptor over: the cutter must hold the new object.
            self._cutter.arm(self.sock)
            self.sock.do_handshake()


def exchange(
    request: HttpRequest, *, timeout: float, max_body: int, tls: ssl.SSLContext
) -> HttpResponse:
    """Send ``request`` once and read the whole response, within ``timeout`` seconds in total
    and ``max_body`` bytes of body."""
    label = request.describe()
    deadline = time.monotonic() + timeout
    cutter = _Cutter()
    watchdog = threading.Timer(timeout, cutter.fire)
    watchdog.daemon = True
    connection: _Connection | None = None
    response: http.client.HTTPResponse | None = None
    try:
        parts = _usable_url(request, label)
        connection = _Connection(
            parts, timeout=timeout, tls=tls if parts.scheme == "https" else None, cutter=cutter
        )
        watchdog.start()
        _send_request(connection, parts, request)
        response = connection.getresponse()
        return _read_response(response, cutter, deadline, max_body, label, timeout)
    except MiroflowError:
        raise
    except Exception as error:  # whatever else the stdlib raises is still a failure
        late = cutter.fired or time.monotonic() >= deadline
        raise _translate(error, label, timeout, late=late) from None
    finally:
        watchdog.cancel()
        # Both: after "Connection: close" the response alone holds the socket open.
        if response is not None:
            response.close()
        if connection is not None:
            connection.close()


def _usable_url(request: HttpRequest, label: str) -> SplitResult:
    try:
        parts = urlsplit(request.url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 (a port out of range raises here, not deep in a socket call)
    except ValueError:
        usable = False
    if not usable:
        raise TransportError(f"{label}: the URL is not a usable http:// or https:// URL.")
    return parts


def _send_request(connection: _Connection, parts: SplitResult, request: HttpRequest) -> None:
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    names = {name.lower() for name, _ in request.headers}
    connection.putrequest(
        request.method,
        target,
        skip_host="host" in names,
        # http.client asks for "identity" unless told not to: the body comes back as sent.
        skip_accept_encoding="accept-encoding" in names,
    )
    for name, value in request.headers:
        connection.putheader(name, value)
    if "content-length" not in names and (request.body or request.method not in _NO_BODY_METHODS):
        connection.putheader("Content-Length", str(len(request.body)))
    connection.endheaders(request.body or None)


def _read_response(
    response: http.client.HTTPResponse,
    cutter: _Cutter,
    deadline: float,
    max_body: int,
    label: str,
    timeout: float,
) -> HttpResponse:
    headers = tuple(response.getheaders())
    declared = _declared_length(response)
    if declared is not None and declared > max_body:
        raise _too_large(label, max_body)
    body = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _timed_out(label, timeout)
        if cutter.sock is not None:
            cutter.sock.settimeout(left)
        chunk = response.read1(_CHUNK)
        if not chunk:
            break
        body += chunk
        if len(body) > max_body:
            raise _too_large(label, max_body)
    if cutter.fired:  # the end of the body was the watchdog's doing, not the server's
        raise _timed_out(label, timeout)
    if declared is not None and len(body) < declared:
        raise TransportError(f"{label}: the connection closed before the whole body arrived.")
    return HttpResponse(status=response.status, headers=headers, body=bytes(body))


def _declared_length(response: http.client.HTTPResponse) -> int | None:
    if response.getheader("Transfer-Encoding") is not None:
        return None  # chunked: the framing, not Content-Length, says where the body ends
    value = response.getheader("Content-Length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _too_large(label: str, max_body: int) -> TransportError:
    return TransportError(f"{label}: the response body is larger than {max_body} bytes.")


def _timed_out(label: str, timeout: float) -> TransportTimeout:
    return TransportTimeout(f"{label}: no complete response within {timeout:g} s.")


def _translate(error: Exception, label: str, timeout: float, *, late: bool) -> TransportError:
    """A typed error that says what failed, built only from fixed text and facts that hold no
    secret (an OS error's ``strerror``, a TLS reason code), never from ``str(error)``, which
    for some errors quotes a header value."""
    if late or isinstance(error, TimeoutError):
        return _timed_out(label, timeout)
    if isinstance(error, ssl.SSLCertVerificationError):
        reason = error.verify_message or "untrusted certificate"
        return TransportError(f"{label}: TLS certificate verification failed ({reason}).")
    if isinstance(error, ssl.SSLError):
        return TransportError(f"{label}: the TLS handshake failed ({error.reason}).")
    if isinstance(error, http.client.RemoteDisconnected):
        return TransportError(f"{label}: the server closed the connection without a response.")
    if isinstance(error, http.client.IncompleteRead):
        return TransportError(f"{label}: the connection closed before the whole body arrived.")
    if isinstance(error, OSError):
        reason = error.strerror or type(error).__name__
        return TransportError(f"{label}: the connection failed ({reason}).")
    if isinstance(error, http.client.HTTPException):
        return TransportError(f"{label}: the response is not valid HTTP ({type(error).__name__}).")
    return TransportError(f"{label}: the request is not valid ({type(error).__name__}).")
