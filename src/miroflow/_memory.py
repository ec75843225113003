"""In-memory stores: dicts behind a lock. Correct under threads; lost on restart; one
process only (use SQLite, Redis or PostgreSQL when several workers serve callbacks)."""

from __future__ import annotations

import threading
from collections import deque

from ._errors import StaleTokenWrite
from ._model import Flow, StoredTokens, TokenKey, TokenSet
from ._ports import ClaimResult

__all__ = [
    "AsyncMemoryFlowStore",
    "AsyncMemoryTokenStore",
    "MemoryFlowStore",
    "MemoryTokenStore",
]

#: Every this many saves, a save also forgets the flows past their retention.
_FORGET_EVERY = 64


class MemoryFlowStore:
    """A ``FlowStore`` in two dicts (unclaimed and claimed flows, no wrapper per flow).

    Flows are forgotten after ``flow.forget_at``, oldest first: the keys wait in a queue in
    save order, and a save now and then pops those whose time has come, stopping at the first
    that must stay. That costs O(forgotten), never O(live). (Flows of one client share a
    lifetime, so save order is forget order; a store shared by apps with different lifetimes
    forgets a short-lived flow no later than the longer-lived flows saved before it.)

    Every operation stays all-or-nothing if a write fails part-way (a MemoryError): an
    unclaimed entry wins over a claimed one, so each operation writes the entry it adds
    before it drops the one it replaces. A failure in between leaves a flow in both dicts,
    where it reads as unclaimed: a claim that raised took nothing (the owner can still claim
    the flow, once), a save that raised took effect whole or not at all, no flow vanishes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._unclaimed: dict[bytes, Flow] = {}
        self._claimed: dict[bytes, Flow] = {}
        self._queue: deque[bytes] = deque()
        self._saves = 0

    def __len__(self) -> int:
        # A flow left in both dicts by a failed write counts twice until it is written again.
        return len(self._unclaimed) + len(self._claimed)

    def save(self, flow: Flow) -> None:
        key = flow.state_hash
        with self._lock:
            claimed = self._claimed
            if key not in claimed and key not in self._unclaimed:
                # Queued first: a key without a flow is skipped when its turn comes.
                self._queue.append(key)
            self._unclaimed[key] = flow  # the save takes effect here
            if claimed:
                claimed.pop(key, None)
            self._saves += 1
            if self._saves % _FORGET_EVERY == 0:
                # The store never reads a clock: the newest flow's creation time is "now".
                self._forget_locked(flow.created_at)

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        with self._lock:
            flow = self._unclaimed.get(state_hash)
            if flow is None:
                return self._claimed.get(state_hash), False
            if binding_hash is None or flow.binding_hash != binding_hash:
                return flow, False
            self._claimed[state_hash] = flow
            del self._unclaimed[state_hash]  # the claim takes effect here
            return flow, True

    def sweep(self, now: float) -> int:
        """Forget the flows whose ``forget_at`` has come; returns how many."""
        with self._lock:
            return self._forget_locked(now)

    def _forget_locked(self, now: float) -> int:
        queue, unclaimed, claimed = self._queue, self._unclaimed, self._claimed
        forgotten = 0
        while queue:
            key = queue[0]
            flow = unclaimed.get(key) or claimed.get(key)
            if flow is not None and flow.forget_at > now:
                break
            # Claimed first (a flow left in both dicts then reads as it did), the queue last:
            # a failure part-way never leaves a flow that no queue entry will forget.
            found = claimed.pop(key, None)
            found = unclaimed.pop(key, None) or found
            queue.popleft()
            if found is not None:
                forgotten += 1
        return forgotten


class MemoryTokenStore:
    """A ``TokenStore`` in a dict, with compare-and-set versions and refresh leases."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Keyed by a plain tuple of the TokenKey's fields: hashed in C, and no TokenKey is
        # built on the way in.
        self._records: dict[tuple[str, str, str], StoredTokens] = {}
        #: The refresh lease per key: its holder and when it ends. (An ended lease stays until
        #: it is taken again or released: at most one per token set.)
        self._leases: dict[tuple[str, str, str], tuple[str, float]] = {}

    def get(self, key: TokenKey) -> StoredTokens | None:
        with self._lock:
            return self._records.get((key.client_id, key.user_id, key.team_id))

    def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        key = (tokens.client_id, tokens.user_id, tokens.team_id)
        with self._lock:
            current = self._records.get(key)
            version = 0 if current is None else current.version
            if expected_version is not None and expected_version != version:
                raise StaleTokenWrite.for_key(tokens.key, found=version, expected=expected_version)
            record = StoredTokens(tokens=tokens, version=version + 1)
            self._records[key] = record
            return record

    def delete(self, key: TokenKey) -> None:
        with self._lock:
            self._records.pop((key.client_id, key.user_id, key.team_id), None)

    def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        name = (key.client_id, key.user_id, key.team_id)
        with self._lock:
            current = self._leases.get(name)
            if current is not None and current[1] > now:
                return False
            self._leases[name] = (holder, now + ttl)
            return True

    def release(self, key: TokenKey, holder: str) -> None:
        name = (key.client_id, key.user_id, key.team_id)
        with self._lock:
            current = self._leases.get(name)
            if current is not None and current[0] == holder:
                del self._leases[name]


class AsyncMemoryFlowStore:
    """``MemoryFlowStore`` behind the ``AsyncFlowStore`` protocol (the work never blocks)."""

    def __init__(self, store: MemoryFlowStore | None = None) -> None:
        self.sync = store or MemoryFlowStore()

    async def save(self, flow: Flow) -> None:
        self.sync.save(flow)

    async def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        return self.sync.claim(state_hash, binding_hash)


class AsyncMemoryTokenStore:
    """``MemoryTokenStore`` behind the ``AsyncTokenStore`` protocol."""

    def __init__(self, store: MemoryTokenStore | None = None) -> None:
        self.sync = store or MemoryTokenStore()

    async def get(self, key: TokenKey) -> StoredTokens | None:
        return self.sync.get(key)

    async def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        return self.sync.put(tokens, expected_version=expected_version)

    async def delete(self, key: TokenKey) -> None:
        self.sync.delete(key)

    async def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        return self.sync.lease(key, holder, now=now, ttl=ttl)

    async def release(self, key: TokenKey, holder: str) -> None:
        self.sync.release(key, holder)
