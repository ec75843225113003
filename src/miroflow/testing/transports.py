"""The transport conformance suite: what every ``miroflow.Transport`` must do, as pytest tests.

Subclass one of the suites in a test module whose class name starts with ``Test``, and say
how to build your transport from ``TransportOptions``::

    from miroflow.testing.transports import TransportConformance, TransportOptions

    class TestMyTransport(TransportConformance):
        def make_transport(self, options: TransportOptions) -> MyTransport:
            return MyTransport(
                timeout=options.timeout,
                max_body=options.max_body,
                ssl_context=options.ssl_context,  # or options.ca_file, a PEM path
            )

``AsyncTransportConformance`` is the same for an ``AsyncTransport`` (each exchange runs in
its own ``asyncio.run``). The tests talk to ``LoopbackServer``, a threaded stdlib server on
127.0.0.1 with an ephemeral port, told per test how to misbehave. Nothing sleeps: a stalled
server blocks on an event that the fixture releases at teardown, and every deadline tested is
``TIMEOUT`` seconds. Needs the ``testing`` extra (pytest, trustme for the TLS certificates).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import attrs

try:
    import pytest
except ModuleNotFoundError as missing:  # without the testing extra: say which to install
    from miroflow.testing import _needs_testing_extra

    raise _needs_testing_extra(__name__, missing) from None

from miroflow import (
    AsyncTransport,
    HttpRequest,
    HttpResponse,
    Transport,
    TransportError,
    TransportTimeout,
)

from ._loopback import (
    LoopbackServer,
    Received,
    authority,
    free_port,
    server_context,
    verifying_context,
)

__all__ = [
    "SLACK",
    "TIMEOUT",
    "AsyncTransportConformance",
    "LoopbackServer",
    "Received",
    "TransportConformance",
    "TransportOptions",
]

#: The deadline, in seconds, of every test that expects a timeout.
TIMEOUT = 0.4
#: How late, in seconds, a timeout may be reported (a loaded CI machine is slow to wake).
SLACK = 1.0
#: The deadline of the tests that expect an answer: generous, so they never time out.
_RELAXED = 10.0
_CAP = 64 * 1024


@attrs.frozen(kw_only=True)
class TransportOptions:
    """What the suite asks a transport for: a total deadline, a body cap and, for the TLS
    tests, a trust anchor (as a verifying ``ssl_context`` and as a PEM file, ``ca_file``).
    ``None`` means the transport's default trust (the system's or certifi's)."""

    timeout: float
    max_body: int
    ssl_context: ssl.SSLContext | None = None
    ca_file: str | None = None


class _Secrets:
    """Distinct unguessable markers for every place a secret can sit in a request."""

    def __init__(self) -> None:
        self.client_secret = "cs" + secrets.token_hex(16)
        self.code = "code" + secrets.token_hex(16)
        self.bearer = "bearer" + secrets.token_hex(16)

    def all(self) -> tuple[str, ...]:
        return (self.client_secret, self.code, self.bearer)


def _token_request(url: str, marks: _Secrets) -> HttpRequest:
    """Shaped like Miro's code exchange, with a bearer header too (a secret in a header must
    be just as invisible in errors)."""
    body = (
        f"grant_type=authorization_code&code={marks.code}&client_secret={marks.client_secret}"
        "&client_id=3074457363680401096&redirect_uri=https%3A%2F%2Fexample.com%2Fcallback"
    )
    return HttpRequest(
        method="POST",
        url=url,
        headers=(
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
            ("Authorization", f"Bearer {marks.bearer}"),
            ("X-Conformance", "transport suite"),
        ),
        body=body.encode(),
    )


_MIRO_401 = (
    b'{"status":401,"code":"oauthError","message":"Invalid authorization code.","type":"error"}'
)
_TOKENS = b'{"access_token":"a","token_type":"bearer","user_id":"3458764517517852417"}'
_HTML_500 = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
_REDIRECTS = (301, 302, 303, 307, 308)


