"""One SQLite database file: where it lives, its schema, and short serialized transactions.

Every write runs in ``BEGIN IMMEDIATE``: it takes the database's write lock before reading,
so a read-then-write (a claim, a compare-and-set) cannot interleave with another writer,
whether that writer is a thread of this process or another process. WAL mode lets readers
go on while one writer works; the busy timeout makes writers queue instead of failing.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from miroflow import RecordError, StoreError, StoreUnavailable

__all__ = ["MEMORY", "SCHEMA_VERSION", "Database", "default_path"]

#: The layout of the tables (not of the records, which carry miroflow's own version).
SCHEMA_VERSION = 1
MEMORY = ":memory:"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS miroflow_schema (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS miroflow_flows ("
    " state_hash TEXT PRIMARY KEY, record BLOB NOT NULL, deadline REAL NOT NULL,"
    " forget_at REAL NOT NULL, claimed INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS miroflow_flows_forget_at ON miroflow_flows (forget_at)",
    "CREATE TABLE IF NOT EXISTS miroflow_tokens ("
    " user_id TEXT NOT NULL, team_id TEXT NOT NULL, record BLOB NOT NULL,"
    " version INTEGER NOT NULL, PRIMARY KEY (user_id, team_id)) WITHOUT ROWID",
)


def default_path() -> Path:
    """``$XDG_DATA_HOME/miroflow/miroflow.sqlite3``, ``$XDG_DATA_HOME`` defaulting to
    ``~/.local/share``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "miroflow" / "miroflow.sqlite3"


class Database:
    """One connection guarded by a lock (SQLite serializes writers anyway). A connection
    that failed is thrown away and the next transaction opens a fresh one."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        timeout: float,
        before_commit: Callable[[sqlite3.Connection], Any] | None,
    ) -> None:
        self.path = MEMORY if str(path) == MEMORY else Path(path or default_path()).expanduser()
        self._timeout = timeout
        self._before_commit = before_commit
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def close(self) -> None:
        with self._lock:
            self._discard()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction; a write one holds the write lock from its first statement."""
        with self._lock:
            try:
                connection = self._connect()
                connection.execute("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
            except sqlite3.Error as exc:
                self._discard()
                raise self._error(exc) from None
            try:
                yield connection
                if write and self._before_commit is not None:
                    self._before_commit(connection)
                connection.execute("COMMIT")
            except sqlite3.Error as exc:
                self._discard()  # closing the connection rolls back whatever was begun
                raise self._error(exc) from None
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        try:
            if self._connection is not None and self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
        except sqlite3.Error:
            self._discard()

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # It is being thrown away; a failure to close it changes nothing.
            with contextlib.suppress(sqlite3.Error):
                connection.close()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None:
            return self._connection
        if isinstance(self.path, Path):
            try:
                # The file holds access and refresh tokens: only its owner may read it.
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except OSError as exc:
                raise StoreUnavailable(
                    f"Cannot create the directory for the SQLite database at {self.path} "
                    f"({exc.strerror})."
                ) from None
        # isolation_level=None: transactions are begun and ended explicitly, above.
        connection = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            connection.execute("PRAGMA journal_mode = WAL")
            self._create_schema(connection)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _create_schema(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                connection.execute(statement)
            row = connection.execute("SELECT max(version) FROM miroflow_schema").fetchone()
            found = row[0]
            if found is None:
                connection.execute(
                    "INSERT INTO miroflow_schema (version) VALUES (?)", (SCHEMA_VERSION,)
                )
            elif found > SCHEMA_VERSION:
                raise RecordError(
                    f"The SQLite database at {self.path} has miroflow schema version {found}; "
                    f"this miroflow-sqlite knows version {SCHEMA_VERSION}. Upgrade "
                    "miroflow-sqlite (a newer one created the database)."
                )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def _error(self, exc: sqlite3.Error) -> StoreError:
        # SQLite's messages name files, tables and columns, never the values bound.
        text = f"The SQLite database at {self.path} failed: {exc}."
        if isinstance(exc, (sqlite3.OperationalError, sqlite3.ProgrammingError)):
            return StoreUnavailable(text)
        return StoreError(text)
