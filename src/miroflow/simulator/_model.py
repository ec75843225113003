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
    "DEFAULT_SCOPES",
    "REFRESH_TOKEN_LIFETIME",
    "App",
    "AuthorizationCode",
    "AuthorizationRequest",
    "CodeState",
    "Organization",
    "PairState",
    "Registry",
    "Team",
    "TokenPair",
    "User",
]

#: Miro answers ``expires_in: 3599`` for a one-hour access token.
ACCESS_TOKEN_LIFETIME = 3599
#: Refresh tokens live 60 days, counted again from each refresh.
REFRESH_TOKEN_LIFETIME = 60 * 24 * 3600
DEFAULT_SCOPES = ("boards:read", "boards:write")


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
    """Everything registered with the simulated Miro: apps, users, teams, the organization.

    ``big_team_ids`` makes the token endpoint send ``team_id`` as a bare JSON number (above
    2**53 for Miro-sized IDs), as Miro sometimes does."""

    organization: Organization
    teams: Mapping[str, Team]
    users: Mapping[str, User]
    apps: Mapping[str, App] = attrs.field(factory=dict)
    big_team_ids: bool = False

    def with_app(self, app: App) -> Registry:
        return attrs.evolve(self, apps={**self.apps, app.client_id: app})


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


def hash_secret(value: str) -> str:
    """The SHA-256 hex digest the simulator keys codes and tokens by (never the raw value)."""
    return hashlib.sha256(value.encode()).hexdigest()
