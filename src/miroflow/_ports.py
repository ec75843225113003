"""The ports: what the driver needs from the outside world, as Protocols.

Adapters implement these; the core never does I/O itself. Every store method that needs the
time takes ``now`` from the caller, so a store can be tested with an injected clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ._http import HttpRequest, HttpResponse
from ._model import Claim, Flow, StoredTokens, TokenKey, TokenSet

__all__ = [
    "AsyncFlowStore",
    "AsyncTokenStore",
    "AsyncTransport",
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


@runtime_checkable
class FlowStore(Protocol):
    """Keeps started flows between the start request and the callback request.

    Keys are ``Flow.state_hash`` (a SHA-256 hex digest), never the raw state token.
    """

    def save(self, flow: Flow) -> None:
        """Insert or replace the flow under its state hash. The store may forget it once
        ``flow.deadline + FLOW_RETENTION`` has passed."""

    def claim(self, state_hash: str, now: float) -> Claim:
        """Atomically claim the flow: of any number of concurrent callers, across threads and
        processes, at most one ever gets ``CLAIMED``; later ones get ``ALREADY_CLAIMED``.
        A flow whose deadline is at or before ``now`` is ``EXPIRED`` and is not claimed."""

    def delete(self, state_hash: str) -> None:
        """Forget the flow; deleting a missing flow is not an error."""


@runtime_checkable
class AsyncFlowStore(Protocol):
    """``FlowStore`` for asyncio code; same contract."""

    async def save(self, flow: Flow) -> None: ...

    async def claim(self, state_hash: str, now: float) -> Claim: ...

    async def delete(self, state_hash: str) -> None: ...


@runtime_checkable
class TokenStore(Protocol):
    """Keeps token sets per (user_id, team_id), versioned for compare-and-set."""

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


@runtime_checkable
class AsyncTokenStore(Protocol):
    """``TokenStore`` for asyncio code; same contract."""

    async def get(self, key: TokenKey) -> StoredTokens | None: ...

    async def put(
        self, tokens: TokenSet, *, expected_version: int | None = None
    ) -> StoredTokens: ...

    async def delete(self, key: TokenKey) -> None: ...


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
