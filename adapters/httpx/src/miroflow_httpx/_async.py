"""``AsyncHttpxTransport``: a ``miroflow.AsyncTransport`` on ``httpx.AsyncClient``."""

from __future__ import annotations

import contextlib

import anyio
import attrs
import httpx

from miroflow import HttpRequest, HttpResponse

from ._exchange import Exchange, Settings, alone


@attrs.frozen(kw_only=True)
class AsyncHttpxTransport(Settings):
    """``HttpxTransport`` for asyncio (or trio) code, with the same guarantees; the deadline
    is a cancel scope around the whole exchange, headers and body included."""

    client: httpx.AsyncClient | None = attrs.field(default=None, validator=alone, eq=False)

    async def send(self, request: HttpRequest) -> HttpResponse:
        exchange = Exchange.start(request, self)
        with exchange.translated_errors(), anyio.fail_after(exchange.time_left()):
            async with (
                self._client() as client,
                client.stream(**exchange.stream_options()) as response,
            ):
                exchange.check_head(response)
                async for chunk in response.aiter_raw():
                    exchange.take(chunk)
                return exchange.result(response)

    def _client(self) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        if self.client is not None:
            return contextlib.nullcontext(self.client)  # the user's: used, never closed
        return httpx.AsyncClient(**self.owned_client_options())
