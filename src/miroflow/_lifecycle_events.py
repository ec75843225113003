"""The token machine's vocabulary: its states, its snapshot (one caller's attempt to get a
valid token set), its inputs (facts, past tense), its effects (orders to a port, imperative)
and ``TokenStep``, what ``step_tokens`` returns.

Don't subclass these: the machine dispatches on the exact type. Secrets (tokens, the refresh
request's body) never appear in ``repr``.
"""

from __future__ import annotations

import enum

import attrs

from ._errors import MiroflowError, StoreError, TransportError
from ._events import RevokeTokens
from ._http import HttpRequest, HttpResponse
from ._model import StoredTokens, TokenKey, TokenSet

__all__ = [
    "DeleteTokens",
    "LeaseAnswered",
    "PutTokens",
    "ReadTokens",
    "RefreshAnswered",
    "RefreshFailed",
    "ReleaseLease",
    "SendRefreshRequest",
    "StoreFailed",
    "TakeLease",
    "TokenCall",
    "TokenEffect",
    "TokenInput",
    "TokenState",
    "TokenStep",
    "TokensLoaded",
    "TokensPolled",
    "TokensStored",
]


class TokenState(str, enum.Enum):
    """Where one caller's attempt to get a valid token set stands. The last three absorb
    every input."""

    #: The tokens are within ``refresh_margin`` of their expiry (or a refresh was asked
    #: for): the refresh lease is being taken.
    DUE = "due"
    #: Another caller holds the lease: this one polls the store for the tokens it stores.
    WAITING = "waiting"
    #: This caller holds the lease and reads the store once more: another caller may have
    #: refreshed between this caller's read and its lease.
    LEASED = "leased"
    #: The refresh request is out (the lease is held).
    REFRESHING = "refreshing"
    #: Miro issued new tokens; they are being written (compare-and-set on the version read).
    STORING = "storing"
    #: Miro refused the refresh; the store is read once more before the set is deleted, in
    #: case another caller stored new tokens meanwhile.
    REJECTED = "rejected"
    #: Usable tokens are at hand (``TokenCall.tokens``). Terminal.
    FRESH = "fresh"
    #: No usable tokens, and none can be had without the user: ``SignInRequired``. Terminal.
    DEAD = "dead"
    #: Something passing failed (the network, the token endpoint, the store, the wait); the
    #: stored set is kept and the error raised. Terminal.
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({TokenState.FRESH, TokenState.DEAD, TokenState.FAILED})


@attrs.frozen(kw_only=True)
class TokenCall:
    """A snapshot of one caller's attempt. It lives for one call of ``valid_tokens`` (or
    ``refresh``), in memory: what is shared between callers is the store's record and lease."""

    state: TokenState
    key: TokenKey
    #: Who this caller is to the lease (drawn by the driver; not a secret, only unique).
    holder: str
    #: The version of the stored record this caller read (0: nothing stored).
    version: int
    #: The tokens read (or, from ``storing`` on, the new ones); the result once ``fresh``.
    tokens: TokenSet | None
    #: A refresh was asked for whatever the expiry (``client.refresh``).
    force: bool = False
    started_at: float
    #: The caller stops waiting for another's refresh here (``started_at + refresh_wait``).
    give_up_at: float
    #: How many times it has polled the store so far (the next pause grows with it).
    polls: int = 0
    #: Why Miro refused the refresh, once it did (for the error's detail).
    refusal: str | None = None


# --- inputs ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TokensLoaded:
    """A caller wants valid tokens for ``key``; ``stored`` is what the store holds."""

    key: TokenKey
    holder: str
    stored: StoredTokens | None
    force: bool = False


@attrs.frozen(kw_only=True)
class LeaseAnswered:
    """The store said whether this caller took the refresh lease."""

    taken: bool


@attrs.frozen(kw_only=True)
class TokensPolled:
    """The store was read again (``ReadTokens``): what it holds now."""

    stored: StoredTokens | None


@attrs.frozen(kw_only=True)
class RefreshAnswered:
    """The token endpoint answered the refresh request (any status)."""

    response: HttpResponse


@attrs.frozen(kw_only=True)
class RefreshFailed:
    """The refresh request did not complete. It is not retried: Miro may have rotated the
    pair, and the next caller's refresh will say so."""

    error: TransportError


@attrs.frozen(kw_only=True)
class TokensStored:
    """The new tokens were written: the record as stored."""

    stored: StoredTokens


@attrs.frozen(kw_only=True)
class StoreFailed:
    """Writing the new tokens failed (the store, or another writer's newer version)."""

    error: StoreError


TokenInput = (
    TokensLoaded
    | LeaseAnswered
    | TokensPolled
    | RefreshAnswered
    | RefreshFailed
    | TokensStored
    | StoreFailed
)

# --- effects --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TakeLease:
    """Take the refresh lease of ``key`` for ``holder`` until ``now + ttl`` (the store's
    compare-and-set); the answer is the next input (``LeaseAnswered``)."""

    key: TokenKey
    holder: str
    now: float
    ttl: float


@attrs.frozen(kw_only=True)
class ReadTokens:
    """Wait ``delay`` seconds (the edge sleeps; 0: at once), then read the tokens of ``key``;
    the answer is the next input (``TokensPolled``)."""

    key: TokenKey
    delay: float = 0.0


@attrs.frozen(kw_only=True)
class SendRefreshRequest:
    """POST this refresh-token grant, once; the answer is the next input (``RefreshAnswered``
    or ``RefreshFailed``)."""

    request: HttpRequest = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class PutTokens:
    """Write the new tokens if the stored version is still ``expected_version``; the answer
    is the next input (``TokensStored`` or ``StoreFailed``)."""

    tokens: TokenSet
    expected_version: int


@attrs.frozen(kw_only=True)
class ReleaseLease:
    """Give the lease back (best effort: a lease that is not released lapses at its ttl)."""

    key: TokenKey
    holder: str


@attrs.frozen(kw_only=True)
class DeleteTokens:
    """Forget the dead token set."""

    key: TokenKey


TokenEffect = (
    TakeLease
    | ReadTokens
    | SendRefreshRequest
    | PutTokens
    | ReleaseLease
    | DeleteTokens
    | RevokeTokens
)


@attrs.frozen(kw_only=True)
class TokenStep:
    """What ``step_tokens`` returns: the next snapshot, the effects to carry out in order, and
    the error to raise once they are done (``dead`` and ``failed`` only)."""

    call: TokenCall
    effects: tuple[TokenEffect, ...] = ()
    error: MiroflowError | None = None