def _assert_nothing_leaks(
    error: BaseException, log: pytest.LogCaptureFixture, marks: _Secrets
) -> None:
    shown = [
        str(error),
        repr(error),
        repr(error.args),
        "".join(traceback.format_exception(type(error), error, error.__traceback__)),
        log.text,
        *(record.getMessage() for record in log.records),
    ]
    for mark in marks.all():
        assert not any(mark in text for text in shown), "a secret leaked into an error or log"


class _TransportChecks:
    """The checks, written once for both suites; ``_send`` is all that differs."""

    def _send(self, options: TransportOptions, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError

    @pytest.fixture
    def loopback(self) -> Iterator[LoopbackServer]:
        with LoopbackServer() as server:
            yield server

    @pytest.fixture
    def tls_loopback(self) -> Iterator[LoopbackServer]:
        with LoopbackServer(tls=server_context("127.0.0.1", "localhost")) as server:
            yield server

    @pytest.fixture
    def trusting(self, tmp_path: Path) -> TransportOptions:
        """Options that trust the loopback TLS servers' authority, as a context and a file."""
        ca_file = tmp_path / "ca.pem"
        authority().cert_pem.write_to_path(str(ca_file))
        return _options(ssl_context=verifying_context(authority()), ca_file=str(ca_file))

    def _answer(
        self, server: LoopbackServer, path: str, log: pytest.LogCaptureFixture
    ) -> HttpResponse:
        marks = _Secrets()
        with log.at_level(logging.DEBUG):
            response = self._send(_options(), _token_request(server.url(path), marks))
        assert not any(mark in log.text for mark in marks.all()), "a secret leaked into a log"
        return response

    def _fails(
        self,
        url: str,
        log: pytest.LogCaptureFixture,
        options: TransportOptions | None = None,
    ) -> TransportError:
        marks = _Secrets()
        with log.at_level(logging.DEBUG), pytest.raises(TransportError) as caught:
            self._send(options or _options(), _token_request(url, marks))
        _assert_nothing_leaks(caught.value, log, marks)
        return caught.value

    def _times_out(self, url: str, log: pytest.LogCaptureFixture) -> None:
        started = time.monotonic()
        error = self._fails(url, log, _options(timeout=TIMEOUT))
        elapsed = time.monotonic() - started
        assert isinstance(error, TransportTimeout), f"expected a timeout, got {error!r}"
        assert TIMEOUT - 0.05 <= elapsed <= TIMEOUT + SLACK, f"timed out after {elapsed:.2f} s"

    # --- what goes out --------------------------------------------------------------------

    def test_request_arrives_intact(
        self, loopback: LoopbackServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        loopback.respond("/v1/oauth/token", body=_TOKENS)
        marks = _Secrets()
        request = _token_request(loopback.url("/v1/oauth/token?probe=1&x=%2F"), marks)
        with caplog.at_level(logging.DEBUG):
            self._send(_options(), request)
        assert not any(mark in caplog.text for mark in marks.all()), "a secret leaked into a log"
        [received] = loopback.received
        assert (received.method, received.target) == ("POST", "/v1/oauth/token?probe=1&x=%2F")
        assert received.body == request.body
        for name, value in request.headers:
            assert received.header(name) == value, f"header {name} did not arrive intact"
        assert received.header("Host") == loopback.base_url.split("//")[1]

    def test_get_arrives_without_a_body(self, loopback: LoopbackServer) -> None:
        loopback.respond("/v2/boards", body=b"[]")
        request = HttpRequest(method="GET", url=loopback.url("/v2/boards"))
        assert self._send(_options(), request).body == b"[]"
        [received] = loopback.received
        assert (received.method, received.body) == ("GET", b"")

    # --- what comes back ------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("status", "content_type", "body"),
        [
            (200, "application/json", _TOKENS),
            (401, "application/json", _MIRO_401),
            (500, "text/html; charset=utf-8", _HTML_500),
        ],
    )
    def test_response_comes_back_intact(
        self,
        loopback: LoopbackServer,
        caplog: pytest.LogCaptureFixture,
        status: int,
        content_type: str,
        body: bytes,
    ) -> None:
        headers = (
            ("Content-Type", content_type),
            ("X-Request-Id", "r-42"),
            ("X-Multi", "one"),
            ("X-Multi", "two"),
        )
        loopback.respond("/token", status=status, headers=headers, body=body)
        response = self._answer(loopback, "/token", caplog)
        assert (response.status, response.body) == (status, body)
        assert response.header("content-type") == content_type
        assert response.header("X-REQUEST-ID") == "r-42"
        multi = [v for k, v in response.headers if k.lower() == "x-multi"]
        assert multi == ["one", "two"], "repeated headers must all come back, in order"

    @pytest.mark.parametrize("framing", ["length", "chunked", "close"])
    def test_every_body_framing_is_read_whole(
        self, loopback: LoopbackServer, caplog: pytest.LogCaptureFixture, framing: str
    ) -> None:
        body = bytes(range(256)) * 40
        loopback.respond("/token", body=body, framing=framing)
        response = self._answer(loopback, "/token", caplog)
        assert (response.status, response.body) == (200, body)

    @pytest.mark.parametrize("status", _REDIRECTS)
    def test_redirect_is_returned_not_followed(
        self, loopback: LoopbackServer, caplog: pytest.LogCaptureFixture, status: int
    ) -> None:
        loopback.respond("/target", body=_TOKENS)
        location = loopback.url("/target")
        loopback.respond("/token", status=status, headers=(("Location", location),))
        response = self._answer(loopback, "/token", caplog)
        assert (response.status, response.header("Location")) == (status, location)
        assert loopback.hits("/target") == 0, "the redirect was followed"

    # --- the body cap ---------------------------------------------------------------------

    @pytest.mark.parametrize("framing", ["length", "chunked", "close"])
    def test_body_at_the_cap_is_accepted(
        self, loopback: LoopbackServer, caplog: pytest.LogCaptureFixture, framing: str
    ) -> None:
        loopback.respond("/token", body=b"x" * _CAP, framing=framing)
        response = self._answer(loopback, "/token", caplog)
        assert len(response.body) == _CAP

    @pytest.mark.parametrize("framing", ["length", "chunked", "close"])
    def test_body_over_the_cap_is_an_error(
        self, loopback: LoopbackServer, caplog: pytest.LogCaptureFixture, framing: str
    ) -> None:
        loopback.respond("/token", body=b"x" * (_CAP + 1), framing=framing)
        error = self._fails(loopback.url("/token"), caplog)
        assert not isinstance(error, TransportTimeout)

    @pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
    def test_huge_body_is_cut_off_while_reading(
        self, loopback: LoopbackServer, caplog: pytest.LogCaptureFixture, chunked: bool
    ) -> None:
        loopback.flood("/token", chunked=chunked)
        error = self._fails(loopback.url("/token"), caplog)
        assert not isinstance(error, TransportTimeout)
        assert loopback.handler_done.wait(_RELAXED), "the transport kept the connection open"
        assert loopback.wrote_everything is False, "the transport read the whole huge body"

    # --- broken connections ---------------------------------------------------------------

    def test_connection_closed_mid_body_is_an_error(
        self, loopback: LoopbackServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        loopback.cut("/token")
        assert not isinstance(self._fails(loopback.url("/token"), caplog), TransportTimeout)

    def test_dropped_connection_is_an_error_and_is_not_retried(
        self, loopback: LoopbackServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        loopback.drop("/token")
        assert not isinstance(self._fails(loopback.url("/token"), caplog), TransportTimeout)
        assert loopback.hits("/token") == 1, "the request was sent more than once"

    def test_refused_connection_is_an_error(self, caplog: pytest.LogCaptureFixture) -> None:
        error = self._fails(f"http://127.0.0.1:{free_port()}/token", caplog)
        assert not isinstance(error, TransportTimeout)

    @pytest.mark.parametrize(
        "url", ["ftp://127.0.0.1/token", "http://127.0.0.1:99999/token", "http:///token"]
    )
    def test_an_unusable_url_is_a_transport_error(
        self, url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        self._fails(url, caplog)

    def test_an_invalid_header_is_refused_without_showing_its_value(
        self, loopback: LoopbackServer
    ) -> None:
        secret = "bearer-" + secrets.token_hex(8)
        request = HttpRequest(
            method="POST",
            url=loopback.url("/token"),
            headers=(("Authorization", f"Bearer {secret}\r\nX-Injected: 1"),),
        )
        with pytest.raises(TransportError) as caught:
            self._send(_options(), request)
        error = caught.value
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        assert secret not in text + repr(error)
        assert loopback.received == [], "a header with a line break reached the server"

    # --- the total deadline ---------------------------------------------------------------

    @pytest.mark.parametrize(
        "after",
        [b"", b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"access'],
        ids=["before-headers", "mid-body"],
    )
    def test_stalled_server_times_out(
        self, loopback: LoopbackServer, caplog: pytest.LogCaptureFixture, after: bytes
    ) -> None:
        loopback.stall("/token", after=after)
        self._times_out(loopback.url("/token"), caplog)

    @pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
    def test_drip_feed_times_out_by_the_total_deadline(
        self, loopback: LoopbackServer, caplog: pytest.LogCaptureFixture, in_headers: bool
    ) -> None:
        loopback.drip("/token", in_headers=in_headers)
        self._times_out(loopback.url("/token"), caplog)

    # --- TLS ------------------------------------------------------------------------------

    def test_untrusted_certificate_is_refused(
        self, tls_loopback: LoopbackServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        tls_loopback.respond("/token", body=_TOKENS)
        error = self._fails(tls_loopback.url("/token"), caplog)
        assert not isinstance(error, TransportTimeout)
        assert tls_loopback.hits("/token") == 0, "the request went to an unverified server"

    def test_trusted_certificate_for_another_host_is_refused(
        self, trusting: TransportOptions, caplog: pytest.LogCaptureFixture
    ) -> None:
        with LoopbackServer(tls=server_context("api.example.com")) as elsewhere:
            elsewhere.respond("/token", body=_TOKENS)
            error = self._fails(elsewhere.url("/token"), caplog, trusting)
            assert not isinstance(error, TransportTimeout)
            assert elsewhere.hits("/token") == 0, "the host name was not checked"

    def test_trusted_certificate_is_accepted(
        self, tls_loopback: LoopbackServer, trusting: TransportOptions
    ) -> None:
        tls_loopback.respond("/token", body=_TOKENS)
        request = _token_request(tls_loopback.url("/token"), _Secrets())
        response = self._send(trusting, request)
        assert (response.status, response.body) == (200, _TOKENS)
        assert tls_loopback.received[0].body == request.body


def _options(
    *,
    timeout: float = _RELAXED,
    ssl_context: ssl.SSLContext | None = None,
    ca_file: str | None = None,
) -> TransportOptions:
    return TransportOptions(
        timeout=timeout, max_body=_CAP, ssl_context=ssl_context, ca_file=ca_file
    )


class TransportConformance(_TransportChecks):
    """The suite for a ``miroflow.Transport``: subclass it and define ``make_transport``."""

    def make_transport(self, options: TransportOptions) -> Transport:
        raise NotImplementedError("return your transport, built from options")

    def _send(self, options: TransportOptions, request: HttpRequest) -> HttpResponse:
        return self.make_transport(options).send(request)


class AsyncTransportConformance(_TransportChecks):
    """The suite for a ``miroflow.AsyncTransport``: subclass it and define ``make_transport``
    (called inside the event loop, so the transport may bind to it)."""

    def make_transport(self, options: TransportOptions) -> AsyncTransport:
        raise NotImplementedError("return your async transport, built from options")

    def _send(self, options: TransportOptions, request: HttpRequest) -> HttpResponse:
        async def exchange() -> HttpResponse:
            return await self.make_transport(options).send(request)

        return asyncio.run(exchange())
