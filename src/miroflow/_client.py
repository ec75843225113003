"""``Client`` and ``AsyncClient``: the driver's procedures run against blocking or awaitable
ports. Each runner is a dozen lines; all protocol logic lives in the machine and the
procedures they share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ._config import ClientConfig
from ._driver import (
    Answer,
    ClaimFlow,
    Observer,
    Procedure,
    handle_callback,
    start,
)
from ._errors import MiroflowError
from ._events import DeleteFlow, SaveFlow, SendTokenRequest, StoreTokens
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


class _Base:
    def __init__(
        self,
        config: ClientConfig,
        *,
        clock: Clock,
        entropy: Entropy,
        on_transition: Observer | None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._entropy = entropy
        self._observe = on_transition

    @property
    def cookie_name(self) -> str:
        """The name of the browser-binding cookie an adapter must pass back."""
        return self.config.binding_cookie_name

    def _start(
        self, binding_cookie: str | None, team_id: str | None, return_path: str | None
    ) -> Procedure:
        return start(
            self.config,
            self._clock,
            self._entropy,
            binding_cookie=binding_cookie,
            team_id=team_id,
            return_path=return_path,
            observe=self._observe,
        )

    def _callback(self, query: str | bytes, binding_cookie: str | None) -> Procedure:
        return handle_callback(
            self.config, self._clock, query, binding_cookie=binding_cookie, observe=self._observe
        )


class Client(_Base):
    """Runs flows with blocking ports (threads, WSGI).

    ``clock`` and ``entropy`` are explicit because the core never reads the system clock or
    random source itself: pass ``time.time`` and ``os.urandom``. ``on_transition``, if given,
    is called with a ``Transition`` for every step the machine takes (for logs and traces).
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        flows: FlowStore,
        tokens: TokenStore,
        transport: Transport,
        clock: Clock,
        entropy: Entropy,
        on_transition: Observer | None = None,
    ) -> None:
        super().__init__(config, clock=clock, entropy=entropy, on_transition=on_transition)
        self.flows = flows
        self.tokens = tokens
        self.transport = transport
        self._handlers: dict[type[Any], Callable[[Any], Any]] = {
            ClaimFlow: lambda op: flows.claim(op.state_hash, op.now),
            SaveFlow: lambda op: flows.save(op.flow),
            DeleteFlow: lambda op: flows.delete(op.state_hash),
            StoreTokens: lambda op: tokens.put(op.tokens),
            SendTokenRequest: lambda op: transport.send(op.request),
        }

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
        return self._run(self._start(binding_cookie, team_id, return_path))

    def handle_callback(self, query: str | bytes, *, binding_cookie: str | None) -> Answer:
        """Handle Miro's redirect back (the raw query string and the binding cookie): a 302
        to the app with ``answer.tokens`` set, or an error answer saying why."""
        return self._run(self._callback(query, binding_cookie))

    def _run(self, procedure: Procedure) -> Answer:
        result: Any = None
        error: MiroflowError | None = None
        while True:
            try:
                op = procedure.send(result) if error is None else procedure.throw(error)
            except StopIteration as stop:
                answer: Answer = stop.value
                return answer
            try:
                result, error = self._handlers[type(op)](op), None
            except MiroflowError as exc:
                result, error = None, exc


class AsyncClient(_Base):
    """Runs flows with awaitable ports (asyncio, ASGI). Same procedures as ``Client``."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        flows: AsyncFlowStore,
        tokens: AsyncTokenStore,
        transport: AsyncTransport,
        clock: Clock,
        entropy: Entropy,
        on_transition: Observer | None = None,
    ) -> None:
        super().__init__(config, clock=clock, entropy=entropy, on_transition=on_transition)
        self.flows = flows
        self.tokens = tokens
        self.transport = transport
        self._handlers: dict[type[Any], Callable[[Any], Awaitable[Any]]] = {
            ClaimFlow: lambda op: flows.claim(op.state_hash, op.now),
            SaveFlow: lambda op: flows.save(op.flow),
            DeleteFlow: lambda op: flows.delete(op.state_hash),
            StoreTokens: lambda op: tokens.put(op.tokens),
            SendTokenRequest: lambda op: transport.send(op.request),
        }

    async def start(
        self,
        *,
        binding_cookie: str | None = None,
        team_id: str | None = None,
        return_path: str | None = None,
    ) -> Answer:
        """See ``Client.start``."""
        return await self._run(self._start(binding_cookie, team_id, return_path))

    async def handle_callback(self, query: str | bytes, *, binding_cookie: str | None) -> Answer:
        """See ``Client.handle_callback``."""
        return await self._run(self._callback(query, binding_cookie))

    async def _run(self, procedure: Procedure) -> Answer:
        result: Any = None
        error: MiroflowError | None = None
        while True:
            try:
                op = procedure.send(result) if error is None else procedure.throw(error)
            except StopIteration as stop:
                answer: Answer = stop.value
                return answer
            try:
                result, error = await self._handlers[type(op)](op), None
            except MiroflowError as exc:
                result, error = None, exc
