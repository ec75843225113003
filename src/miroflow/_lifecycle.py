"""The token machine: "give me a valid access token for (app, user, team)".

Theory of operation
-------------------
Miro's access tokens live about an hour; a refresh returns a new pair and kills the old one
at once (rotation). Two callers refreshing one set at the same time therefore sign the user
out: the second presents a refresh token the first just killed. So exactly one refresh runs
per token set at a time, across threads, tasks and processes, through a **lease** in the
token store: a compare-and-set with an expiry (``TokenStore.lease``), so that a holder that
crashed cannot block the others for longer than its ttl.

One caller's attempt is a ``TokenCall`` snapshot, stepped by ``step_tokens(call, input,
config=..., now=...)`` exactly like the flow machine: every transition lives in ``TABLE`` (a
pair missing from it raises ``InvalidTransition``), ``specs/tokens.json`` holds the same
table, ``specs/tokens.md`` tells the story and draws it.

The life of an attempt: the driver reads the store and feeds ``TokensLoaded``. Tokens that
never expire, or that expire later than ``refresh_margin`` from now, are ``fresh``: used as
they are. Otherwise the set is ``due`` and the caller asks for the lease. The winner reads
the store once more (``leased``: someone may have refreshed between its read and its lease),
sends the refresh (``refreshing``), writes the new pair with a compare-and-set on the version
it read (``storing``) and gives the lease back. The others poll the store (``waiting``; the
edge sleeps between polls) until the version changes, asking for the lease again at each
poll, which the store grants once the holder's lease has lapsed; they give up after
``refresh_wait`` (``RefreshPending``). A refresh Miro refuses (revoked, expired, rotated) makes
the set ``dead`` (after one more read, in case another caller stored new tokens meanwhile):
it is deleted and ``SignInRequired`` raised, carrying the app's login link. Anything passing
(the network, a malformed answer, the store) is ``failed``: the set is kept, the error raised.

The machine never reads the clock or a random source: ``now`` and the holder's name are
inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import attrs

from ._config import ClientConfig
from ._errors import (
    InvalidTransition,
    RefreshPending,
    SignInRequired,
    TokenEndpointError,
    TokenRequestRejected,
    TokenResponseMalformed,
    UsageError,
)
from ._events import RevokeTokens
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
    TokenEffect,
    TokenInput,
    TokensLoaded,
    TokensPolled,
    TokensStored,
    TokenState,
    TokenStep,
)
from ._model import StoredTokens, TokenSet
from ._token_response import parse_token_response
from ._wire import refresh_request, revoke_request

__all__ = ["TOKEN_TABLE", "TokenRule", "login_url", "poll_delay", "refresh_due", "step_tokens"]

Handler = Callable[[Any, Any, ClientConfig, float], TokenStep]

DUE = TokenState.DUE
WAITING = TokenState.WAITING
LEASED = TokenState.LEASED
REFRESHING = TokenState.REFRESHING
STORING = TokenState.STORING
REJECTED = TokenState.REJECTED
FRESH = TokenState.FRESH
DEAD = TokenState.DEAD
FAILED = TokenState.FAILED

#: The first pause between two polls of a waiting caller, and the longest: it doubles.
FIRST_POLL_DELAY = 0.025
MAX_POLL_DELAY = 0.5


@attrs.frozen(kw_only=True)
class TokenRule:
    """One row of the token table."""

    targets: tuple[TokenState, ...]
    effects: tuple[type[Any], ...]
    why: str
    handler: Handler = attrs.field(repr=False, eq=False)


# --- the decisions beside the table -----------------------------------------------------------


def refresh_due(tokens: TokenSet, config: ClientConfig, now: float) -> bool:
    """Whether ``tokens`` should be refreshed before use: they expire within
    ``config.refresh_margin`` seconds of ``now`` (never, for tokens that do not expire)."""
    return tokens.expires_at is not None and now + config.refresh_margin >= tokens.expires_at


def login_url(config: ClientConfig, team_id: str) -> str:
    """Where to send a user who must sign in again: the app's login route, for their team."""
    return f"{config.login_path}?team_id={quote(team_id, safe='')}"


def poll_delay(polls: int, time_left: float) -> float:
    """The pause before a waiting caller's next poll: doubling from ``FIRST_POLL_DELAY`` up to
    ``MAX_POLL_DELAY``, never past the end of its wait."""
    delay = min(FIRST_POLL_DELAY * (1 << min(polls, 16)), MAX_POLL_DELAY)
    return max(0.0, min(delay, time_left))


