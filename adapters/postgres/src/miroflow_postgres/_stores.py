"""PostgreSQL flow and token stores, sync and async: each method runs one ``_sql`` program."""

from __future__ import annotations

import psycopg_pool

from miroflow import ClaimResult, Flow, StoredTokens, TokenKey, TokenSet

from . import _sql
from ._database import AsyncDatabase, CommitHook, Database

__all__ = [
    "AsyncPostgresFlowStore",
    "AsyncPostgresTokenStore",
    "PostgresFlowStore",
    "PostgresTokenStore",
]

DEFAULT_URL = "postgresql://localhost/postgres"
DEFAULT_SCHEMA = "miroflow"


class _Saves:
    """Counts saves, so that every ``SWEEP_EVERY``-th one also sweeps."""

    def __init__(self) -> None:
        self.count = 0

    def sweep_now(self, flow: Flow) -> float | None:
        self.count += 1
        # The store never reads a clock: the newest flow's creation time is "now".
        return flow.created_at if self.count % _sql.SWEEP_EVERY == 0 else None


class PostgresFlowStore:
    """A ``FlowStore`` in PostgreSQL. ``conninfo`` is a ``postgresql://`` URL (a pool of up to
    ``max_size`` connections is made) or a ``psycopg_pool.ConnectionPool``; the tables live in
    ``schema``, created on first use.

    Every flow stays, claimed or not, until ``flow.forget_at``, so a late callback hears
    "expired" or "already used" rather than "unknown"; ``sweep`` (also run every few hundred
    saves) forgets them after that. A claim, and a save, is one autocommit statement (on
    the pool's connections, which are autocommit; a pool passed in whose connections are not
    runs them in a transaction). ``before_commit`` is a test seam, called with the connection
    inside every transaction right before COMMIT (before a lone statement: right before it).
    """

    def __init__(
        self,
        conninfo: str | psycopg_pool.ConnectionPool = DEFAULT_URL,
        *,
        schema: str = DEFAULT_SCHEMA,
        max_size: int = 10,
        timeout: float = 10.0,
        before_commit: CommitHook | None = None,
    ) -> None:
        self._db = Database(
            conninfo, schema=schema, max_size=max_size, timeout=timeout, before_commit=before_commit
        )
        self._saves = _Saves()

    def close(self) -> None:
        self._db.close()

    def save(self, flow: Flow) -> None:
        sweep_now = self._saves.sweep_now(flow)
        # One statement, atomic on its own, unless this save also sweeps.
        self._db.run(
            _sql.save(self._db.statements, flow, sweep_now=sweep_now), single=sweep_now is None
        )

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        return self._db.run(
            _sql.claim(self._db.statements, state_hash, binding_hash), single=_sql.SINGLE
        )

    def sweep(self, now: float) -> int:
        """Forget every flow whose ``forget_at`` is at or before ``now``; returns how many."""
        return self._db.run(_sql.sweep(self._db.statements, now))


class PostgresTokenStore:
    """A ``TokenStore`` in PostgreSQL, versioned for compare-and-set (see
    ``PostgresFlowStore`` for the arguments).

    Token rows a version 1 schema held (keyed by user and team only) wait under the client
    id ``''``; the first ``get`` or ``put`` of an app for that user and team adopts the row:
    moves it to the app, record rewritten, version kept. ``delete`` forgets a waiting row too,
    so deleted tokens never come back through an adoption.

    ``lease(key, holder, now=..., ttl=...)`` takes the key's refresh lease until ``now + ttl``
    if nobody holds it or its lease ended (by ``now``): one ``INSERT … ON CONFLICT DO
    UPDATE … WHERE`` compare-and-set; ``release`` gives it back.
    """

    def __init__(
        self,
        conninfo: str | psycopg_pool.ConnectionPool = DEFAULT_URL,
        *,
        schema: str = DEFAULT_SCHEMA,
        max_size: int = 10,
        timeout: float = 10.0,
        before_commit: CommitHook | None = None,
    ) -> None:
        self._db = Database(
            conninfo, schema=schema, max_size=max_size, timeout=timeout, before_commit=before_commit
        )

    def close(self) -> None:
        self._db.close()

    def get(self, key: TokenKey) -> StoredTokens | None:
        return self._db.run(_sql.get_tokens(self._db.statements, key))

    def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        return self._db.run(_sql.put_tokens(self._db.statements, tokens, expected_version))

    def delete(self, key: TokenKey) -> None:
        self._db.run(_sql.delete_tokens(self._db.statements, key))

    def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        return self._db.run(_sql.lease(self._db.statements, key, holder, now, ttl))

    def release(self, key: TokenKey, holder: str) -> None:
        self._db.run(_sql.release(self._db.statements, key, holder))


class AsyncPostgresFlowStore:
    """``PostgresFlowStore`` for asyncio: ``conninfo`` is a URL or an
    ``psycopg_pool.AsyncConnectionPool``."""

    def __init__(
        self,
        conninfo: str | psycopg_pool.AsyncConnectionPool = DEFAULT_URL,
        *,
        schema: str = DEFAULT_SCHEMA,
        max_size: int = 10,
        timeout: float = 10.0,
        before_commit: CommitHook | None = None,
    ) -> None:
        self._db = AsyncDatabase(
            conninfo, schema=schema, max_size=max_size, timeout=timeout, before_commit=before_commit
        )
        self._saves = _Saves()

    async def aclose(self) -> None:
        await self._db.aclose()

    async def save(self, flow: Flow) -> None:
        sweep_now = self._saves.sweep_now(flow)
        await self._db.run(
            _sql.save(self._db.statements, flow, sweep_now=sweep_now), single=sweep_now is None
        )

    async def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        return await self._db.run(
            _sql.claim(self._db.statements, state_hash, binding_hash), single=_sql.SINGLE
        )

    async def sweep(self, now: float) -> int:
        return await self._db.run(_sql.sweep(self._db.statements, now))


class AsyncPostgresTokenStore:
    """``PostgresTokenStore`` for asyncio."""

    def __init__(
        self,
        conninfo: str | psycopg_pool.AsyncConnectionPool = DEFAULT_URL,
        *,
        schema: str = DEFAULT_SCHEMA,
        max_size: int = 10,
        timeout: float = 10.0,
        before_commit: CommitHook | None = None,
    ) -> None:
        self._db = AsyncDatabase(
            conninfo, schema=schema, max_size=max_size, timeout=timeout, before_commit=before_commit
        )

    async def aclose(self) -> None:
        await self._db.aclose()

    async def get(self, key: TokenKey) -> StoredTokens | None:
        return await self._db.run(_sql.get_tokens(self._db.statements, key))

    async def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        return await self._db.run(_sql.put_tokens(self._db.statements, tokens, expected_version))

    async def delete(self, key: TokenKey) -> None:
        await self._db.run(_sql.delete_tokens(self._db.statements, key))

    async def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        return await self._db.run(_sql.lease(self._db.statements, key, holder, now, ttl))

    async def release(self, key: TokenKey, holder: str) -> None:
        await self._db.run(_sql.release(self._db.statements, key, holder))
