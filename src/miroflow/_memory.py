"""In-memory stores: a dict behind a lock. Correct under threads; lost on restart; one
process only (use SQLite, Redis or PostgreSQL when several workers serve callbacks)."""

from __future__ import annotations

import threading
from typing import NamedTuple

from ._errors import StaleTokenWrite
from ._model import (
    FLOW_RETENTION,
    Claim,
    ClaimOutcome,
    Flow,
    StoredTokens,
    TokenKey,
    TokenSet,
)

__all__ = [
    "AsyncMemoryFlowStore",
    "AsyncMemoryTokenStore",
    "MemoryFlowStore",
    "MemoryTokenStore",
]

_SWEEP_EVERY = 1024


class _Entry(NamedTuple):
    # A tuple, not an attrs class: this is on the hot path of every start and callback.
    flow: Flow
    claimed: bool


class MemoryFlowStore:
    """A ``FlowStore`` in a dict. Claimed and expired flows are kept until
    ``deadline + FLOW_RETENTION`` so late callbacks get a precise error."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._saves = 0

    def __len__(self) -> int:
        return len(self._entries)

    def save(self, flow: Flow) -> None:
        with self._lock:
            self._entries[flow.state_hash] = _Entry(flow, claimed=False)
            self._saves += 1
            if self._saves % _SWEEP_EVERY == 0:
                # The store never reads a clock: the newest flow's creation time is "now".
                self._sweep_locked(flow.created_at)

    def claim(self, state_hash: str, now: float) -> Claim:
        with self._lock:
            entry = self._entries.get(state_hash)
            if entry is None or now >= entry.flow.deadline + FLOW_RETENTION:
                return Claim(outcome=ClaimOutcome.UNKNOWN)
            if entry.claimed:
                return Claim(outcome=ClaimOutcome.ALREADY_CLAIMED)
            if now >= entry.flow.deadline:
                return Claim(outcome=ClaimOutcome.EXPIRED, flow=entry.flow)
            self._entries[state_hash] = _Entry(entry.flow, claimed=True)
            return Claim(outcome=ClaimOutcome.CLAIMED, flow=entry.flow)

    def delete(self, state_hash: str) -> None:
        with self._lock:
            self._entries.pop(state_hash, None)

    def sweep(self, now: float) -> int:
        """Forget every flow past its retention; returns how many."""
        with self._lock:
            return self._sweep_locked(now)

    def _sweep_locked(self, now: float) -> int:
        dead = [
            key
            for key, entry in self._entries.items()
            if now >= entry.flow.deadline + FLOW_RETENTION
        ]
        for key in dead:
            del self._entries[key]
        return len(dead)


class MemoryTokenStore:
    """A ``TokenStore`` in a dict, with compare-and-set versions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[TokenKey, StoredTokens] = {}

    def get(self, key: TokenKey) -> StoredTokens | None:
        with self._lock:
            return self._records.get(key)

    def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        key = tokens.key
        with self._lock:
            current = self._records.get(key)
            version = 0 if current is None else current.version
            if expected_version is not None and expected_version != version:
                raise StaleTokenWrite.for_key(
                    key.user_id, key.team_id, found=version, expected=expected_version
                )
            record = StoredTokens(tokens=tokens, version=version + 1)
            self._records[key] = record
            return record

    def delete(self, key: TokenKey) -> None:
        with self._lock:
            self._records.pop(key, None)


class AsyncMemoryFlowStore:
    """``MemoryFlowStore`` behind the ``AsyncFlowStore`` protocol (the work never blocks)."""

    def __init__(self, store: MemoryFlowStore | None = None) -> None:
        self.sync = store or MemoryFlowStore()

    async def save(self, flow: Flow) -> None:
        self.sync.save(flow)

    async def claim(self, state_hash: str, now: float) -> Claim:
        return self.sync.claim(state_hash, now)

    async def delete(self, state_hash: str) -> None:
        self.sync.delete(state_hash)


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
