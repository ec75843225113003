"""The values the machine and the stores pass around: flow snapshots, token sets, claims.

All are frozen, slotted, keyword-only attrs classes; the next value is made with
``attrs.evolve``. Secrets (codes, verifiers, tokens) never appear in ``repr``. Times are
seconds since the Unix epoch, as floats, always passed in by the caller.
"""

from __future__ import annotations

import enum
import hashlib

import attrs

__all__ = [
    "CODE_LIFETIME",
    "FLOW_RETENTION",
    "Claim",
    "ClaimOutcome",
    "Flow",
    "FlowState",
    "StoredTokens",
    "TokenKey",
    "TokenSet",
    "hash_secret",
]

#: Miro's authorization codes die 10 minutes after they are issued.
CODE_LIFETIME = 600.0

#: How long a store keeps a claimed or expired flow after its deadline, so that a late or
#: repeated callback gets "already used" or "expired N seconds ago" instead of "unknown".
FLOW_RETENTION = 3600.0


def hash_secret(value: str) -> str:
    """The SHA-256 hex digest stores use as a key instead of a raw state or binding token."""
    return hashlib.sha256(value.encode()).hexdigest()


class FlowState(str, enum.Enum):
    """Where one authorization flow stands. The last four absorb every input."""

    PENDING = "pending"
    REDIRECTED = "redirected"
    CODE_RECEIVED = "code_received"
    CONSUMED = "consumed"
    EXPIRED = "expired"
    DENIED = "denied"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({FlowState.CONSUMED, FlowState.EXPIRED, FlowState.DENIED, FlowState.FAILED})


@attrs.frozen(kw_only=True)
class Flow:
    """A snapshot of one flow. Stores keep it between the start and the callback requests."""

    state: FlowState
    #: SHA-256 of the ``state`` token sent to Miro: the store's key. The raw token is never
    #: kept server-side.
    state_hash: str
    #: SHA-256 of the browser-binding cookie value; None only for an unsolicited callback.
    binding_hash: str | None
    created_at: float
    #: The flow dies here unless its callback arrived first.
    deadline: float
    requested_team_id: str | None = None
    return_path: str | None = None
    code_verifier: str | None = attrs.field(default=None, repr=False)
    code: str | None = attrs.field(default=None, repr=False)
    code_received_at: float | None = None
    team_id: str | None = None
    #: The error code (``MiroflowError.code``) that ended a denied, failed or expired flow.
    failure: str | None = None

    @property
    def code_deadline(self) -> float | None:
        """A received code is never exchanged at or after this instant."""
        if self.code_received_at is None:
            return None
        return self.code_received_at + CODE_LIFETIME


@attrs.frozen(kw_only=True)
class TokenKey:
    """Tokens are kept per Miro user and team: one user may install into several teams."""

    user_id: str
    team_id: str


@attrs.frozen(kw_only=True)
class TokenSet:
    """Tokens from Miro's token endpoint, with the facts that came with them."""

    access_token: str = attrs.field(repr=False)
    refresh_token: str | None = attrs.field(default=None, repr=False)
    token_type: str = "bearer"
    user_id: str
    team_id: str
    scopes: tuple[str, ...] = ()
    obtained_at: float
    #: None for apps whose tokens do not expire.
    expires_at: float | None = None

    @property
    def key(self) -> TokenKey:
        return TokenKey(user_id=self.user_id, team_id=self.team_id)

    def is_expired(self, now: float, *, leeway: float = 0.0) -> bool:
        return self.expires_at is not None and now + leeway >= self.expires_at


@attrs.frozen(kw_only=True)
class StoredTokens:
    """A token set as stored, with the version a compare-and-set write must name."""

    tokens: TokenSet
    version: int


class ClaimOutcome(str, enum.Enum):
    """What a store's atomic claim found."""

    CLAIMED = "claimed"  # this caller won the flow; no other claim will
    UNKNOWN = "unknown"  # no such flow (never saved, deleted, or past its retention)
    ALREADY_CLAIMED = "already_claimed"  # an earlier claim won
    EXPIRED = "expired"  # the flow is past its deadline; nobody may claim it


@attrs.frozen(kw_only=True)
class Claim:
    """The answer to ``FlowStore.claim``. ``flow`` is set for CLAIMED and EXPIRED."""

    outcome: ClaimOutcome
    flow: Flow | None = None