#: RFC 6749 §5.2 errors that say the request or the client is wrong, not the grant: the
#: tokens may still be good, so they are kept.
_NOT_THE_GRANT = frozenset(
    {"invalid_client", "invalid_request", "unauthorized_client", "unsupported_grant_type"}
)


def _refused_for_good(error: TokenRequestRejected) -> bool:
    """Whether Miro's rejection means the refresh token is dead (revoked, rotated, past its 60
    days: RFC 6749's invalid_grant, Miro's 401 oauthError "Invalid refresh token"), rather than
    a misconfigured app (wrong secret) or an outage."""
    if error.http_status not in (400, 401) or error.error in _NOT_THE_GRANT:
        return False
    return "client" not in (error.description or "").lower()


def _sign_in(call: TokenCall, config: ClientConfig, reason: str) -> SignInRequired:
    return SignInRequired(call.key, login_url(config, call.key.team_id), reason)


def _moved(call: TokenCall, state: TokenState, **changes: Any) -> TokenCall:
    return attrs.evolve(call, state=state, **changes)


def _release(call: TokenCall) -> ReleaseLease:
    return ReleaseLease(key=call.key, holder=call.holder)


def _take(call: TokenCall, config: ClientConfig, now: float) -> TakeLease:
    return TakeLease(key=call.key, holder=call.holder, now=now, ttl=config.refresh_wait)


def _refresh(call: TokenCall, config: ClientConfig) -> SendRefreshRequest:
    # Checked on load: a set without a refresh token never reaches the lease.
    assert call.tokens is not None
    assert call.tokens.refresh_token is not None
    return SendRefreshRequest(request=refresh_request(config, call.tokens.refresh_token))


def _changed(call: TokenCall, stored: StoredTokens) -> bool:
    return stored.version != call.version


# --- handlers ---------------------------------------------------------------------------------


def _loaded(call: None, event: TokensLoaded, config: ClientConfig, now: float) -> TokenStep:
    stored = event.stored
    started = TokenCall(
        state=DUE,
        key=event.key,
        holder=event.holder,
        version=0 if stored is None else stored.version,
        tokens=None if stored is None else stored.tokens,
        force=event.force,
        started_at=now,
        give_up_at=now + config.refresh_wait,
    )
    if stored is None:
        dead = _moved(started, DEAD)
        return TokenStep(call=dead, error=_sign_in(dead, config, "none are stored."))
    tokens = stored.tokens
    if tokens.key != event.key:
        raise UsageError("The token store returned a token set stored under another key.")
    if not event.force and not refresh_due(tokens, config, now):
        return TokenStep(call=_moved(started, FRESH))
    if tokens.refresh_token is None:
        if event.force:
            raise UsageError(
                "These tokens carry no refresh token (an app whose tokens never expire): there "
                "is nothing to refresh them with."
            )
        if not tokens.is_expired(now):
            return TokenStep(call=_moved(started, FRESH))  # usable until they expire
        dead = _moved(started, DEAD)
        reason = "they expired and carry no refresh token."
        return TokenStep(
            call=dead, effects=(DeleteTokens(key=dead.key),), error=_sign_in(dead, config, reason)
        )
    return TokenStep(call=started, effects=(_take(started, config, now),))


def _lease_answered(
    call: TokenCall, event: LeaseAnswered, config: ClientConfig, now: float
) -> TokenStep:
    if event.taken:
        leased = _moved(call, LEASED)
        return TokenStep(call=leased, effects=(ReadTokens(key=call.key),))
    if now >= call.give_up_at:
        waited = now - call.started_at
        error = RefreshPending(
            f"Another caller holds the refresh lease of app {call.key.client_id}'s tokens for "
            f"user {call.key.user_id} in team {call.key.team_id} and stored no new tokens "
            f"within {waited:.1f} seconds (refresh_wait)."
        )
        return TokenStep(call=_moved(call, FAILED), error=error)
    waiting = _moved(call, WAITING, polls=call.polls + 1)
    delay = poll_delay(call.polls, call.give_up_at - now)
    return TokenStep(call=waiting, effects=(ReadTokens(key=call.key, delay=delay),))


