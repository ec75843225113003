"""The values the machine and the stores pass around: flow snapshots and token sets.

All are frozen, slotted, keyword-only attrs classes. Secrets (raw state and binding tokens,
verifiers, access and refresh tokens) never appear in ``repr``. Times are seconds since the
Unix epoch, as floats, always passed in by the caller.
"""

from __future__ import annotations

import enum
import hashlib
import re

import attrs

__all__ = [
    "CODE_LIFETIME",
    "FLOW_RETENTION",
    "Flow",
    "FlowState",
    "StoredTokens",
    "TokenKey",
    "TokenSet",
    "hash_binding",
    "hash_state",
    "is_issued_token",
]

#: Miro's authorization codes die 10 minutes after they are issued.
CODE_LIFETIME = 600.0

#: How long a store keeps a flow after its deadline, so that a late or repeated callback hears
#: "expired N seconds ago" or "already used" instead of "unknown".
FLOW_RETENTION = 3600.0

_sha256 = hashlib.sha256


#: What this library issues as a state or a binding: 256 bits in unpadded base64url.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def is_issued_token(value: str) -> bool:
    """Whether ``value`` has the form of a state or binding this library issues. Anything else
    (too long, another alphabet, a lone surrogate) is rejected before it is hashed or looked
    up."""
    return _TOKEN.fullmatch(value) is not None


def hash_state(client_id: str, state_token: str) -> bytes:
    """The store key of a flow: SHA-256 over the app's client id and the raw ``state``.

    Stores never see the raw state. The client id makes the key per app, so two apps sharing
    one store (or one host name, and so one binding cookie) can never claim each other's
    flows."""
    return _sha256(f"{client_id}:{state_token}".encode()).digest()


#: A binding hash is the first 128 bits of SHA-256: it is only ever compared for equality with
#: the hash of a presented cookie (no one can find a 256-bit cookie value that matches one in
#: fewer than 2**128 tries), and every stored flow holds one, so the bytes count.
BINDING_HASH_SIZE = 16


def hash_binding(binding: str) -> bytes:
    """The hash of a browser-binding cookie value, as stored and compared by a claim."""
    return _sha256(binding.encode()).digest()[:BINDING_HASH_SIZE]


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


def _short_hex(value: bytes) -> str:
    return value.hex()[:12]


@attrs.frozen(kw_only=True, weakref_slot=False)
class Flow:
    """A snapshot of one flow. Stores keep the ``redirected`` snapshot between the start and
    the callback requests; every other state lives for one request."""

    state: FlowState
    #: ``hash_state(client_id, state)``: the store's key. The raw state is never stored.
    state_hash: bytes = attrs.field(repr=_short_hex)
    #: ``hash_binding(cookie)`` (16 bytes); None only for an unsolicited callback's flow.
    binding_hash: bytes | None = attrs.field(repr=False)
    created_at: float
    #: The flow can no longer be claimed from here on.
    deadline: float
    return_path: str | None = None
    requested_team_id: str | None = None
    code_verifier: str | None = attrs.field(default=None, repr=False)
    #: The team Miro's callback named (set from ``code_received`` on); the token response's
    #: team must agree with it.
    team_id: str | None = None
    #: The raw state and binding, held only while ``pending`` (between the two steps of a
    #: start, in memory) to build the redirect; never stored.
    state_token: str | None = attrs.field(default=None, repr=False)
    binding: str | None = attrs.field(default=None, repr=False)

    @property
    def forget_at(self) -> float:
        """A store may forget the flow from here on; until then it must keep it."""
        return self.deadline + FLOW_RETENTION

    @property
    def flow_id(self) -> str:
        """A short, non-secret name for logs: the start of the state hash, in hex."""
        return self.state_hash.hex()[:12]


@attrs.frozen(kw_only=True)
class TokenKey:
    """Tokens are kept per app, Miro user and team: one user may install into several teams,
    and several apps may share one store."""

    client_id: str
    user_id: str
    team_id: str


@attrs.frozen(kw_only=True)
class TokenSet:
    """Tokens from Miro's token endpoint, with the facts that came with them."""

    #: The app (its Miro client id) the tokens were issued to.
    client_id: str
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
        return TokenKey(client_id=self.client_id, user_id=self.user_id, team_id=self.team_id)

    def is_expired(self, now: float, *, leeway: float = 0.0) -> bool:
        return self.expires_at is not None and now + leeway >= self.expires_at


@attrs.frozen(kw_only=True)
class StoredTokens:
    """A token set as stored, with the version a compare-and-set write must name."""

    tokens: TokenSet
    version: int
