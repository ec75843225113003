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
from ._model import AuthorizationCode, AuthorizationRequest, TokenPair

__all__ = [
    "AuthorizationRequestRejected",
    "ClockAdvanced",
    "CodeRedeemed",
    "CodeReplayed",
    "ConsentGranted",
    "ContextRequested",
    "RefreshPresented",
    "Respond",
    "RevocationRequested",
    "RevokeIssuedFrom",
    "SaveCode",
    "SavePair",
    "ServerEffect",
    "ServerInput",
    "ServerStep",
]


class AuthorizationRequestRejected(MiroflowError):
    """The authorization request (or the consent form built from it) cannot be honoured: an
    unknown client, a redirect URI that is not registered exactly, a bad parameter. Answered
    with a 400 page and never with a redirect (RFC 6749 §4.1.2.1)."""

    code = "authorization_request_rejected"
    status_code = 400


# --- inputs ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ConsentGranted:
    """The user clicked "Install & authorize" for ``team_id``. ``code`` is freshly drawn."""

    request: AuthorizationRequest
    user_id: str
    team_id: str
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
    | ContextRequested
    | CodeReplayed
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
class RevokeIssuedFrom:
    """Feed ``CodeReplayed`` to every pair descending from this code."""

    code_hash: str


@attrs.frozen(kw_only=True)
class Respond:
    """Answer the request with this response (a redirect, for the consent page)."""

    response: HttpResponse


ServerEffect = SaveCode | SavePair | RevokeIssuedFrom | Respond


@attrs.frozen(kw_only=True)
class ServerStep:
    """What ``step`` returns: the record after the transition and the orders, in order."""

    record: AuthorizationCode | TokenPair
    effects: tuple[ServerEffect, ...] = ()
