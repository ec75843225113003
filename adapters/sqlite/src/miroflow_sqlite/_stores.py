"""SQLite flow and token stores, and their asyncio faces (the same code, run in a thread)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeAlias, TypeVar

from miroflow import ClaimResult, Flow, StaleTokenWrite, StoredTokens, TokenKey, TokenSet
from miroflow.records import dumps_flow, dumps_tokens, loads_flow, loads_tokens

from ._database import Database
from ._schema import LEGACY_CLIENT_ID

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
    """A ``FlowStore`` in a SQLite file: ``path`` (or ``":memory:"`` for a private
    in-process database), or, without one, the app's own file ``default_path(client_id)``.

    Every flow stays, claimed or not, until ``flow.forget_at``, so a late callback hears
    "expired" or "already used" rather than "unknown"; ``sweep`` (also run every few hundred
    saves) forgets them after that. ``before_commit`` is a test seam, called with the
    connection inside every write transaction right before COMMIT.
    """

    def __init__(
        self,
        path: PathArg = None,
        *,
        client_id: str | None = None,
        timeout: float = 10.0,
        before_commit: CommitHook | None = None,
    ) -> None:
        self._db = Database(
            path,
            client_id=client_id,
            owner=type(self).__name__,
            timeout=timeout,
            before_commit=before_commit,
        )
        self._saves = 0

    @property
    def path(self) -> Path | str:
        """The database file (or ``":memory:"``)."""
        return self._db.path

    def close(self) -> None:
        self._db.close()

    def save(self, flow: Flow) -> None:
        with self._db.transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO miroflow_flows (state_hash, binding_hash, record,"
                " deadline, forget_at, claimed) VALUES (?, ?, ?, ?, ?, 0)",
                (
                    flow.state_hash,
                    flow.binding_hash,
                    dumps_flow(flow),
                    flow.deadline,
                    flow.forget_at,
                ),
            )
            self._saves += 1
            if self._saves % SWEEP_EVERY == 0:
                # The store never reads a clock: the newest flow's creation time is "now".
                _sweep(connection, flow.created_at)

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        with self._db.transaction() as connection:
            # One compare-and-set. A None binding binds NULL, and NULL equals nothing.
            won = connection.execute(
                "UPDATE miroflow_flows SET claimed = 1"
                " WHERE state_hash = ? AND claimed = 0 AND binding_hash = ? RETURNING record",
                (state_hash, binding_hash),
            ).fetchone()
            if won is not None:
                return loads_flow(won[0]), True
            # Nothing was won: the same transaction reads what is there, for the caller to judge.
            row = connection.execute(
                "SELECT record FROM miroflow_flows WHERE state_hash = ?", (state_hash,)
            ).fetchone()
            return (None if row is None else loads_flow(row[0])), False

    def sweep(self, now: float) -> int:
        """Forget every flow whose ``forget_at`` is at or before ``now``; returns how many."""
        with self._db.transaction() as connection:
            return _sweep(connection, now)


def _sweep(connection: sqlite3.Connection, now: float) -> int:
    return connection.execute("DELETE FROM miroflow_flows WHERE forget_at <= ?", (now,)).rowcount


class SQLiteTokenStore:
    """A ``TokenStore`` in a SQLite file, versioned for compare-and-set (see
    ``SQLiteFlowStore`` for ``path``, ``client_id`` and ``before_commit``).

    Token rows a version 1 database held (keyed by user and team only) wait under the client
    id ``''``; the first ``get`` or ``put`` of an app for that user and team adopts the row:
    moves it to the app, record rewritten, version kept. ``delete`` forgets a waiting row too,
    so deleted tokens never come back through an adoption.

    The refresh lease of a key is a row of ``miroflow_leases`` (holder, until when): ``lease``
    is one upsert that takes it only if it ended or was never taken, in a ``BEGIN IMMEDIATE``
    transaction, so of any number of callers in any processes one gets it.
    """

    def __init__(
        self,
        path: PathArg = None,
        *,
        client_id: str | None = None,
        timeout: float = 10.0,
        before_commit: CommitHook | None = None,
    ) -> None:
        self._db = Database(
            path,
            client_id=client_id,
            owner=type(self).__name__,
            timeout=timeout,
            before_commit=before_commit,
        )

    @property
    def path(self) -> Path | str:
        return self._db.path

    def close(self) -> None:
        self._db.close()

    def get(self, key: TokenKey) -> StoredTokens | None:
        with self._db.transaction(write=False) as connection:
            rows = connection.execute(
                "SELECT client_id, record, version FROM miroflow_tokens"
                " WHERE client_id IN (?, ?) AND user_id = ? AND team_id = ?",
                (key.client_id, LEGACY_CLIENT_ID, key.user_id, key.team_id),
            ).fetchall()
            found = {row[0]: row for row in rows}
            if key.client_id in found:
                return _stored(found[key.client_id], key)
        if not found:
            return None
        # Only a legacy row: adopt it under the write lock (another thread or process may
        # have adopted it since, so look again there).
        with self._db.transaction() as connection:
            row = _row(connection, key) or _adopt(connection, key)
            return None if row is None else _stored(row, key)

    def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        key = tokens.key
        with self._db.transaction() as connection:
            row = _row(connection, key) or _adopt(connection, key)
            version = 0 if row is None else int(row[2])
            if expected_version is not None and expected_version != version:
                raise StaleTokenWrite.for_key(key, found=version, expected=expected_version)
            connection.execute(
                "INSERT INTO miroflow_tokens (client_id, user_id, team_id, record, version)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (client_id, user_id, team_id)"
                " DO UPDATE SET record = excluded.record, version = excluded.version",
                (key.client_id, key.user_id, key.team_id, dumps_tokens(tokens), version + 1),
            )
        return StoredTokens(tokens=tokens, version=version + 1)

    def delete(self, key: TokenKey) -> None:
        with self._db.transaction() as connection:
            connection.execute(
                "DELETE FROM miroflow_tokens"
                " WHERE client_id IN (?, ?) AND user_id = ? AND team_id = ?",
                (key.client_id, LEGACY_CLIENT_ID, key.user_id, key.team_id),
            )

    def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        """Take the refresh lease of ``key`` for ``holder`` until ``now + ttl`` if nobody
        holds it or its lease ended (at or before ``now``). True when taken."""
        with self._db.transaction() as connection:
            # Ended leases of every key go first (through the expires_at index, O(ended)):
            # a holder that died never released its row, and rows must not pile up.
            connection.execute("DELETE FROM miroflow_leases WHERE expires_at <= ?", (now,))
            # One compare-and-set: the upsert's WHERE lets only an ended lease be replaced
            # (kept for itself: it does not rely on the line above); RETURNING yields a row
            # only when this call inserted or replaced it.
            taken = connection.execute(
                "INSERT INTO miroflow_leases (client_id, user_id, team_id, holder, expires_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (client_id, user_id, team_id)"
                " DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
                " WHERE miroflow_leases.expires_at <= ? RETURNING 1",
                (key.client_id, key.user_id, key.team_id, holder, now + ttl, now),
            ).fetchone()
            return taken is not None

    def release(self, key: TokenKey, holder: str) -> None:
        """Give the lease of ``key`` back if ``holder`` still holds it."""
        with self._db.transaction() as connection:
            connection.execute(
                "DELETE FROM miroflow_leases"
                " WHERE client_id = ? AND user_id = ? AND team_id = ? AND holder = ?",
                (key.client_id, key.user_id, key.team_id, holder),
            )

    # --- listing: for `miroflow tokens` (miroflow-cli), added by H3 -------------------------
    def stored_keys(self) -> list[TokenKey]:
        """The keys of every token set in the file, of every app, ordered by app, user and
        team. Rows of a version 1 database still waiting for their app are left out (they
        belong to no app yet). Reads keys only: no record is decoded."""
        with self._db.transaction(write=False) as connection:
            rows = connection.execute(
                "SELECT client_id, user_id, team_id FROM miroflow_tokens WHERE client_id != ?"
                " ORDER BY client_id, user_id, team_id",
                (LEGACY_CLIENT_ID,),
            ).fetchall()
        return [TokenKey(client_id=row[0], user_id=row[1], team_id=row[2]) for row in rows]

    # --- end of listing -----------------------------------------------------------------


#: A token row: client_id, record (a BLOB, read as bytes; TEXT if written so), version.
Row: TypeAlias = tuple[str, bytes | str, int]


def _row(connection: sqlite3.Connection, key: TokenKey) -> Row | None:
    row: Row | None = connection.execute(
        "SELECT client_id, record, version FROM miroflow_tokens"
        " WHERE client_id = ? AND user_id = ? AND team_id = ?",
        (key.client_id, key.user_id, key.team_id),
    ).fetchone()
    return row


def _adopt(connection: sqlite3.Connection, key: TokenKey) -> Row | None:
    """Move the legacy row of the key's user and team to the key's app, if there is one.
    Runs in a write transaction that found no row for the key itself."""
    if key.client_id == LEGACY_CLIENT_ID:
        return None
    legacy = _row(
        connection, TokenKey(client_id=LEGACY_CLIENT_ID, user_id=key.user_id, team_id=key.team_id)
    )
    if legacy is None:
        return None
    tokens = loads_tokens(legacy[1], client_id=key.client_id)
    if tokens.client_id != key.client_id:
        return None  # a version 2 record under the legacy id: some app's own, not ours
    record = dumps_tokens(tokens)
    connection.execute(
        "UPDATE miroflow_tokens SET client_id = ?, record = ?"
        " WHERE client_id = ? AND user_id = ? AND team_id = ?",
        (key.client_id, record, LEGACY_CLIENT_ID, key.user_id, key.team_id),
    )
    return key.client_id, record, legacy[2]


def _stored(row: Row, key: TokenKey) -> StoredTokens:
    # client_id adopts a version 1 record; it changes nothing in a version 2 one.
    return StoredTokens(tokens=loads_tokens(row[1], client_id=key.client_id), version=int(row[2]))


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
        client_id: str | None = None,
        timeout: float = 10.0,
        before_commit: CommitHook | None = None,
        sync: SQLiteFlowStore | None = None,
    ) -> None:
        self.sync = sync or SQLiteFlowStore(
            path, client_id=client_id, timeout=timeout, before_commit=before_commit
        )

    async def save(self, flow: Flow) -> None:
        await _in_thread(self.sync.save, flow)

    async def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        return await _in_thread(self.sync.claim, state_hash, binding_hash)

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
        client_id: str | None = None,
        timeout: float = 10.0,
        before_commit: CommitHook | None = None,
        sync: SQLiteTokenStore | None = None,
    ) -> None:
        self.sync = sync or SQLiteTokenStore(
            path, client_id=client_id, timeout=timeout, before_commit=before_commit
        )

    async def get(self, key: TokenKey) -> StoredTokens | None:
        return await _in_thread(self.sync.get, key)

    async def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        return await _in_thread(self.sync.put, tokens, expected_version=expected_version)

    async def delete(self, key: TokenKey) -> None:
        await _in_thread(self.sync.delete, key)

    async def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        return await _in_thread(self.sync.lease, key, holder, now=now, ttl=ttl)

    async def release(self, key: TokenKey, holder: str) -> None:
        await _in_thread(self.sync.release, key, holder)

    async def aclose(self) -> None:
        await _in_thread(self.sync.close)
