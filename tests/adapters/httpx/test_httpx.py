"""What the httpx transports do beyond the conformance suite: a user's own client, settings
checks, bodies returned as received, errors that never quote a secret."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from miroflow_httpx import DEFAULT_MAX_BODY, DEFAULT_TIMEOUT, AsyncHttpxTransport, HttpxTransport

from miroflow import ConfigError, HttpRequest, HttpResponse, TransportError, TransportTimeout
from miroflow.testing.transports import SLACK, TIMEOUT, LoopbackServer

Send = Callable[..., HttpResponse]


def _send_sync(
    request: HttpRequest, client: dict[str, Any] | None = None, **settings: Any
) -> HttpResponse:
    if client is None:
        return HttpxTransport(**settings).send(request)
    with httpx.Client(**client) as own:
        response = HttpxTransport(client=own, **settings).send(request)
        assert not own.is_closed, "the user's client is theirs to close"
        return response


def _send_async(
    request: HttpRequest, client: dict[str, Any] | None = None, **settings: Any
) -> HttpResponse:
    async def run() -> HttpResponse:
        if client is None:
            return await AsyncHttpxTransport(**settings).send(request)
        async with httpx.AsyncClient(**client) as own:
            response = await AsyncHttpxTransport(client=own, **settings).send(request)
            assert not own.is_closed, "the user's client is theirs to close"
            return response

    return asyncio.run(run())


SEND = pytest.mark.parametrize("send", [_send_sync, _send_async], ids=["sync", "async"])
CARELESS_CLIENT = {"follow_redirects": True, "timeout": None}


@SEND
def test_a_users_client_that_follows_redirects_does_not_follow_them(
    loopback: LoopbackServer, send: Send
) -> None:
    loopback.respond("/target", body=b"{}")
    loopback.respond("/token", status=302, headers=(("Location", loopback.url("/target")),))
    request = HttpRequest(method="POST", url=loopback.url("/token"), body=b"code=x")
    response = send(request, client=CARELESS_CLIENT)
    assert response.status == 302
    assert loopback.hits("/target") == 0


@SEND
def test_a_users_client_without_timeouts_still_meets_the_deadline(
    loopback: LoopbackServer, send: Send
) -> None:
    loopback.drip("/token", in_headers=True)
    request = HttpRequest(method="POST", url=loopback.url("/token"), body=b"code=x")
    started = time.monotonic()
    with pytest.raises(TransportTimeout):
        send(request, client=CARELESS_CLIENT, timeout=TIMEOUT)
    assert time.monotonic() - started <= TIMEOUT + SLACK


@SEND
def test_a_users_client_still_gets_the_body_cap(loopback: LoopbackServer, send: Send) -> None:
    loopback.respond("/token", body=b"x" * 101, framing="chunked")
    request = HttpRequest(method="GET", url=loopback.url("/token"))
    with pytest.raises(TransportError, match="larger than 100 bytes"):
        send(request, client=CARELESS_CLIENT, max_body=100)


@SEND
def test_the_body_comes_back_as_received_never_decompressed(
    loopback: LoopbackServer, send: Send
) -> None:
    packed = gzip.compress(b'{"access_token":"a"}')
    loopback.respond("/token", headers=(("Content-Encoding", "gzip"),), body=packed)
    response = send(HttpRequest(method="GET", url=loopback.url("/token")))
    assert (response.body, response.header("Content-Encoding")) == (packed, "gzip")
    assert loopback.received[0].header("Accept-Encoding") == "identity"


def test_defaults() -> None:
    transport = HttpxTransport()
    assert (DEFAULT_TIMEOUT, DEFAULT_MAX_BODY) == (10.0, 1024 * 1024)
    assert (transport.timeout, transport.max_body) == (DEFAULT_TIMEOUT, DEFAULT_MAX_BODY)
    assert AsyncHttpxTransport().timeout == DEFAULT_TIMEOUT


@pytest.mark.parametrize("kind", [HttpxTransport, AsyncHttpxTransport])
def test_settings_are_checked(kind: type[HttpxTransport] | type[AsyncHttpxTransport]) -> None:
    careless = ssl.create_default_context()
    careless.check_hostname = False
    careless.verify_mode = ssl.CERT_NONE
    with pytest.raises(ConfigError, match="must verify"):
        kind(ssl_context=careless)
    with pytest.raises(ConfigError, match="positive"):
        kind(timeout=0)
    with pytest.raises(ConfigError, match="positive"):
        kind(max_body=-1)


def test_a_users_client_brings_its_own_tls() -> None:
    with httpx.Client() as client, pytest.raises(ConfigError, match="your httpx client"):
        HttpxTransport(client=client, ssl_context=ssl.create_default_context())
