"""The simulated authorization server's machines: authorization codes, token pairs, and (in
``_consent``) the consent host's sessions and consent forms.

Theory of operation
-------------------
Four kinds of record live on the server, each with its own small lifecycle; the two of the
API are:

* an **authorization code** is issued when the user clicks "Install & authorize", and is then
  redeemed once, expires exactly 600 s after issue, or is burned by misuse (a wrong
  ``redirect_uri`` or PKCE verifier, a verifier where no challenge was sent, or a second
  redemption, which also revokes every token pair issued from it, RFC 6749 §4.1.2). A wrong
  client secret changes nothing: it proves nothing about the code, and burning codes on it
  would let anyone burn them;
* a **token pair** (access + refresh token) is active until a refresh rotates it (the old
  pair stops working at once), a revocation or a code replay revokes it, or its refresh token
  outlives 60 days. Access-token expiry (3599 s) is a guard inside the active state: the pair
  can still be refreshed or revoked. The deprecated v1 revoke (token only, no client
  credentials) revokes it as v2 does.

Sessions and consent tickets (the signed-in user and the consent form's CSRF token) are
described in ``_consent``; their rows are part of the same table.

``step(record, input, registry=..., now=...)`` takes a frozen record (None before a code
exists) and a fact, and returns the next record plus the orders a holder must carry out: save
a record, revoke a code's descendants, answer with an ``HttpResponse``. Every transition
lives in ``TABLE``, a map from (state, input type) to a ``Rule``; a pair missing from it
raises ``InvalidTransition`` and changes nothing. The machine never reads a clock or a random
source: ``now`` is an argument and new codes and tokens arrive inside the inputs.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import attrs

from .._errors import InvalidTransition
from .._events import ClockAdvanced
from .._wire import code_challenge
from . import _wire as wire
from ._consent import CONSENT_ROWS, issue_code
from ._events import (
    CodeRedeemed,
    CodeReplayed,
    ConsentGranted,
    ContextRequested,
    LegacyRevocationRequested,
    RefreshPresented,
    Respond,
    RevocationRequested,
    RevokeIssuedFrom,
    SaveCode,
    SavePair,
    ServerInput,
    ServerStep,
)
from ._model import (
    ACCESS_TOKEN_LIFETIME,
    REFRESH_TOKEN_LIFETIME,
    App,
    AuthorizationCode,
    CodeState,
    ConsentTicket,
    PairState,
    Registry,
    Session,
    TokenPair,
    hash_secret,
)
from ._rule import MIN_SECRET_LENGTH, Rule, ServerState, absorb, answer, check_drawn

__all__ = ["MIN_SECRET_LENGTH", "TABLE", "Rule", "ServerState", "authenticate", "step"]


def authenticate(registry: Registry, client_id: str, client_secret: str) -> App | None:
    """The app whose credentials these are, or None (compared in constant time)."""
    app = registry.apps.get(client_id)
    if app is None:
        return None
    expected = app.client_secret.reveal().encode()
    return app if hmac.compare_digest(expected, client_secret.encode()) else None


_answer, _check_drawn, _absorb = answer, check_drawn, absorb

ISSUED, REDEEMED = CodeState.ISSUED, CodeState.REDEEMED
CODE_EXPIRED, BURNED = CodeState.EXPIRED, CodeState.BURNED
ACTIVE, ROTATED = PairState.ACTIVE, PairState.ROTATED
REVOKED, PAIR_EXPIRED = PairState.REVOKED, PairState.EXPIRED


# --- codes ------------------------------------------------------------------------------------


def _consent(record: None, event: ConsentGranted, registry: Registry, now: float) -> ServerStep:
    request = event.request
    issued = issue_code(
        request,
        user_id=event.user_id,
        team_id=event.team_id,
        code=event.code,
        registry=registry,
        now=now,
    )
    return _answer(
        issued, wire.code_redirect(request, event.code, event.team_id), SaveCode(code=issued)
    )


def _redeem_issued(
    code: AuthorizationCode, event: CodeRedeemed, registry: Registry, now: float
) -> ServerStep:
    app = authenticate(registry, event.client_id, event.client_secret)
    if app is None:
        return _answer(code, wire.oauth_error(wire.INVALID_CLIENT))
    if app.client_id != code.client_id:
        return _answer(code, wire.oauth_error(wire.INVALID_CODE))
    if now >= code.expires_at:
        dead = attrs.evolve(code, state=CODE_EXPIRED)
        return _answer(dead, wire.oauth_error(wire.INVALID_CODE), SaveCode(code=dead))
    if event.redirect_uri != code.redirect_uri:
        burned = attrs.evolve(code, state=BURNED)
        return _answer(burned, wire.oauth_error(wire.REDIRECT_MISMATCH), SaveCode(code=burned))
    if code.code_challenge is None and event.code_verifier is not None:
        # PKCE downgrade (RFC 9700 §2.1.1): a verifier is accepted only for a code issued
        # with a challenge. Whoever sends one for this code is not its client's flow: burned.
        burned = attrs.evolve(code, state=BURNED)
        refused = wire.miro_error(400, "invalidParameters", wire.UNEXPECTED_VERIFIER)
        return _answer(burned, refused, SaveCode(code=burned))
    if code.code_challenge is not None and (
        event.code_verifier is None
        or not hmac.compare_digest(code_challenge(event.code_verifier), code.code_challenge)
    ):
        burned = attrs.evolve(code, state=BURNED)
        return _answer(burned, wire.oauth_error(wire.INVALID_VERIFIER), SaveCode(code=burned))
    _check_drawn(event.new_access_token, event.new_refresh_token)
    pair = _new_pair(app, code.user_id, code.team_id, code.code_hash, event, now)
    redeemed = attrs.evolve(code, state=REDEEMED)
    response = wire.token_success(pair, registry, event.new_access_token, event.new_refresh_token)
    return _answer(redeemed, response, SaveCode(code=redeemed), SavePair(pair=pair))


def _new_pair(
    app: App,
    user_id: str,
    team_id: str,
    origin: str,
    event: CodeRedeemed | RefreshPresented,
    now: float,
) -> TokenPair:
    return TokenPair(
        access_hash=hash_secret(event.new_access_token),
        refresh_hash=hash_secret(event.new_refresh_token) if app.expiring else None,
        state=ACTIVE,
        client_id=app.client_id,
        user_id=user_id,
        team_id=team_id,
        scopes=app.scopes,
        issued_at=now,
        access_expires_at=now + ACCESS_TOKEN_LIFETIME if app.expiring else None,
        refresh_expires_at=now + REFRESH_TOKEN_LIFETIME if app.expiring else None,
        origin_code_hash=origin,
    )


def _redeem_redeemed(
    code: AuthorizationCode, event: CodeRedeemed, registry: Registry, now: float
) -> ServerStep:
    app = authenticate(registry, event.client_id, event.client_secret)
    if app is None:
        return _answer(code, wire.oauth_error(wire.INVALID_CLIENT))
    if app.client_id != code.client_id:
        return _answer(code, wire.oauth_error(wire.INVALID_CODE))
    burned = attrs.evolve(code, state=BURNED)
    return _answer(
        burned,
        wire.oauth_error(wire.INVALID_CODE),
        SaveCode(code=burned),
        RevokeIssuedFrom(code_hash=code.code_hash),
    )


def _redeem_dead(
    code: AuthorizationCode, event: CodeRedeemed, registry: Registry, now: float
) -> ServerStep:
    if authenticate(registry, event.client_id, event.client_secret) is None:
        return _answer(code, wire.oauth_error(wire.INVALID_CLIENT))
    return _answer(code, wire.oauth_error(wire.INVALID_CODE))


def _clock_code(
    code: AuthorizationCode, event: ClockAdvanced, registry: Registry, now: float
) -> ServerStep:
    if now < code.expires_at:
        return ServerStep(record=code)
    dead = attrs.evolve(code, state=CODE_EXPIRED)
    return ServerStep(record=dead, effects=(SaveCode(code=dead),))


# --- token pairs ------------------------------------------------------------------------------


def _refresh_active(
    pair: TokenPair, event: RefreshPresented, registry: Registry, now: float
) -> ServerStep:
    app = authenticate(registry, event.client_id, event.client_secret)
    if app is None:
        return _answer(pair, wire.oauth_error(wire.INVALID_CLIENT))
    if app.client_id != pair.client_id or pair.refresh_hash is None:
        return _answer(pair, wire.oauth_error(wire.INVALID_REFRESH))
    if pair.refresh_expires_at is not None and now >= pair.refresh_expires_at:
        dead = attrs.evolve(pair, state=PAIR_EXPIRED)
        return _answer(dead, wire.oauth_error(wire.INVALID_REFRESH), SavePair(pair=dead))
    _check_drawn(event.new_access_token, event.new_refresh_token)
    rotated = attrs.evolve(pair, state=ROTATED)
    fresh = _new_pair(app, pair.user_id, pair.team_id, pair.origin_code_hash, event, now)
    response = wire.token_success(fresh, registry, event.new_access_token, event.new_refresh_token)
    return _answer(rotated, response, SavePair(pair=rotated), SavePair(pair=fresh))


def _refresh_dead(
    pair: TokenPair, event: RefreshPresented, registry: Registry, now: float
) -> ServerStep:
    if authenticate(registry, event.client_id, event.client_secret) is None:
        return _answer(pair, wire.oauth_error(wire.INVALID_CLIENT))
    return _answer(pair, wire.oauth_error(wire.INVALID_REFRESH))


def _revoke_active(
    pair: TokenPair, event: RevocationRequested, registry: Registry, now: float
) -> ServerStep:
    app = authenticate(registry, event.client_id, event.client_secret)
    if app is None:
        return _answer(pair, wire.oauth_error(wire.INVALID_CLIENT))
    if app.client_id != pair.client_id:
        return _answer(pair, wire.token_not_found())
    revoked = attrs.evolve(pair, state=REVOKED)
    return _answer(revoked, wire.no_content(), SavePair(pair=revoked))


def _revoke_dead(
    pair: TokenPair, event: RevocationRequested, registry: Registry, now: float
) -> ServerStep:
    if authenticate(registry, event.client_id, event.client_secret) is None:
        return _answer(pair, wire.oauth_error(wire.INVALID_CLIENT))
    return _answer(pair, wire.token_not_found())


def _legacy_revoke_active(
    pair: TokenPair, event: LegacyRevocationRequested, registry: Registry, now: float
) -> ServerStep:
    revoked = attrs.evolve(pair, state=REVOKED)
    return _answer(revoked, wire.no_content(), SavePair(pair=revoked))


def _legacy_revoke_dead(
    pair: TokenPair, event: LegacyRevocationRequested, registry: Registry, now: float
) -> ServerStep:
    return _answer(pair, wire.legacy_revoke_unknown(registry))


def _context_active(
    pair: TokenPair, event: ContextRequested, registry: Registry, now: float
) -> ServerStep:
    if pair.access_expires_at is not None and now >= pair.access_expires_at:
        return _answer(pair, wire.invalid_token())
    return _answer(pair, wire.token_context(pair, registry))


def _context_dead(
    pair: TokenPair, event: ContextRequested, registry: Registry, now: float
) -> ServerStep:
    return _answer(pair, wire.invalid_token())


def _replayed(pair: TokenPair, event: CodeReplayed, registry: Registry, now: float) -> ServerStep:
    revoked = attrs.evolve(pair, state=REVOKED)
    return ServerStep(record=revoked, effects=(SavePair(pair=revoked),))


def _clock_pair(
    pair: TokenPair, event: ClockAdvanced, registry: Registry, now: float
) -> ServerStep:
    if pair.refresh_expires_at is None or now < pair.refresh_expires_at:
        return ServerStep(record=pair)
    dead = attrs.evolve(pair, state=PAIR_EXPIRED)
    return ServerStep(record=dead, effects=(SavePair(pair=dead),))


# --- the table --------------------------------------------------------------------------------

_DEAD_CODES = (CODE_EXPIRED, BURNED)
_DEAD_PAIRS = (ROTATED, REVOKED, PAIR_EXPIRED)

TABLE: Mapping[tuple[ServerState | None, type[Any]], Rule] = {
    (None, ConsentGranted): Rule(
        targets=(ISSUED,),
        effects=(SaveCode, Respond),
        why=(
            "The user installed the app into one of their teams: a code bound to the client, "
            "redirect URI, user, team and PKCE challenge is issued, and the browser is sent "
            "to the redirect URI with code, state (if sent), client_id and team_id."
        ),
        handler=_consent,
    ),
    (ISSUED, CodeRedeemed): Rule(
        targets=(ISSUED, REDEEMED, CODE_EXPIRED, BURNED),
        effects=(SaveCode, SavePair, Respond),
        why=(
            "Wrong client credentials, or another client's code: refused, the code is "
            "untouched. At or after 600 s: expired. A redirect_uri not identical to the "
            "authorization request's, or a wrong PKCE verifier: burned. A verifier for a "
            "code issued without a challenge (a PKCE downgrade): burned, 400. Otherwise a "
            "token pair is issued and the code is spent."
        ),
        handler=_redeem_issued,
    ),
    (REDEEMED, CodeRedeemed): Rule(
        targets=(REDEEMED, BURNED),
        effects=(SaveCode, RevokeIssuedFrom, Respond),
        why=(
            "A second redemption by the authenticated client is refused, burns the code and "
            "revokes every pair issued from it (RFC 6749 §4.1.2); bad credentials change "
            "nothing."
        ),
        handler=_redeem_redeemed,
    ),
    **{
        (dead, CodeRedeemed): Rule(
            targets=(dead,),
            effects=(Respond,),
            why="A dead code is refused: 'Invalid authorization code'.",
            handler=_redeem_dead,
        )
        for dead in _DEAD_CODES
    },
    (ISSUED, ClockAdvanced): Rule(
        targets=(ISSUED, CODE_EXPIRED),
        effects=(SaveCode,),
        why="A code dies exactly 600 s after issue (599.999 s still works; 600 s does not).",
        handler=_clock_code,
    ),
    **{
        (state, ClockAdvanced): Rule(
            targets=(state,),
            effects=(),
            why="Time changes nothing for a redeemed or dead code.",
            handler=_absorb,
        )
        for state in (REDEEMED, *_DEAD_CODES)
    },
    (ACTIVE, RefreshPresented): Rule(
        targets=(ACTIVE, ROTATED, PAIR_EXPIRED),
        effects=(SavePair, Respond),
        why=(
            "Rotation: a new pair is issued (refresh token good for 60 days from now) and the "
            "old pair stops working at once. Bad credentials change nothing; a refresh token "
            "past its 60 days expires the pair."
        ),
        handler=_refresh_active,
    ),
    **{
        (dead, RefreshPresented): Rule(
            targets=(dead,),
            effects=(Respond,),
            why="A rotated, revoked or expired refresh token is refused.",
            handler=_refresh_dead,
        )
        for dead in _DEAD_PAIRS
    },
    (ACTIVE, RevocationRequested): Rule(
        targets=(ACTIVE, REVOKED),
        effects=(SavePair, Respond),
        why=(
            "v2 revoke by the owning app: 204, and both tokens stop working (the app stays "
            "installed). Bad credentials change nothing; another app gets 404."
        ),
        handler=_revoke_active,
    ),
    **{
        (dead, RevocationRequested): Rule(
            targets=(dead,),
            effects=(Respond,),
            why="Revoking a token that no longer works: 404, as for an unknown token.",
            handler=_revoke_dead,
        )
        for dead in _DEAD_PAIRS
    },
    (ACTIVE, LegacyRevocationRequested): Rule(
        targets=(REVOKED,),
        effects=(SavePair, Respond),
        why=(
            "v1 revoke (DEPRECATED by Miro, still called by both official SDKs): the access "
            "token in the query string, no client credentials; 204 and both tokens stop "
            "working."
        ),
        handler=_legacy_revoke_active,
    ),
    **{
        (dead, LegacyRevocationRequested): Rule(
            targets=(dead,),
            effects=(Respond,),
            why=(
                "v1 revoke of a token that no longer works: 404, as v2 (UNCONFIRMED; "
                "v1_revoke_unknown_ok answers 204, as RFC 7009)."
            ),
            handler=_legacy_revoke_dead,
        )
        for dead in _DEAD_PAIRS
    },
    (ACTIVE, ContextRequested): Rule(
        targets=(ACTIVE,),
        effects=(Respond,),
        why=(
            "The token's context (type, organization, team, createdBy, user, scopes) while "
            "the access token is within its 3599 s; 401 after."
        ),
        handler=_context_active,
    ),
    **{
        (dead, ContextRequested): Rule(
            targets=(dead,),
            effects=(Respond,),
            why="A rotated, revoked or expired access token gets 401.",
            handler=_context_dead,
        )
        for dead in _DEAD_PAIRS
    },
    (ACTIVE, CodeReplayed): Rule(
        targets=(REVOKED,),
        effects=(SavePair,),
        why="The code this pair descends from was replayed: the pair is revoked.",
        handler=_replayed,
    ),
    **{
        (dead, CodeReplayed): Rule(
            targets=(dead,),
            effects=(),
            why="A pair that no longer works stays as it is.",
            handler=_absorb,
        )
        for dead in _DEAD_PAIRS
    },
    (ACTIVE, ClockAdvanced): Rule(
        targets=(ACTIVE, PAIR_EXPIRED),
        effects=(SavePair,),
        why="A pair expires when its refresh token reaches 60 days without use.",
        handler=_clock_pair,
    ),
    **{
        (dead, ClockAdvanced): Rule(
            targets=(dead,),
            effects=(),
            why="Time changes nothing for a pair that no longer works.",
            handler=_absorb,
        )
        for dead in _DEAD_PAIRS
    },
    **CONSENT_ROWS,
}


def step(
    record: AuthorizationCode | TokenPair | Session | ConsentTicket | None,
    event: ServerInput,
    *,
    registry: Registry,
    now: float,
) -> ServerStep:
    """Apply ``event`` to ``record`` at time ``now``; ``record`` is None before a code exists.
    Raises ``InvalidTransition`` for a pair not in the table, leaving everything unchanged."""
    state = None if record is None else record.state
    rule = TABLE.get((state, type(event)))
    if rule is None:
        where = "before any record exists" if state is None else f"in state {state.value}"
        raise InvalidTransition(f"The simulator can't handle {type(event).__name__} {where}.")
    return rule.handler(record, event, registry, now)
