"""``Client`` and ``AsyncClient``: the driver's procedures run against blocking or awaitable
ports. This module is the core's edge: it holds the defaults that read the system clock and
random source (``time.time``, ``os.urandom``; the machine still takes both as inputs) and
logs every failure, with the operator's detail, on the ``miroflow`` logger."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from ._answer import Answer
from ._config import ClientConfig
from ._driver import ClaimFlow, Driver, Observer, Procedure
from ._errors import MiroflowError
from ._events import RevokeTokens, SaveFlow, SendTokenRequest, StoreTokens
from ._ports import (
    AsyncFlowStore,
    AsyncTokenStore,
    AsyncTransport,
    Clock,
    Entropy,
    FlowStore,
    TokenStore,
    Transport,
)

__all__ = ["AsyncClient", "Client"]

logger = logging.getLogger("miroflow")


def _ports(flows: Any, tokens: Any, transport: Any) -> dict[type[Any], Callable[[Any], Any]]:
    """Which port carries out which operation: one table for both clients (an async port's
    methods return awaitables, which ``AsyncClient`` awaits)."""
    return {
        ClaimFlow: lambda op: flows.claim(op.state_hash, op.binding_hash),
        SaveFlow: lambda op: flows.save(op.flow),
        SendTokenRequest: lambda op: transport.send(op.request),
        RevokeTokens: lambda op: transport.send(op.request),
        StoreTokens: lambda op: tokens.put(op.tokens),
    }


def _report(answer: Answer) -> Answer:
    """Log a failed answer for the operator: the error's code, the flow, the detail. Problems
    on the server's side (status 500 and up) are errors; the browser's, information."""
    error = answer.error
    if error is not None:
        flow = answer.flow.flow_id if answer.flow is not None else "-"
        level = logging.ERROR if answer.status >= 500 else logging.INFO
        logger.log(
            level,
            "miroflow %s (status %d, flow %s): %s",
            error.code,
            answer.status,
            flow,
            error.detail,
        )
    return answer


class _Base(Driver):
    def __init__(
        self,
        config: ClientConfig,
        *,
        clock: Clock | None,
        entropy: Entropy | None,
        on_transition: Observer | None,
    ) -> None:
        super().__init__(
            config,
            clock=clock or time.time,
            entropy=entropy or os.urandom,
            observe=on_transition,
        )

    @property
    def cookie_name(self) -> str:
        """The name of the browser-binding cookie an adapter must pass back."""
        return self.config.binding_cookie_name


class Client(_Base):
    """Runs flows with blocking ports (threads, WSGI).

    ``clock`` and ``entropy`` default to ``time.time`` and ``os.urandom``; pass others to
    replay or test (the simulator's clock, say). ``on_transition``, if given, is called with
    a ``Transition`` for every step the machine takes (for logs and traces).
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        flows: FlowStore,
        tokens: TokenStore,
        transport: Transport,
        clock: Clock | None = None,
        entropy: Entropy | None = None,
        on_transition: Observer | None = None,
    ) -> None:
        super().__init__(config, clock=clock, entropy=entropy, on_transition=on_transition)
        self.flows = flows
        self.tokens = tokens
        self.transport = transport
        self._handlers = _ports(flows, tokens, transport)

    def start(
        self,
        *,
        binding_cookie: str | None = None,
        team_id: str | None = None,
        return_path: str | None = None,
    ) -> Answer:
        """Start a flow: a 302 to Miro's consent page that sets the binding cookie.

        Pass the browser's current binding cookie, if any, so that flows started in several
        tabs of one browser all stay valid."""
        return _report(self._run(self._start(binding_cookie, team_id, return_path)))

    def handle_callback(self, query: str | bytes, *, binding_cookie: str | None) -> Answer:
        """Handle Miro's redirect back (the raw query string and the binding cookie): a 303
        to the app with ``answer.tokens`` set, or an error answer saying why."""
        return _report(self._run(self._callback(query, binding_cookie)))

    def _run(self, procedure: Procedure) -> Answer:
        send, throw, handlers = procedure.send, procedure.throw, self._handlers
        try:
            operation = send(None)
            while True:
                try:
                    result = handlers[type(operation)](operation)
                except MiroflowError as error:
                    operation = throw(error)
                else:
                    operation = send(result)
        except StopIteration as stop:
            answer: Answer = stop.value
            return answer


class AsyncClient(_Base):
    """Runs flows with awaitable ports (asyncio, ASGI): the same procedures as ``Client``."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        flows: AsyncFlowStore,
        tokens: AsyncTokenStore,
        transport: AsyncTransport,
        clock: Clock | None = None,
        entropy: Entropy | None = None,
        on_transition: Observer | None = None,
    ) -> None:
        super().__init__(config, clock=clock, entropy=entropy, on_transition=on_transition)
        self.flows = flows
        self.tokens = tokens
        self.transport = transport
        self._handlers = _ports(flows, tokens, transport)

    async def start(
        self,
        *,
        binding_cookie: str | None = None,
        team_id: str | None = None,
        return_path: str | None = None,
    ) -> Answer:
        """See ``Client.start``."""
        return _report(await self._run(self._start(binding_cookie, team_id, return_path)))

    async def handle_callback(self, query: str | bytes, *, binding_cookie: str | None) -> Answer:
        """See ``Client.handle_callback``."""
        return _report(await self._run(self._callback(query, binding_cookie)))

    async def _run(self, procedure: Procedure) -> Answer:
        send, throw, handlers = procedure.send, procedure.throw, self._handlers
        try:
            operation = send(None)
            while True:
                try:
                    result = await handlers[type(operation)](operation)
                except MiroflowError as error:
                    operation = throw(error)
                else:
                    operation = send(result)
        except StopIteration as stop:
            answer: Answer = stop.value
            return answer
