"""What the stdlib transports do beyond the conformance suite: settings checks, bodies
returned as received, unusable URLs and invalid headers as typed errors without secrets."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import Callable
from typing import Any

import pytest
from miroflow_urllib import DEFAULT_MAX_BODY, DEFAULT_TIMEOUT, AsyncUrllibTransport, UrllibTransport

from miroflow import ConfigError, HttpRequest, HttpResponse
from miroflow.testing.transports import LoopbackServer

Send = Callable[..., HttpResponse]


def _send_sync(request: HttpRequest, **settings: Any) -> HttpResponse:
    return UrllibTransport(**settings).send(request)


def _send_async(request: HttpRequest, **settings: Any) -> HttpResponse:
    return asyncio.run(AsyncUrllibTransport(**settings).send(request))


SEND = pytest.mark.parametrize("send", [_send_sync, _send_async], ids=["sync", "async"])


@SEND
def test_the_body_comes_back_as_received_never_decompressed(
    loopback: LoopbackServer, send: Send
) -> None:
    packed = gzip.compress(b'{"access_token":"a"}')
    loopback.respond("/token", headers=(("Content-Encoding", "gzip"),), body=packed)
    response = send(HttpRequest(method="GET", url=loopback.url("/token")))
    assert (response.body, response.header("Content-Encoding")) == (packed, "gzip")
    assert loopback.received[0].header("Accept-Encoding") == "identity"


@SEND
def test_the_requests_own_host_and_encoding_headers_win(
    loopback: LoopbackServer, send: Send
) -> None:
    loopback.respond("/token", body=b"{}")
    headers = (("Host", "api.miro.com"), ("Accept-Encoding", "gzip"))
    send(HttpRequest(method="GET", url=loopback.url("/token"), headers=headers))
    [received] = loopback.received
    assert [v for k, v in received.headers if k.lower() == "host"] == ["api.miro.com"]
    assert [v for k, v in received.headers if k.lower() == "accept-encoding"] == ["gzip"]


@SEND
def test_an_empty_post_says_so(loopback: LoopbackServer, send: Send) -> None:
    loopback.respond("/v2/oauth/revoke", status=204)
    response = send(HttpRequest(method="POST", url=loopback.url("/v2/oauth/revoke")))
    assert (response.status, response.body) == (204, b"")
    assert loopback.received[0].header("Content-Length") == "0"


def test_defaults() -> None:
    transport = UrllibTransport()
    assert (DEFAULT_TIMEOUT, DEFAULT_MAX_BODY) == (10.0, 1024 * 1024)
    assert (transport.timeout, transport.max_body) == (DEFAULT_TIMEOUT, DEFAULT_MAX_BODY)
    assert transport.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert AsyncUrllibTransport().timeout == DEFAULT_TIMEOUT


@pytest.mark.parametrize("kind", [UrllibTransport, AsyncUrllibTransport])
def test_settings_are_checked(kind: type[UrllibTransport] | type[AsyncUrllibTransport]) -> None:
    careless = ssl.create_default_context()
    careless.check_hostname = False
    careless.verify_mode = ssl.CERT_NONE
    with pytest.raises(ConfigError, match="must verify"):
        kind(ssl_context=careless)
    with pytest.raises(ConfigError, match="positive"):
        kind(timeout=-1.0)
    with pytest.raises(ConfigError, match="positive"):
        kind(max_body=0)
