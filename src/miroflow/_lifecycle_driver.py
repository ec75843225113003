"""The token procedures both clients run, written once (as ``_driver.py`` does for flows).

Each procedure is a generator: it yields an operation for a port (the token machine's
effects, or ``SendApiRequest``), receives the port's answer, and returns its result (a token
set, a token context, nothing); an error it raises reaches the caller. A port's failure is
thrown back into the generator as a ``MiroflowError``. The machine decides everything; the
pauses between a waiting caller's polls are the edge's (``ReadTokens.delay``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any, TypeGuard

import attrs

from ._context import TokenContext, context_request, parse_token_context, revoke_error
from ._driver import Settings, Transition
from ._errors import (
    InvalidTransition,
    SignInRequired,
    StoreError,
    TransportError,
    UsageError,
)
from ._events import RevokeTokens
from ._http import HttpRequest
from ._lifecycle import login_url, step_tokens
from ._lifecycle_events import (
    DeleteTokens,
    LeaseAnswered,
    PutTokens,
    ReadTokens,
    RefreshAnswered,
    RefreshFailed,
    ReleaseLease,
    SendRefreshRequest,
    StoreFailed,
    TakeLease,
    TokenCall,
    TokenInput,
    TokensLoaded,
    TokensPolled,
    TokensStored,
    TokenState,
    TokenStep,
)
from ._model import TokenKey, TokenSet
from ._wire import b64url, revoke_request

__all__ = ["SendApiRequest", "TokenDriver", "TokenOperation"]

#: Random bytes in a lease holder's name: unique, not secret.
_HOLDER_BYTES = 16


@attrs.frozen(kw_only=True)
class SendApiRequest:
    """Operation: send this request to Miro's API (revoke, token context); the answer comes
    back as it is."""

    request: HttpRequest = attrs.field(repr=False)


TokenOperation = (
    ReadTokens
    | TakeLease
    | SendRefreshRequest
    | PutTokens
    | ReleaseLease
    | DeleteTokens
    | RevokeTokens
    | SendApiRequest
)
Procedure = Generator[TokenOperation, Any, Any]

#: Effects whose failure changes nothing but the log: a lease lapses at its ttl anyway, and
#: a revocation is a courtesy to Miro.
_BEST_EFFORT = (ReleaseLease, RevokeTokens)
#: States in which this caller holds the lease: a store failure there gives it back first.
_HOLDING = frozenset(
    {TokenState.LEASED, TokenState.REFRESHING, TokenState.STORING, TokenState.REJECTED}
)


def is_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` can be a Miro user or team ID: a decimal string."""
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.isdigit()


class TokenDriver(Settings):
    """The token procedures; a client holds one and runs them against its ports."""

    def key(self, user_id: str, team_id: str) -> TokenKey:
        """The store key of this app's tokens for ``user_id`` in ``team_id``."""
        if not (is_id(user_id) and is_id(team_id)):
            raise UsageError("user_id and team_id must be decimal Miro IDs (strings).")
        return TokenKey(client_id=self.config.client_id, user_id=user_id, team_id=team_id)

    def _advance(self, call: TokenCall | None, event: TokenInput, now: float) -> TokenStep:
        result = step_tokens(call, event, config=self.config, now=now)
        observe = self._observe
        if observe is not None:
            before = None if call is None else call.state
            after = result.call.state
            observe(Transition.of(now, before, event, after, result.effects, machine="tokens"))
        return result

    def valid_tokens(self, user_id: str, team_id: str, *, force: bool = False) -> Procedure:
        """Tokens usable now: as stored, or refreshed (single flight through the lease)."""
        key = self.key(user_id, team_id)
        holder = self._holder()
        stored = yield ReadTokens(key=key)
        call: TokenCall | None = None
        event: TokenInput = TokensLoaded(key=key, holder=holder, stored=stored, force=force)
        now = self._clock()
        while True:
            result = self._advance(call, event, now)
            call = result.call
            awaited: TokenInput | None = None
            for effect in result.effects:
                try:
                    answered = yield effect
                except TransportError as error:
                    if type(effect) is SendRefreshRequest:
                        awaited = RefreshFailed(error=error)
                    elif type(effect) is not RevokeTokens:
                        raise
                except StoreError as error:
                    if type(effect) is PutTokens:
                        awaited = StoreFailed(error=error)
                    elif not isinstance(effect, _BEST_EFFORT):
                        if call.state in _HOLDING:
                            yield from self._give_back(call)
                        raise
                else:
                    awaited = _input_for(effect, answered) or awaited
            if result.error is not None:
                raise result.error
            if call.state is TokenState.FRESH:
                assert call.tokens is not None  # every way into fresh sets them
                return call.tokens
            if awaited is None:
                raise InvalidTransition(
                    f"{type(event).__name__} left the token call {call.state.value} with "
                    "nothing to wait for."
                )
            event, now = awaited, self._clock()

    def revoke(self, user_id: str, team_id: str) -> Procedure:
        """Revoke the stored tokens at Miro (v2), then delete them; nothing stored: nothing to
        do. A 404 (Miro no longer knows the token) counts as revoked."""
        key = self.key(user_id, team_id)
        stored = yield ReadTokens(key=key)
        if stored is None:
            return None
        response = yield SendApiRequest(
            request=revoke_request(self.config, stored.tokens.access_token)
        )
        error = revoke_error(response)
        if error is not None:
            raise error
        yield DeleteTokens(key=key)
        return None

    def token_context(self, user_id: str, team_id: str) -> Procedure:
        """Miro's token context for the valid tokens. A 401 (the token stopped working before
        its expiry) refreshes once and asks again; tokens that cannot be refreshed are dead."""
        tokens: TokenSet = yield from self.valid_tokens(user_id, team_id)
        endpoint = self.config.token_context_endpoint
        response = yield SendApiRequest(request=context_request(endpoint, tokens.access_token))
        if response.status == 401:
            if tokens.refresh_token is None:
                key = tokens.key
                yield DeleteTokens(key=key)
                reason = "Miro no longer accepts them, and they carry no refresh token."
                raise SignInRequired(key, login_url(self.config, key.team_id), reason)
            tokens = yield from self.valid_tokens(user_id, team_id, force=True)
            response = yield SendApiRequest(request=context_request(endpoint, tokens.access_token))
        context: TokenContext = parse_token_context(response)
        return context

    def _holder(self) -> str:
        drawn = self._entropy(_HOLDER_BYTES)
        if len(drawn) != _HOLDER_BYTES:
            raise UsageError(
                f"The entropy source returned {len(drawn)} bytes; {_HOLDER_BYTES} were asked."
            )
        return b64url(drawn)

    def _give_back(self, call: TokenCall) -> Generator[TokenOperation, Any, None]:
        with contextlib.suppress(StoreError):  # it lapses at its ttl
            yield ReleaseLease(key=call.key, holder=call.holder)


def _input_for(effect: object, answered: Any) -> TokenInput | None:
    """The machine's next input, from the answer of the effect that awaits one."""
    kind = type(effect)
    if kind is TakeLease:
        return LeaseAnswered(taken=bool(answered))
    if kind is ReadTokens:
        return TokensPolled(stored=answered)
    if kind is SendRefreshRequest:
        return RefreshAnswered(response=answered)
    if kind is PutTokens:
        return TokensStored(stored=answered)
    return None
