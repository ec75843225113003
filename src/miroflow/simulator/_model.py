"""The simulator's values: the registry (apps, users, teams) and the two kinds of record the
authorization server keeps, authorization codes and token pairs.

All are frozen, slotted, keyword-only attrs classes; the next value is made with
``attrs.evolve``. Records are keyed by the SHA-256 of the secret they stand for, so no raw
code or token is ever kept server-side; secrets never appear in ``repr``. Times are seconds
since the Unix epoch, always passed in by the caller.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping

import attrs

from .._config import Secret
from .._model import CODE_LIFETIME

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "CODE_LIFETIME",
    "CONSENT_LIFETIME",
    "DEFAULT_SCOPES",
    "ID_FIELDS",
    "REFRESH_TOKEN_LIFETIME",
    "SESSION_LIFETIME",
    "App",
    "AuthorizationCode",
    "AuthorizationRequest",
    "CodeState",
    "ConsentTicket",
    "Organization",
    "PairState",
    "Registry",
    "Session",
    "SessionState",
    "Team",
    "TicketState",
    "TokenPair",
    "User",
]

#: Miro answers ``expires_in: 3599`` for a one-hour access token.
ACCESS_TOKEN_LIFETIME = 3599
#: Refresh tokens live 60 days, counted again from each refresh.
REFRESH_TOKEN_LIFETIME = 60 * 24 * 3600
DEFAULT_SCOPES = ("boards:read", "boards:write")
#: UNCONFIRMED: how long a simulated miro.com sign-in lasts (Miro does not say).
SESSION_LIFETIME = 24 * 3600
#: UNCONFIRMED: how long a consent page's form (its CSRF token) may be submitted.
CONSENT_LIFETIME = 30 * 60
#: The IDs Miro sometimes sends as bare JSON numbers instead of strings.
ID_FIELDS = ("user_id", "team_id", "organization_id")


# Values are prefixed: these are str enums, and two states named "expired" in different
# enums would compare (and hash) equal as table keys.
class CodeState(str, enum.Enum):
    """Where one authorization code stands."""

    ISSUED = "code_issued"  # handed to the browser, not yet redeemed
    REDEEMED = "code_redeemed"  # exchanged once for a token pair
    EXPIRED = "code_expired"  # 600 s passed before it was redeemed
    BURNED = "code_burned"  # misused (wrong redirect_uri or verifier, or replayed)


class PairState(str, enum.Enum):
    """Where one access + refresh token pair stands."""

    ACTIVE = "pair_active"
    ROTATED = "pair_rotated"  # a refresh replaced it; it stopped working at once
    REVOKED = "pair_revoked"  # revoked (v2 revoke, or its code was replayed)
    EXPIRED = "pair_expired"  # its refresh token outlived its 60 days


class SessionState(str, enum.Enum):
    """Where one simulated sign-in on the consent host (a session cookie) stands."""

    ACTIVE = "session_active"
    ENDED = "session_ended"  # signed out, or past its lifetime


class TicketState(str, enum.Enum):
    """Where one rendered consent form (its CSRF token) stands."""

    ISSUED = "ticket_issued"  # the page was shown; the form may be submitted once
    USED = "ticket_used"  # submitted (approved or cancelled)
    EXPIRED = "ticket_expired"  # not submitted in time


@attrs.frozen(kw_only=True)
class Organization:
    org_id: str
    name: str


@attrs.frozen(kw_only=True)
class Team:
    team_id: str
    name: str


@attrs.frozen(kw_only=True)
class User:
    """A Miro user, and the teams they may install an app into."""

    user_id: str
    name: str
    team_ids: tuple[str, ...]


def _to_secret(value: str | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


@attrs.frozen(kw_only=True)
class App:
    """A registered Miro app. ``redirect_uris`` are matched character for character;
    ``expiring`` is fixed when the app is created (non-expiring apps get no refresh token)."""

    client_id: str
    client_secret: Secret = attrs.field(converter=_to_secret, repr=False)
    redirect_uris: tuple[str, ...]
    expiring: bool = True
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    name: str = "Simulated app"


@attrs.frozen(kw_only=True)
class Registry:
    """Everything registered with the simulated Miro: apps, users, teams, the organization,
    and the switches for behaviour Miro varies or does not document.

    ``number_ids`` names the IDs (of ``ID_FIELDS``) sent as bare JSON numbers (above 2**53 for
    Miro-sized IDs), as Miro sometimes does; the others are strings. ``return_empty_state``:
    an empty ``state=`` in the authorization request comes back as ``state=`` (True, RFC 6749
    §4.1.2: "if the state parameter was present") or is dropped (False). UNCONFIRMED.
    ``v1_revoke_unknown_ok``: the deprecated v1 revoke answers an unknown or dead token with
    204 (True, as RFC 7009 §2.2 would) instead of v2's 404 (False, the default). UNCONFIRMED."""

    organization: Organization
    teams: Mapping[str, Team]
    users: Mapping[str, User]
    apps: Mapping[str, App] = attrs.field(factory=dict)
    number_ids: frozenset[str] = frozenset()
    return_empty_state: bool = True
    v1_revoke_unknown_ok: bool = False

    def __attrs_post_init__(self) -> None:
        unknown = set(self.number_ids) - set(ID_FIELDS)
        if unknown:
            raise ValueError(
                f"Unknown ID fields {sorted(unknown)}; choose among {', '.join(ID_FIELDS)}."
            )

    @property
    def big_team_ids(self) -> bool:
        """``team_id`` goes out as a bare JSON number."""
        return "team_id" in self.number_ids

    def with_app(self, app: App) -> Registry:
        return attrs.evolve(self, apps={**self.apps, app.client_id: app})

    def id_value(self, field: str, value: str) -> object:
        """``value`` as it goes on the wire: a bare number if ``field`` is switched to numbers
        (json writes Python ints exactly, never through a float)."""
        return int(value) if field in self.number_ids and value.isdigit() else value


