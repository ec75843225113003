"""The stdlib transports pass the public transport conformance suite, sync and async."""

from __future__ import annotations

import ssl

from miroflow_urllib import AsyncUrllibTransport, UrllibTransport

from miroflow.testing.transports import (
    AsyncTransportConformance,
    TransportConformance,
    TransportOptions,
)


def _context(options: TransportOptions) -> ssl.SSLContext:
    return options.ssl_context or ssl.create_default_context()


class TestUrllibTransport(TransportConformance):
    def make_transport(self, options: TransportOptions) -> UrllibTransport:
        return UrllibTransport(
            timeout=options.timeout, max_body=options.max_body, ssl_context=_context(options)
        )


class TestAsyncUrllibTransport(AsyncTransportConformance):
    def make_transport(self, options: TransportOptions) -> AsyncUrllibTransport:
        return AsyncUrllibTransport(
            timeout=options.timeout, max_body=options.max_body, ssl_context=_context(options)
        )
