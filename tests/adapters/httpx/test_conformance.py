"""The httpx transports pass the public transport conformance suite, sync and async."""

from __future__ import annotations

from miroflow_httpx import AsyncHttpxTransport, HttpxTransport

from miroflow.testing.transports import (
    AsyncTransportConformance,
    TransportConformance,
    TransportOptions,
)


class TestHttpxTransport(TransportConformance):
    def make_transport(self, options: TransportOptions) -> HttpxTransport:
        return HttpxTransport(
            timeout=options.timeout, max_body=options.max_body, ssl_context=options.ssl_context
        )


class TestAsyncHttpxTransport(AsyncTransportConformance):
    def make_transport(self, options: TransportOptions) -> AsyncHttpxTransport:
        return AsyncHttpxTransport(
            timeout=options.timeout, max_body=options.max_body, ssl_context=options.ssl_context
        )