def _polled(call: TokenCall, event: TokensPolled, config: ClientConfig, now: float) -> TokenStep:
    stored = event.stored
    if stored is None:
        dead = _moved(call, DEAD)
        reason = "they were deleted while this caller waited (Miro refused another's refresh)."
        return TokenStep(call=dead, error=_sign_in(dead, config, reason))
    if _changed(call, stored):
        # The holder stored new tokens: use them as they are.
        return TokenStep(call=_moved(call, FRESH, tokens=stored.tokens, version=stored.version))
    # Still the old set: ask again (the store grants the lease once the holder's has lapsed).
    return TokenStep(call=_moved(call, DUE), effects=(_take(call, config, now),))


def _confirmed(call: TokenCall, event: TokensPolled, config: ClientConfig, now: float) -> TokenStep:
    stored = event.stored
    if stored is None:
        dead = _moved(call, DEAD)
        reason = "they were deleted before this caller could refresh them."
        return TokenStep(call=dead, effects=(_release(call),), error=_sign_in(dead, config, reason))
    if _changed(call, stored):
        fresh = _moved(call, FRESH, tokens=stored.tokens, version=stored.version)
        return TokenStep(call=fresh, effects=(_release(call),))
    refreshing = _moved(call, REFRESHING)
    return TokenStep(call=refreshing, effects=(_refresh(call, config),))


def _refreshed(
    call: TokenCall, event: RefreshAnswered, config: ClientConfig, now: float
) -> TokenStep:
    try:
        tokens = parse_token_response(event.response, now=now, client_id=call.key.client_id)
    except TokenRequestRejected as error:
        if _refused_for_good(error):
            rejected = _moved(call, REJECTED, refusal=error.detail)
            return TokenStep(call=rejected, effects=(ReadTokens(key=call.key),))
        return TokenStep(call=_moved(call, FAILED), effects=(_release(call),), error=error)
    except TokenEndpointError as error:
        return TokenStep(call=_moved(call, FAILED), effects=(_release(call),), error=error)
    if tokens.key != call.key:
        mismatch = TokenResponseMalformed(
            "Miro's token endpoint answered a refresh with tokens for another user or team; "
            "they were revoked."
        )
        revoke = RevokeTokens(request=revoke_request(config, tokens.access_token))
        return TokenStep(
            call=_moved(call, FAILED), effects=(revoke, _release(call)), error=mismatch
        )
    storing = _moved(call, STORING, tokens=tokens)
    return TokenStep(
        call=storing, effects=(PutTokens(tokens=tokens, expected_version=call.version),)
    )


def _refresh_failed(
    call: TokenCall, event: RefreshFailed, config: ClientConfig, now: float
) -> TokenStep:
    return TokenStep(call=_moved(call, FAILED), effects=(_release(call),), error=event.error)


def _stored(call: TokenCall, event: TokensStored, config: ClientConfig, now: float) -> TokenStep:
    stored = event.stored
    fresh = _moved(call, FRESH, tokens=stored.tokens, version=stored.version)
    return TokenStep(call=fresh, effects=(_release(call),))


def _store_failed(
    call: TokenCall, event: StoreFailed, config: ClientConfig, now: float
) -> TokenStep:
    assert call.tokens is not None  # the new tokens, set on the way into storing
    # Tokens Miro issued are never left live and unowned (the old pair is dead already).
    revoke = RevokeTokens(request=revoke_request(config, call.tokens.access_token))
    return TokenStep(call=_moved(call, FAILED), effects=(revoke, _release(call)), error=event.error)


def _rejected(call: TokenCall, event: TokensPolled, config: ClientConfig, now: float) -> TokenStep:
    stored = event.stored
    if stored is not None and _changed(call, stored):
        # Another caller refreshed first (our refresh token was the one it rotated away).
        fresh = _moved(call, FRESH, tokens=stored.tokens, version=stored.version)
        return TokenStep(call=fresh, effects=(_release(call),))
    dead = _moved(call, DEAD)
    reason = f"Miro refused to refresh them ({call.refusal})"
    effects: tuple[TokenEffect, ...] = (_release(call),)
    if stored is not None:
        effects = (DeleteTokens(key=call.key), _release(call))
    return TokenStep(call=dead, effects=effects, error=_sign_in(dead, config, reason))


def _absorb(call: TokenCall, event: Any, config: ClientConfig, now: float) -> TokenStep:
    return TokenStep(call=call)


# --- the table --------------------------------------------------------------------------------

_INPUT_TYPES: tuple[type[Any], ...] = (
    TokensLoaded,
    LeaseAnswered,
    TokensPolled,
    RefreshAnswered,
    RefreshFailed,
    TokensStored,
    StoreFailed,
)

