"""The ports: what the driver needs from the outside world, as Protocols.

Adapters implement these; the core never does I/O itself. Every store method that needs the
time takes ``now`` from the caller, so a store can be tested with an injected clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ._http import HttpRequest, HttpResponse
from ._model import Flow, StoredTokens, TokenKey, TokenSet

__all__ = [
    "AsyncFlowStore",
    "AsyncTokenStore",
    "AsyncTransport",
    "ClaimResult",
    "Clock",
    "Entropy",
    "FlowStore",
    "TokenStore",
    "Transport",
]

#: Seconds since the Unix epoch, e.g. ``time.time``.
Clock = Callable[[], float]
#: ``n`` unpredictable bytes, e.g. ``os.urandom``.
Entropy = Callable[[int], bytes]


#: What a claim returns: the stored flow (None if there is none) and whether this call won it.
ClaimResult = tuple[Flow | None, bool]


@runtime_checkable
class FlowStore(Protocol):
    """Keeps flows between the start request and the callback request. It compares and sets;
    it decides nothing else (``miroflow.machine.claim_outcome`` does).

    Keys are ``Flow.state_hash`` (a SHA-256 digest over the client id and the state), never
    the raw state. A store must keep every flow until ``flow.forget_at`` (its deadline plus
    ``FLOW_RETENTION``), claimed or not, so that late callbacks hear why; it may forget it
    after that, and forgetting must cost O(forgotten flows), never O(live flows).
    """

    def save(self, flow: Flow) -> None:
        """Insert or replace the flow, unclaimed, under its state hash."""

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        """Atomically, across threads and processes: if a flow is stored under
        ``state_hash``, is unclaimed, and its ``binding_hash`` equals the one given (None
        never does), mark it claimed. Return the stored flow (or None) and whether this call
        claimed it: of any number of concurrent callers, at most one ever wins.

        A client library that replays a command after a dropped connection must not turn
        this call's own win into a loss: make a replay of the same call answer as the first
        run did (the Redis store tags each claim with a nonce for this).

        (The binding hashes are hashes of 256-bit secrets, so a plain, not constant-time,
        comparison reveals nothing an attacker can use.)"""


@runtime_checkable
class AsyncFlowStore(Protocol):
    """``FlowStore`` for asyncio code; same contract."""

    async def save(self, flow: Flow) -> None: ...

    async def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult: ...


@runtime_checkable
class TokenStore(Protocol):
    """Keeps token sets per ``TokenKey`` (client, user, team), versioned for compare-and-set,
    and the refresh lease of each key (one refresh per token set at a time)."""

    def get(self, key: TokenKey) -> StoredTokens | None:
        """The stored tokens and their version, or None."""

    def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        """Write ``tokens`` under ``tokens.key``.

        ``expected_version=None`` writes unconditionally. An int is a compare-and-set: the
        write happens only if the stored version equals it (0 means "nothing stored yet"),
        otherwise ``StaleTokenWrite`` is raised and nothing changes. Returns the new record,
        whose version is one more than the previous (1 for a first write).
        """

    def delete(self, key: TokenKey) -> None:
        """Forget the tokens; deleting missing tokens is not an error."""

    def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        """Atomically, across threads and processes: take the refresh lease of ``key`` for
        ``holder`` until ``now + ttl`` if nobody holds it or its holder's lease has ended (its
        end is at or before ``now``). True when this call took it. A holder asking again while
        its own lease runs is refused like anyone else. Of any number of concurrent callers,
        at most one takes a free lease.

        The lease is separate from the tokens (it may exist with none stored, and deleting
        the tokens leaves it). Time is ``now``, as passed: a store that also lets leases lapse
        in real time (a Redis PX) must still answer by ``now``. The core decides everything
        else (``miroflow.machine.step_tokens``)."""

    def release(self, key: TokenKey, holder: str) -> None:
        """End the lease of ``key`` if ``holder`` still holds it (else change nothing)."""


@runtime_checkable
class AsyncTokenStore(Protocol):
    """``TokenStore`` for asyncio code; same contract."""

    async def get(self, key: TokenKey) -> StoredTokens | None: ...

    async def put(
        self, tokens: TokenSet, *, expected_version: int | None = None
    ) -> StoredTokens: ...

    async def delete(self, key: TokenKey) -> None: ...

    async def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool: ...

    async def release(self, key: TokenKey, holder: str) -> None: ...


@runtime_checkable
class Transport(Protocol):
    """Sends one HTTP request and returns the response as received.

    Contract: TLS verified; redirects never followed (a 3xx is returned as is); a total
    deadline and a body-size cap enforced while reading; failures raised as
    ``TransportError`` / ``TransportTimeout`` with no secret in the message. Never retries.
    """

    def send(self, request: HttpRequest) -> HttpResponse: ...


@runtime_checkable
class AsyncTransport(Protocol):
    """``Transport`` for asyncio code; same contract."""

    async def send(self, request: HttpRequest) -> HttpResponse: ...
