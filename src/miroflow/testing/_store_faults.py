"""Fault injection for the store conformance suite (re-exported by
``miroflow.testing.stores``): wrappers that make a store's next operation fail before, at or
after its commit, and the seam an adapter calls right before COMMIT to make that real."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, TypeVar

from miroflow import (
    ClaimResult,
    Flow,
    FlowStore,
    StoredTokens,
    StoreUnavailable,
    TokenKey,
    TokenSet,
    TokenStore,
)

__all__ = ["CommitFault", "Fault", "FaultyFlowStore", "FaultyTokenStore"]

T = TypeVar("T")


class Fault(enum.Enum):
    """Where an injected failure strikes a store operation.

    * ``BEFORE``: the operation never reaches the store (say, the connection was refused).
      Nothing changes; the caller gets ``StoreUnavailable``.
    * ``AT_COMMIT``: the operation dies while it commits. With a ``CommitFault`` wired into
      the adapter, this is real: the adapter calls the fault inside its transaction right
      before COMMIT, the fault closes the live connection, and the COMMIT fails. A generic
      wrapper cannot reach inside a transaction, so without one it models the commit being
      lost: nothing is applied and the caller gets ``StoreUnavailable``. Either way the
      store must be left all-or-nothing, never half-written.
    * ``AFTER``: the operation is applied, but its answer is lost on the way back (the
      connection dropped after COMMIT). The caller gets ``StoreUnavailable``.
    """

    BEFORE = "before"
    AT_COMMIT = "at_commit"
    AFTER = "after"


class CommitFault:
    """A seam an adapter calls with its live connection inside each write transaction, right
    before COMMIT. Once armed, the next call closes that connection, so the COMMIT really
    fails. If ``close()`` returns an awaitable (an asyncio connection), so does the call."""

    def __init__(self) -> None:
        self._armed = False
        self.fired = 0

    def arm(self) -> None:
        self._armed = True

    def __call__(self, connection: Any) -> Any:
        if not self._armed:
            return None
        self._armed = False
        self.fired += 1
        return connection.close()


class _FaultSwitch:
    """The part both faulty wrappers share: one armed fault, spent by the next operation."""

    def __init__(self, commit_fault: CommitFault | None) -> None:
        self.commit_fault = commit_fault
        self._armed: Fault | None = None

    def fail_next(self, fault: Fault) -> None:
        self._armed = fault

    def run(self, operation: Callable[[], T]) -> T:
        fault, self._armed = self._armed, None
        if fault is None:
            return operation()
        if fault is Fault.BEFORE:
            raise StoreUnavailable("Injected fault: the store failed before the operation.")
        if fault is Fault.AT_COMMIT:
            if self.commit_fault is None:
                raise StoreUnavailable("Injected fault: the commit was lost.")
            self.commit_fault.arm()
            operation()  # the adapter must raise a StoreError when its commit fails
            raise AssertionError("The store committed although its connection was closed.")
        operation()
        raise StoreUnavailable("Injected fault: the operation was applied but its answer lost.")


class FaultyFlowStore:
    """Wraps a ``FlowStore``; ``fail_next(fault)`` makes the next operation fail there."""

    def __init__(self, inner: FlowStore, *, commit_fault: CommitFault | None = None) -> None:
        self.inner = inner
        self._switch = _FaultSwitch(commit_fault)
        self.fail_next = self._switch.fail_next

    def save(self, flow: Flow) -> None:
        self._switch.run(lambda: self.inner.save(flow))

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        return self._switch.run(lambda: self.inner.claim(state_hash, binding_hash))


class FaultyTokenStore:
    """Wraps a ``TokenStore``; ``fail_next(fault)`` makes the next operation fail there."""

    def __init__(self, inner: TokenStore, *, commit_fault: CommitFault | None = None) -> None:
        self.inner = inner
        self._switch = _FaultSwitch(commit_fault)
        self.fail_next = self._switch.fail_next

    def get(self, key: TokenKey) -> StoredTokens | None:
        return self._switch.run(lambda: self.inner.get(key))

    def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        return self._switch.run(lambda: self.inner.put(tokens, expected_version=expected_version))

    def delete(self, key: TokenKey) -> None:
        self._switch.run(lambda: self.inner.delete(key))

    def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        return self._switch.run(lambda: self.inner.lease(key, holder, now=now, ttl=ttl))

    def release(self, key: TokenKey, holder: str) -> None:
        self._switch.run(lambda: self.inner.release(key, holder))