TOKEN_TABLE: Mapping[tuple[TokenState | None, type[Any]], TokenRule] = {
    (None, TokensLoaded): TokenRule(
        targets=(DUE, FRESH, DEAD),
        effects=(TakeLease, DeleteTokens),
        why=(
            "A caller wants valid tokens; the store was read. None stored: sign in. Tokens "
            "that never expire, or expire later than refresh_margin from now, are used as they "
            "are (unless a refresh was asked for). Otherwise the refresh lease is asked for, "
            "for refresh_wait seconds; an expired set without a refresh token is dead."
        ),
        handler=_loaded,
    ),
    (DUE, LeaseAnswered): TokenRule(
        targets=(LEASED, WAITING, FAILED),
        effects=(ReadTokens,),
        why=(
            "The lease taken: read the store once more before refreshing. Not taken: another "
            "caller refreshes; poll the store after a pause (doubling, 25 ms to 0.5 s), or give "
            "up (RefreshPending) once refresh_wait has passed since the caller started."
        ),
        handler=_lease_answered,
    ),
    (WAITING, TokensPolled): TokenRule(
        targets=(FRESH, DUE, DEAD),
        effects=(TakeLease,),
        why=(
            "A new version: the holder stored new tokens; use them. The same version: ask for "
            "the lease again (granted once the holder's lease lapsed: a crashed holder is "
            "replaced). None: the holder's refresh was refused and the set deleted; sign in."
        ),
        handler=_polled,
    ),
    (LEASED, TokensPolled): TokenRule(
        targets=(REFRESHING, FRESH, DEAD),
        effects=(SendRefreshRequest, ReleaseLease),
        why=(
            "Still the version this caller read: send the refresh (once; never retried). A "
            "newer one: another caller refreshed between this caller's read and its lease; "
            "use it and give the lease back, so no second refresh presents a rotated token."
        ),
        handler=_confirmed,
    ),
    (REFRESHING, RefreshAnswered): TokenRule(
        targets=(STORING, REJECTED, FAILED),
        effects=(PutTokens, ReadTokens, ReleaseLease, RevokeTokens),
        why=(
            "New tokens: write them, compare-and-set on the version read. Refused for good "
            "(invalid_grant; Miro's 401 'Invalid refresh token': revoked, rotated, or past its "
            "60 days): check the store before deleting. A client error, an outage or a "
            "malformed answer fails this call and keeps the set; tokens for another user or "
            "team are revoked."
        ),
        handler=_refreshed,
    ),
    (REFRESHING, RefreshFailed): TokenRule(
        targets=(FAILED,),
        effects=(ReleaseLease,),
        why=(
            "The refresh did not complete; it is not retried (Miro may have rotated the pair: "
            "the next caller's refresh then says so and the set dies)."
        ),
        handler=_refresh_failed,
    ),
    (STORING, TokensStored): TokenRule(
        targets=(FRESH,),
        effects=(ReleaseLease,),
        why="The new tokens are stored: give the lease back (waiters see the new version).",
        handler=_stored,
    ),
    (STORING, StoreFailed): TokenRule(
        targets=(FAILED,),
        effects=(RevokeTokens, ReleaseLease),
        why=(
            "The write failed (the store, or a newer version written by a holder whose lease "
            "had lapsed): the new tokens are revoked, never left live and unowned."
        ),
        handler=_store_failed,
    ),
    (REJECTED, TokensPolled): TokenRule(
        targets=(DEAD, FRESH),
        effects=(DeleteTokens, ReleaseLease),
        why=(
            "A newer version: another caller refreshed first; use it. Otherwise the set is "
            "dead: delete it and raise SignInRequired with the login link."
        ),
        handler=_rejected,
    ),
    **{
        (terminal, input_type): TokenRule(
            targets=(terminal,),
            effects=(),
            why="Terminal states absorb every input: no effect.",
            handler=_absorb,
        )
        for terminal in (FRESH, DEAD, FAILED)
        for input_type in _INPUT_TYPES
    },
}


def step_tokens(
    call: TokenCall | None, event: TokenInput, *, config: ClientConfig, now: float
) -> TokenStep:
    """Apply ``event`` to ``call`` at time ``now``; ``call`` is None before ``TokensLoaded``.
    Raises ``InvalidTransition`` for a pair not in the table, leaving everything unchanged."""
    rule = TOKEN_TABLE.get((None if call is None else call.state, type(event)))
    if rule is None:
        where = "before any call exists" if call is None else f"in state {call.state.value}"
        raise InvalidTransition(f"Can't handle {type(event).__name__} {where}.")
    return rule.handler(call, event, config, now)
