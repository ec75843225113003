"""Run ``_sql`` programs against a pool: sync (``ConnectionPool``) and async
(``AsyncConnectionPool``). The two classes differ only where one of them awaits."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import psycopg_pool

from . import _sql
from ._schema import set_up
from ._sql import Program, Statements, errors

__all__ = ["AsyncDatabase", "CommitHook", "Database"]

T = TypeVar("T")
#: A test seam, called with the connection inside every transaction right before COMMIT
#: (for a program run outside a transaction: right before its first statement, which is
#: also its commit).
CommitHook = Callable[[Any], Any]


class Database:
    """A pool (made from a ``postgresql://`` URL, or the caller's) and a schema, created on
    first use."""

    def __init__(
        self,
        conninfo: str | psycopg_pool.ConnectionPool,
        *,
        schema: str,
        max_size: int,
        timeout: float,
        before_commit: CommitHook | None,
    ) -> None:
        self._url = conninfo if isinstance(conninfo, str) else None
        self._connect_timeout = max(1, int(timeout))
        if isinstance(conninfo, str):
            self.pool = psycopg_pool.ConnectionPool(
                conninfo,
                kwargs={"autocommit": True, "connect_timeout": self._connect_timeout},
                min_size=1,
                max_size=max_size,
                timeout=timeout,
                open=False,
            )
            self._owned = True
        else:
            self.pool, self._owned = conninfo, False
        self.where = _sql.describe(self.pool.conninfo)
        self.statements = Statements.for_schema(schema)
        self._before_commit = before_commit
        self._lock = threading.Lock()
        self._ready = False

    def close(self) -> None:
        if self._owned:
            self.pool.close()

    def run(self, program: Program[T], *, single: bool = False) -> T:
        """Run the program in one transaction; a ``single`` one (``_sql.SINGLE``: every write
        one statement, atomic on its own) on an autocommit connection runs without."""
        if not self._ready:
            self._set_up()
        with errors(self.where), self.pool.connection() as connection:
            if single and connection.autocommit:
                if self._before_commit is not None:
                    self._before_commit(connection)
                return _drive(connection, program)
            with connection.transaction():
                result = _drive(connection, program)
                if self._before_commit is not None:
                    self._before_commit(connection)
            _check_committed(connection)
            return result

    def _set_up(self) -> None:
        with self._lock:
            if self._ready:
                return
            if self._url is not None:
                with errors(self.where):
                    # One direct attempt first: a dead server fails now, with a clear error,
                    # instead of after the pool's reconnection attempts time out.
                    psycopg.connect(self._url, connect_timeout=self._connect_timeout).close()
                    self.pool.open(wait=True, timeout=self.pool.timeout)
            with (
                errors(self.where),
                self.pool.connection() as connection,
                connection.transaction(),
            ):
                _drive(connection, set_up(self.statements.schema, self.where))
            self._ready = True


def _check_committed(connection: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
    # psycopg leaves a transaction block quietly when its connection is already closed: the
    # COMMIT was never sent, so the caller must hear that the work was not done.
    if connection.closed:
        raise psycopg.OperationalError("the connection closed before the commit")


def _drive(connection: psycopg.Connection[Any], program: Program[T]) -> T:
    try:
        step = next(program)
        while True:
            cursor = connection.execute(*step)
            step = program.send(cursor.fetchall() if cursor.description is not None else [])
    except StopIteration as done:
        result: T = done.value
        return result


class AsyncDatabase:
    """``Database`` for asyncio. The pool is made (or opened) inside the running loop."""

    def __init__(
        self,
        conninfo: str | psycopg_pool.AsyncConnectionPool,
        *,
        schema: str,
        max_size: int,
        timeout: float,
        before_commit: CommitHook | None,
    ) -> None:
        self._given = conninfo
        self._max_size, self._timeout = max_size, timeout
        self._pool: psycopg_pool.AsyncConnectionPool | None = None
        self.where = _sql.describe(conninfo if isinstance(conninfo, str) else conninfo.conninfo)
        self.statements = Statements.for_schema(schema)
        self._before_commit = before_commit
        self._lock = asyncio.Lock()
        self._ready = False

    async def aclose(self) -> None:
        if self._pool is not None and isinstance(self._given, str):
            await self._pool.close()

    async def run(self, program: Program[T], *, single: bool = False) -> T:
        pool = self._pool if self._ready and self._pool is not None else await self._set_up()
        with errors(self.where):
            async with pool.connection() as connection:
                if single and connection.autocommit:
                    await self._seam(connection)
                    return await _drive_async(connection, program)
                async with connection.transaction():
                    result = await _drive_async(connection, program)
                    await self._seam(connection)
            _check_committed(connection)
            return result

    async def _seam(self, connection: psycopg.AsyncConnection[Any]) -> None:
        if self._before_commit is not None:
            closed = self._before_commit(connection)
            if inspect.isawaitable(closed):
                await closed

    async def _set_up(self) -> psycopg_pool.AsyncConnectionPool:
        async with self._lock:
            if self._ready and self._pool is not None:
                return self._pool
            return await self._set_up_locked()

    async def _set_up_locked(self) -> psycopg_pool.AsyncConnectionPool:
        pool = self._pool
        with errors(self.where):
            if pool is None:
                if isinstance(self._given, str):
                    timeout = max(1, int(self._timeout))
                    probe = await psycopg.AsyncConnection.connect(
                        self._given, connect_timeout=timeout
                    )
                    await probe.close()
                    pool = psycopg_pool.AsyncConnectionPool(
                        self._given,
                        kwargs={"autocommit": True, "connect_timeout": timeout},
                        min_size=1,
                        max_size=self._max_size,
                        timeout=self._timeout,
                        open=False,
                    )
                    await pool.open(wait=True, timeout=self._timeout)
                else:
                    pool = self._given
                self._pool = pool
            async with pool.connection() as connection, connection.transaction():
                await _drive_async(connection, set_up(self.statements.schema, self.where))
        self._ready = True
        return pool


async def _drive_async(connection: psycopg.AsyncConnection[Any], program: Program[T]) -> T:
    try:
        step = next(program)
        while True:
            cursor = await connection.execute(*step)
            rows = await cursor.fetchall() if cursor.description is not None else []
            step = program.send(rows)
    except StopIteration as done:
        result: T = done.value
        return result
