"""The simulator's inputs (facts, past tense), effects (orders) and its one error type.

Don't subclass these: the machine dispatches on the exact type. The random values a
transition needs (a new code, new tokens) arrive inside the input, drawn by the caller from
its entropy source, so the machine itself never touches randomness. Secrets never appear in
``repr``.
"""

from __future__ import annotations

import attrs

from .._errors import MiroflowError
from .._events import ClockAdvanced
from .._http import HttpResponse
from ._model import (
    AuthorizationCode,
    AuthorizationRequest,
    ConsentTicket,
    Session,
    TokenPair,
)

__all__ = [
    "AuthorizationRequestRejected",
    "ClockAdvanced",
    "CodeRedeemed",
    "CodeReplayed",
    "ConsentFormRejected",
    "ConsentGranted",
    "ConsentShown",
    "ConsentSubmitted",
    "ContextRequested",
    "LegacyRevocationRequested",
    "RefreshPresented",
    "Respond",
    "RevocationRequested",
    "RevokeIssuedFrom",
    "SaveCode",
    "SavePair",
    "SaveSession",
    "SaveTicket",
    "ServerEffect",
    "ServerInput",
    "ServerStep",
    "UserSignedIn",
    "UserSignedOut",
]


class AuthorizationRequestRejected(MiroflowError):
    """The authorization request (or the consent form built from it) cannot be honoured: an
    unknown client, a redirect URI that is not registered exactly, a bad parameter. Answered
    with a 400 page and never with a redirect (RFC 6749 §4.1.2.1)."""

    code = "authorization_request_rejected"
    status_code = 400


class ConsentFormRejected(AuthorizationRequestRejected):
    """A consent form submitted without the right CSRF token or session (a forged or replayed
    POST, or another browser's form): 403, never a redirect."""

    code = "consent_form_rejected"
    status_code = 403


# --- inputs ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ConsentGranted:
    """The user clicked "Install & authorize" for ``team_id``. ``code`` is freshly drawn."""

    request: AuthorizationRequest
    user_id: str
    team_id: str
    code: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class UserSignedIn:
    """A user signed in on the simulated miro.com; ``session_token`` (the cookie's value) is
    freshly drawn."""

    user_id: str
    session_token: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class UserSignedOut:
    """The session's user signed out."""


@attrs.frozen(kw_only=True)
class ConsentShown:
    """The consent page was rendered for ``user_id`` (in the session ``session_hash``, or in
    none for the implicit default user); ``token`` is its freshly drawn CSRF token."""

    request: AuthorizationRequest
    user_id: str
    session_hash: str | None
    token: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class ConsentSubmitted:
    """The consent form came back: the request it carries, the session its cookie names (None
    without one), the button pressed, the team picked, the ``user_id`` field if one was posted,
    and a freshly drawn code (used only on approval)."""

    request: AuthorizationRequest
    session_hash: str | None
    approve: bool
    team_id: str | None
    posted_user_id: str | None = None
    code: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class CodeRedeemed:
    """``grant_type=authorization_code`` arrived for this code. The new tokens are drawn in
    advance and used only if the redemption succeeds."""

    client_id: str
    client_secret: str = attrs.field(repr=False)
    redirect_uri: str | None
    code_verifier: str | None = attrs.field(default=None, repr=False)
    new_access_token: str = attrs.field(repr=False)
    new_refresh_token: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class RefreshPresented:
    """``grant_type=refresh_token`` arrived with this pair's refresh token."""

    client_id: str
    client_secret: str = attrs.field(repr=False)
    new_access_token: str = attrs.field(repr=False)
    new_refresh_token: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class RevocationRequested:
    """``POST /v2/oauth/revoke`` named this pair's access token."""

    client_id: str
    client_secret: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class LegacyRevocationRequested:
    """``POST /v1/oauth/revoke?access_token=...`` (deprecated by Miro, still called by both
    official SDKs) named this pair's access token. It carries no client credentials."""


@attrs.frozen(kw_only=True)
class ContextRequested:
    """``GET /v1/oauth-token`` presented this pair's access token."""


@attrs.frozen(kw_only=True)
class CodeReplayed:
    """The code this pair descends from was presented again (RFC 6749 §4.1.2)."""


ServerInput = (
    ConsentGranted
    | CodeRedeemed
    | RefreshPresented
    | RevocationRequested
    | LegacyRevocationRequested
    | ContextRequested
    | CodeReplayed
    | UserSignedIn
    | UserSignedOut
    | ConsentShown
    | ConsentSubmitted
    | ClockAdvanced
)

# --- effects --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SaveCode:
    """Keep this code record (insert or replace, by its hash)."""

    code: AuthorizationCode


@attrs.frozen(kw_only=True)
class SavePair:
    """Keep this token pair (insert or replace, by its access-token hash)."""

    pair: TokenPair


@attrs.frozen(kw_only=True)
class SaveSession:
    """Keep this session record (insert or replace, by its cookie's hash)."""

    session: Session


@attrs.frozen(kw_only=True)
class SaveTicket:
    """Keep this consent ticket (insert or replace, by its CSRF token's hash)."""

    ticket: ConsentTicket


@attrs.frozen(kw_only=True)
class RevokeIssuedFrom:
    """Feed ``CodeReplayed`` to every pair descending from this code."""

    code_hash: str


@attrs.frozen(kw_only=True)
class Respond:
    """Answer the request with this response (a redirect, for the consent page)."""

    response: HttpResponse


ServerEffect = SaveCode | SavePair | SaveSession | SaveTicket | RevokeIssuedFrom | Respond


@attrs.frozen(kw_only=True)
class ServerStep:
    """What ``step`` returns: the record after the transition and the orders, in order."""

    record: AuthorizationCode | TokenPair | Session | ConsentTicket
    effects: tuple[ServerEffect, ...] = ()
