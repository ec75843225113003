"""``HttpxTransport``: a ``miroflow.Transport`` on ``httpx.Client``."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable

import attrs
import httpx

from miroflow import HttpRequest, HttpResponse

from ._exchange import Exchange, Settings, alone


@attrs.frozen(kw_only=True)
class HttpxTransport(Settings):
    """Sends each request once with httpx, TLS verified, redirects returned as they are.

    ``timeout`` bounds the whole exchange and ``max_body`` the response body, both while
    reading; failures raise ``TransportError`` / ``TransportTimeout`` naming the method, host
    and path only. Without ``client``, each call uses a fresh client verifying with
    ``ssl_context`` (default: httpx's, i.e. certifi's CAs). With ``client``, its TLS, proxy
    and default headers apply, but never its redirect or timeout settings.
    """

    client: httpx.Client | None = attrs.field(default=None, validator=alone, eq=False)

    def send(self, request: HttpRequest) -> HttpResponse:
        exchange = Exchange.start(request, self)
        return _within_deadline(exchange, lambda: self._exchange(exchange))

    def _exchange(self, exchange: Exchange) -> HttpResponse:
        with (
            exchange.translated_errors(),
            self._client() as client,
            client.stream(**exchange.stream_options()) as response,
        ):
            exchange.check_head(response)
            for chunk in response.iter_raw():
                exchange.take(chunk)
            return exchange.result(response)

    def _client(self) -> contextlib.AbstractContextManager[httpx.Client]:
        if self.client is not None:
            return contextlib.nullcontext(self.client)  # the user's: used, never closed
        return httpx.Client(**self.owned_client_options())


def _within_deadline(exchange: Exchange, work: Callable[[], HttpResponse]) -> HttpResponse:
    """Run ``work`` in a thread and give up on it at the deadline.

    Why a thread: httpx's timeouts bound each read, not the exchange, so a server dripping a
    byte at a time (in the headers too) would outlast them. Given up on, the thread still
    ends soon: its own per-read timeouts and the deadline check after each chunk stop it,
    and leaving the ``with`` blocks closes the connection.
    """
    outcome: list[HttpResponse | BaseException] = []
    finished = threading.Event()

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as error:  # handed over to the caller's thread, as is
            outcome.append(error)
        finally:
            finished.set()

    worker = threading.Thread(  # with the caller's context variables (tracing, say)
        target=contextvars.copy_context().run, args=(run,), name="miroflow-httpx", daemon=True
    )
    worker.start()
    if not finished.wait(exchange.time_left()):
        raise exchange.timed_out()
    [result] = outcome
    if isinstance(result, BaseException):
        raise result
    return result