@attrs.frozen(kw_only=True)
class AuthorizationRequest:
    """A checked ``GET /oauth/authorize``: a known client and an exactly registered
    redirect URI. ``team_id`` only pre-selects a team."""

    client_id: str
    redirect_uri: str
    state: str | None = attrs.field(default=None, repr=False)
    team_id: str | None = None
    code_challenge: str | None = None


@attrs.frozen(kw_only=True)
class AuthorizationCode:
    """One issued code, bound to everything it was issued for."""

    code_hash: str
    state: CodeState
    client_id: str
    redirect_uri: str
    user_id: str
    team_id: str
    issued_at: float
    #: The PKCE S256 challenge sent with the authorization request, if any.
    code_challenge: str | None = None

    @property
    def expires_at(self) -> float:
        """The code is dead at and after this instant (599.999 s after issue still works)."""
        return self.issued_at + CODE_LIFETIME


@attrs.frozen(kw_only=True)
class TokenPair:
    """An access token and its refresh token (None for non-expiring apps)."""

    access_hash: str
    refresh_hash: str | None
    state: PairState
    client_id: str
    user_id: str
    team_id: str
    scopes: tuple[str, ...]
    issued_at: float
    #: None for apps whose tokens do not expire.
    access_expires_at: float | None
    refresh_expires_at: float | None
    #: The hash of the code this pair (or the pair it rotated from) was issued for: a replay
    #: of that code revokes it.
    origin_code_hash: str


@attrs.frozen(kw_only=True)
class Session:
    """A user signed in on the simulated miro.com, keyed by the hash of its cookie."""

    session_hash: str
    state: SessionState
    user_id: str
    signed_in_at: float

    @property
    def expires_at(self) -> float:
        return self.signed_in_at + SESSION_LIFETIME


@attrs.frozen(kw_only=True)
class ConsentTicket:
    """One rendered consent form: its CSRF token's hash, who it was shown to (the session, or
    None for the implicit default user) and the authorization request it was shown for."""

    ticket_hash: str
    state: TicketState
    request: AuthorizationRequest
    user_id: str
    session_hash: str | None
    issued_at: float

    @property
    def expires_at(self) -> float:
        return self.issued_at + CONSENT_LIFETIME


def hash_secret(value: str) -> str:
    """The SHA-256 hex digest the simulator keys codes and tokens by (never the raw value)."""
    return hashlib.sha256(value.encode()).hexdigest()
