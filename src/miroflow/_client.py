"""``Client`` and ``AsyncClient``: the driver's procedures run against blocking or awaitable
ports. This module is the core's edge: it holds the defaults that read the system clock and
random source (``time.time``, ``os.urandom``; the machine still takes both as inputs) and
logs every failure, with the operator's detail, on the ``miroflow`` logger."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._answer import Answer
from ._config import ClientConfig
from ._context import TokenContext
from ._driver import ClaimFlow, Driver, Observer, Procedure
from ._errors import MiroflowError, SignInRequired
from ._events import RevokeTokens, SaveFlow, SendTokenRequest, StoreTokens
from ._lifecycle_driver import Procedure as TokenProcedure
from ._lifecycle_driver import SendApiRequest, TokenDriver, is_id
from ._lifecycle_events import (
    DeleteTokens,
    PutTokens,
    ReadTokens,
    ReleaseLease,
    SendRefreshRequest,
    TakeLease,
)
from ._model import TokenKey, TokenSet
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


def _report(answer: Answer) -> None:
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


Handlers = dict[type[Any], Callable[[Any], Any]]


def _token_ports(tokens: Any, transport: Any, read: Callable[[ReadTokens], Any]) -> Handlers:
    """Which port carries out which operation of the token procedures (``read`` pauses for
    a waiting caller's poll, then reads: the one place either client sleeps)."""
    return {
        ReadTokens: read,
        TakeLease: lambda op: tokens.lease(op.key, op.holder, now=op.now, ttl=op.ttl),
        ReleaseLease: lambda op: tokens.release(op.key, op.holder),
        PutTokens: lambda op: tokens.put(op.tokens, expected_version=op.expected_version),
        DeleteTokens: lambda op: tokens.delete(op.key),
        SendRefreshRequest: lambda op: transport.send(op.request),
        RevokeTokens: lambda op: transport.send(op.request),
        SendApiRequest: lambda op: transport.send(op.request),
    }


def _report_token_error(error: MiroflowError) -> None:
    """Log a token procedure's failure for the operator (the detail names no secret)."""
    level = logging.ERROR if error.status_code >= 500 else logging.INFO
    logger.log(level, "miroflow %s (tokens): %s", error.code, error.detail)


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

    def _key(self, user_id: str, team_id: str) -> TokenKey:
        return TokenKey(client_id=self.config.client_id, user_id=user_id, team_id=team_id)

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
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(config, clock=clock, entropy=entropy, on_transition=on_transition)
        self.flows = flows
        self.tokens = tokens
        self.transport = transport
        self._handlers = _ports(flows, tokens, transport)
        self._lifecycle = TokenDriver(
            config, clock=self._clock, entropy=self._entropy, observe=self._observe
        )
        pause = sleep or time.sleep

        def read(op: ReadTokens) -> Any:
            if op.delay > 0:
                pause(op.delay)
            return tokens.get(op.key)

        self._token_handlers = _token_ports(tokens, transport, read)

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
        """Handle Miro's redirect back (the raw query string and the binding cookie): a 303
        to the app with ``answer.tokens`` set, or an error answer saying why."""
        return self._run(self._callback(query, binding_cookie))

    def login(self, query: str | bytes = "", *, binding_cookie: str | None = None) -> Answer:
        """An app's login route: ``start`` with the ``team_id`` and ``next`` its raw query
        string asks for, read strictly (``next`` only as a path on this site). Bad input is a
        400 answer saying why, never an exception."""
        return self._run(self._login(query, binding_cookie))

    def stored_tokens(self, user_id: str, team_id: str) -> TokenSet | None:
        """The tokens stored for this app's ``user_id`` in ``team_id``, as they are (None if
        there are none)."""
        stored = self.tokens.get(self._key(user_id, team_id))
        return None if stored is None else stored.tokens

    def signed_in_tokens(self, user_id: object, team_id: object) -> TokenSet | None:
        """For a web adapter's "current user": the valid tokens of ``user_id`` in ``team_id``
        as ``valid_tokens`` gives them (refreshed first when due), or None when that user
        must sign in (again): nothing stored, Miro refused the refresh, or the ids (from a
        session) are not Miro's. Miro unreachable is still an error."""
        if not (is_id(user_id) and is_id(team_id)):
            return None
        try:
            return self.valid_tokens(user_id, team_id)
        except SignInRequired:
            return None

    def _run(self, procedure: Procedure) -> Answer:
        answer: Answer = self._drive(procedure, self._handlers)
        if answer.error is not None:
            _report(answer)
        return answer

    @staticmethod
    def _drive(procedure: Any, handlers: Handlers) -> Any:
        """Carry out each operation a procedure yields with its port; its return value."""
        send, throw = procedure.send, procedure.throw
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
            return stop.value

    # --- after sign-in: valid tokens on demand, refresh, revoke, token context --------------

    def valid_tokens(self, user_id: str, team_id: str) -> TokenSet:
        """This app's tokens for ``user_id`` in ``team_id``, valid now: as stored, or refreshed
        first when they expire within ``config.refresh_margin`` seconds (one refresh per token
        set at a time, across threads and processes, through the store's lease; the other
        callers wait up to ``config.refresh_wait`` seconds for its result). Tokens that never
        expire are used as they are. ``SignInRequired`` (with ``.login_url``) when none are
        stored or Miro refused the refresh (the set is then deleted)."""
        tokens: TokenSet = self._tokens_run(self._lifecycle.valid_tokens(user_id, team_id))
        return tokens

    def access_token(self, user_id: str, team_id: str) -> str:
        """The access token of ``valid_tokens(user_id, team_id)``."""
        return self.valid_tokens(user_id, team_id).access_token

    def refresh(self, user_id: str, team_id: str) -> TokenSet:
        """Refresh now, whatever the expiry (the same single flight as ``valid_tokens``: a
        caller that finds another's refresh under way takes its result)."""
        procedure = self._lifecycle.valid_tokens(user_id, team_id, force=True)
        tokens: TokenSet = self._tokens_run(procedure)
        return tokens

    def revoke(self, user_id: str, team_id: str) -> None:
        """Revoke the stored tokens at Miro (the v2 endpoint; the app stays installed), then
        delete them. Nothing stored: nothing to do."""
        self._tokens_run(self._lifecycle.revoke(user_id, team_id))

    def token_context(self, user_id: str, team_id: str) -> TokenContext:
        """What Miro says about the valid access token (``GET /v1/oauth-token``)."""
        context: TokenContext = self._tokens_run(self._lifecycle.token_context(user_id, team_id))
        return context

    def _tokens_run(self, procedure: TokenProcedure) -> Any:
        try:
            return self._drive(procedure, self._token_handlers)
        except MiroflowError as error:
            _report_token_error(error)
            raise


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
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(config, clock=clock, entropy=entropy, on_transition=on_transition)
        self.flows = flows
        self.tokens = tokens
        self.transport = transport
        self._handlers = _ports(flows, tokens, transport)
        self._lifecycle = TokenDriver(
            config, clock=self._clock, entropy=self._entropy, observe=self._observe
        )
        import asyncio  # here, not at the top: importing miroflow must not load asyncio

        pause = sleep or asyncio.sleep

        async def read(op: ReadTokens) -> Any:
            if op.delay > 0:
                await pause(op.delay)
            return await tokens.get(op.key)

        self._token_handlers = _token_ports(tokens, transport, read)

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

    async def login(self, query: str | bytes = "", *, binding_cookie: str | None = None) -> Answer:
        """See ``Client.login``."""
        return await self._run(self._login(query, binding_cookie))

    async def stored_tokens(self, user_id: str, team_id: str) -> TokenSet | None:
        """See ``Client.stored_tokens``."""
        stored = await self.tokens.get(self._key(user_id, team_id))
        return None if stored is None else stored.tokens

    async def signed_in_tokens(self, user_id: object, team_id: object) -> TokenSet | None:
        """See ``Client.signed_in_tokens``."""
        if not (is_id(user_id) and is_id(team_id)):
            return None
        try:
            return await self.valid_tokens(user_id, team_id)
        except SignInRequired:
            return None

    async def _run(self, procedure: Procedure) -> Answer:
        answer: Answer = await self._drive(procedure, self._handlers)
        if answer.error is not None:
            _report(answer)
        return answer

    @staticmethod
    async def _drive(procedure: Any, handlers: Handlers) -> Any:
        """See ``Client._drive``: the same loop, awaiting each port."""
        send, throw = procedure.send, procedure.throw
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
            return stop.value

    # --- after sign-in: valid tokens on demand, refresh, revoke, token context --------------

    async def valid_tokens(self, user_id: str, team_id: str) -> TokenSet:
        """See ``Client.valid_tokens``."""
        tokens: TokenSet = await self._tokens_run(self._lifecycle.valid_tokens(user_id, team_id))
        return tokens

    async def access_token(self, user_id: str, team_id: str) -> str:
        """See ``Client.access_token``."""
        return (await self.valid_tokens(user_id, team_id)).access_token

    async def refresh(self, user_id: str, team_id: str) -> TokenSet:
        """See ``Client.refresh``."""
        procedure = self._lifecycle.valid_tokens(user_id, team_id, force=True)
        tokens: TokenSet = await self._tokens_run(procedure)
        return tokens

    async def revoke(self, user_id: str, team_id: str) -> None:
        """See ``Client.revoke``."""
        await self._tokens_run(self._lifecycle.revoke(user_id, team_id))

    async def token_context(self, user_id: str, team_id: str) -> TokenContext:
        """See ``Client.token_context``."""
        procedure = self._lifecycle.token_context(user_id, team_id)
        context: TokenContext = await self._tokens_run(procedure)
        return context

    async def _tokens_run(self, procedure: TokenProcedure) -> Any:
        try:
            return await self._drive(procedure, self._token_handlers)
        except MiroflowError as error:
            _report_token_error(error)
            raise
