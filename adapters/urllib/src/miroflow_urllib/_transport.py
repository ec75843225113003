"""The stdlib transports: ``UrllibTransport`` and ``AsyncUrllibTransport`` (the same sync
code, run in a worker thread)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import attrs

from miroflow import ConfigError, HttpRequest, HttpResponse

from ._exchange import exchange

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_TIMEOUT", "AsyncUrllibTransport", "UrllibTransport"]

#: Seconds for the whole exchange: connect, TLS, request, headers and body.
DEFAULT_TIMEOUT = 10.0
#: Bytes of response body read at most; a larger body is an error, not a truncation.
DEFAULT_MAX_BODY = 1024 * 1024


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{attribute.name} must be positive, not {value!r}.")


def _verifying(_instance: object, _attribute: object, value: ssl.SSLContext) -> None:
    if value.verify_mode != ssl.CERT_REQUIRED or not value.check_hostname:
        raise ConfigError(
            "The SSL context must verify certificates and host names (CERT_REQUIRED and "
            "check_hostname). To trust a private CA, load it into a verifying context: "
            "ssl.create_default_context(cafile=...)."
        )


@attrs.frozen(kw_only=True)
class _Settings:
    """What both stdlib transports are configured with, checked once."""

    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=_positive)
    max_body: int = attrs.field(default=DEFAULT_MAX_BODY, validator=_positive)
    ssl_context: ssl.SSLContext = attrs.field(
        factory=ssl.create_default_context, validator=_verifying, eq=False
    )


@attrs.frozen(kw_only=True)
class UrllibTransport(_Settings):
    """A ``miroflow.Transport`` on ``http.client``: nothing to install beyond Python.

    TLS is verified with ``ssl_context`` (default: the system's trust store); redirects are
    returned, never followed; ``timeout`` bounds the whole exchange and ``max_body`` the
    response body, both while reading; each call uses a fresh connection and is never
    retried; failures raise ``TransportError`` / ``TransportTimeout`` naming the method, host
    and path only.
    """

    def send(self, request: HttpRequest) -> HttpResponse:
        return exchange(request, timeout=self.timeout, max_body=self.max_body, tls=self.ssl_context)


@attrs.frozen(kw_only=True)
class AsyncUrllibTransport(_Settings):
    """A ``miroflow.AsyncTransport``: ``UrllibTransport`` run in a worker thread, with the
    same guarantees (the deadline is kept by the thread itself, so cancelling the awaiting
    task does not leave the exchange unbounded)."""

    async def send(self, request: HttpRequest) -> HttpResponse:
        return await asyncio.to_thread(
            exchange,
            request,
            timeout=self.timeout,
            max_body=self.max_body,
            tls=self.ssl_context,
        )
