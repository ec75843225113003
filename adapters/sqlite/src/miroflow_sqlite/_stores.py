"""SQLite flow and token stores, and their asyncio faces (the same code, run in a thread)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from typing import Any, ParamSpec, TypeAlias, TypeVar

from miroflow import (
    FLOW_RETENTION,
    Claim,
    ClaimOutcome,
    Flow,
    StaleTokenWrite,
    StoredTokens,
    TokenKey,
    TokenSet,
    dumps_flow,
    dumps_tokens,
    loads_flow,
    loads_tokens,
)

from ._database import Database

__all__ = [
    "AsyncSQLiteFlowStore",
    "AsyncSQLiteTokenStore",
    "SQLiteFlowStore",
    "SQLiteTokenStore",
]

P = ParamSpec("P")
T = TypeVar("T")

#: Every this many saves, a save also forgets the flows past their retention.
SWEEP_EVERY = 256

PathArg: TypeAlias = str | os.PathLike[str] | None
CommitHook: TypeAlias = Callable[[sqlite3.Connection], Any]


class SQLiteFlowStore:
    """A ``FlowStore`` in a SQLite file (by default under the user's data directory; pass a
    path, or ``":memory:"`` for a private in-process database).

    Claimed and expired flows stay as tombstones until ``deadline + FLOW_RETENTION``, so a
    late callback gets "already used" or "expired" rather than "unknown"; ``sweep`` (also run
    every few hundred saves) forgets them after that. ``before_commit`` is a test seam,
    called with the connection inside every write transaction right before COMMIT.
    """

    def __init__(
        self,
        path: PathArg = None,
        *,
        timeout: float = 10.0,
        before_commit: CommitHook | None = None,
    ) -> None:
        self._db = Database(path, timeout=timeout, before_commit=before_commit)
        self._saves = 0

    @property
    def path(self) -> object:
        """The database file (or ``":memory:"``)."""
        return self._db.path

    def close(self) -> None:
        self._db.close()

    def save(self, flow: Flow) -> None:
        with self._db.transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO miroflow_flows"
                " (state_hash, record, deadline, forget_at, claimed) VALUES (?, ?, ?, ?, 0)",
                (flow.state_hash, dumps_flow(flow), flow.deadline, flow.deadline + FLOW_RETENTION),
            )
            self._saves += 1
            if self._saves % SWEEP_EVERY == 0:
                # The store never reads a clock: the newest flow's creation time is "now".
                _sweep(connection, flow.created_at)

    def claim(self, state_hash: str, now: float) -> Claim:
        with self._db.transaction() as connection:
            won = connection.execute(
                "UPDATE miroflow_flows SET claimed = 1"
                " WHERE state_hash = ? AND claimed = 0 AND deadline > ? RETURNING record",
                (state_hash, now),
            ).fetchone()
            if won is not None:
                return Claim(outcome=ClaimOutcome.CLAIMED, flow=loads_flow(won[0]))
            # Nothing was won; the same transaction says why.
            row = connection.execute(
                "SELECT record, claimed, forget_at FROM miroflow_flows WHERE state_hash = ?",
                (state_hash,),
            ).fetchone()
        if row is None or now >= row[2]:
            return Claim(outcome=ClaimOutcome.UNKNOWN)
        if row[1]:
            return Claim(outcome=ClaimOutcome.ALREADY_CLAIMED)
        return Claim(outcome=ClaimOutcome.EXPIRED, flow=loads_flow(row[0]))

    def delete(self, state_hash: str) -> None:
        with self._db.transaction() as connection:
            connection.execute("DELETE FROM miroflow_flows WHERE state_hash = ?", (state_hash,))

    def sweep(self, now: float) -> int:
        """Forget every flow past its retention; returns how many."""
        with self._db.transaction() as connection:
            return _sweep(connection, now)


def _sweep(connection: sqlite3.Connection, now: float) -> int:
    return connection.execute("DELETE FROM miroflow_flows WHERE forget_at <= ?", (now,)).rowcount


class SQLiteTokenStore:
    """A ``TokenStore`` in a SQLite file, versioned for compare-and-set (see
    ``SQLiteFlowStore`` for ``path`` and ``before_commit``)."""

    def __init__(
        self,
        path: PathArg = None,
        *,
        timeout: float = 10.0,
        before_commit: CommitHook | None = None,
    ) -> None:
        self._db = Database(path, timeout=timeout, before_commit=before_commit)

    @property
    def path(self) -> object:
        return self._db.path

    def close(self) -> None:
        self._db.close()

    def get(self, key: TokenKey) -> StoredTokens | None:
        with self._db.transaction(write=False) as connection:
            row = connection.execute(
                "SELECT record, version FROM miroflow_tokens WHERE user_id = ? AND team_id = ?",
                (key.user_id, key.team_id),
            ).fetchone()
        return None if row is None else StoredTokens(tokens=loads_tokens(row[0]), version=row[1])

    def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        with self._db.transaction() as connection:
            row = connection.execute(
                "SELECT version FROM miroflow_tokens WHERE user_id = ? AND team_id = ?",
                (tokens.user_id, tokens.team_id),
            ).fetchone()
            version = 0 if row is None else int(row[0])
            if expected_version is not None and expected_version != version:
                raise StaleTokenWrite.for_key(
                    tokens.user_id, tokens.team_id, found=version, expected=expected_version
                )
            connection.execute(
                "INSERT INTO miroflow_tokens (user_id, team_id, record, version)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (user_id, team_id)"
                " DO UPDATE SET record = excluded.record, version = excluded.version",
                (tokens.user_id, tokens.team_id, dumps_tokens(tokens), version + 1),
            )
        return StoredTokens(tokens=tokens, version=version + 1)

    def delete(self, key: TokenKey) -> None:
        with self._db.transaction() as connection:
            connection.execute(
                "DELETE FROM miroflow_tokens WHERE user_id = ? AND team_id = ?",
                (key.user_id, key.team_id),
            )


async def _in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    # SQLite blocks; the event loop must not. The sync store does the work in a worker thread.
    return await asyncio.to_thread(function, *args, **kwargs)


class AsyncSQLiteFlowStore:
    """``SQLiteFlowStore`` behind the ``AsyncFlowStore`` protocol. Takes the same arguments,
    or ``sync=`` an existing store to share it."""

    def __init__(
        self,
        path: PathArg = None,
        *,
        timeout: float = 10.0,
        before_commit: CommitHook | None = None,
        sync: SQLiteFlowStore | None = None,
    ) -> None:
        self.sync = sync or SQLiteFlowStore(path, timeout=timeout, before_commit=before_commit)

    async def save(self, flow: Flow) -> None:
        await _in_thread(self.sync.save, flow)

    async def claim(self, state_hash: str, now: float) -> Claim:
        return await _in_thread(self.sync.claim, state_hash, now)

    async def delete(self, state_hash: str) -> None:
        await _in_thread(self.sync.delete, state_hash)

    async def sweep(self, now: float) -> int:
        return await _in_thread(self.sync.sweep, now)

    async def aclose(self) -> None:
        await _in_thread(self.sync.close)


class AsyncSQLiteTokenStore:
    """``SQLiteTokenStore`` behind the ``AsyncTokenStore`` protocol."""

    def __init__(
        self,
        path: PathArg = None,
        *,
        timeout: float = 10.0,
        before_commit: CommitHook | None = None,
        sync: SQLiteTokenStore | None = None,
    ) -> None:
        self.sync = sync or SQLiteTokenStore(path, timeout=timeout, before_commit=before_commit)

    async def get(self, key: TokenKey) -> StoredTokens | None:
        return await _in_thread(self.sync.get, key)

    async def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        return await _in_thread(self.sync.put, tokens, expected_version=expected_version)

    async def delete(self, key: TokenKey) -> None:
        await _in_thread(self.sync.delete, key)

    async def aclose(self) -> None:
        await _in_thread(self.sync.close)
