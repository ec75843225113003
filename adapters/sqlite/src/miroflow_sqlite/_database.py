"""One SQLite database file: where it lives, and short serialized transactions.

Every write runs in ``BEGIN IMMEDIATE``: it takes the database's write lock before reading,
so a read-then-write (a claim, a compare-and-set) cannot interleave with another writer,
whether that writer is a thread of this process or another process. WAL mode lets readers
go on while one writer works; the busy timeout makes writers queue instead of failing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from miroflow import ConfigError, StoreError, StoreUnavailable

from ._schema import ensure_schema

__all__ = ["MEMORY", "Database", "default_path"]

MEMORY = ":memory:"
#: The one default file miroflow-sqlite 0.1 kept for every app on the machine.
_SHARED_NAME = "miroflow.sqlite3"
# A client id becomes a file name: nothing that could climb out of the directory.
_FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")

_log = logging.getLogger("miroflow")


def _data_directory() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "miroflow"


def default_path(client_id: str) -> Path:
    """``$XDG_DATA_HOME/miroflow/<client_id>.sqlite3``, ``$XDG_DATA_HOME`` defaulting to
    ``~/.local/share``: one file per app, so apps on one machine never share tokens."""
    if not isinstance(client_id, str) or not _FILE_NAME.fullmatch(client_id):
        raise ConfigError(
            "client_id must be the app's Miro client id (such as 3074457363680401096): it "
            "names the SQLite file."
        )
    return _data_directory() / f"{client_id}.sqlite3"


def _resolve(
    path: str | os.PathLike[str] | None, client_id: str | None, owner: str
) -> tuple[Path | str, Path | None]:
    """The database, and (for a per-app default file) the old shared file to warn about."""
    if path is not None:
        return (MEMORY if str(path) == MEMORY else Path(path).expanduser()), None
    if client_id is None:
        raise ConfigError(
            f'{owner} needs path= (a file, or ":memory:") or client_id= (the app\'s Miro '
            f"client id, to use the file {_data_directory()}/<client_id>.sqlite3)."
        )
    chosen = default_path(client_id)
    shared = chosen.parent / _SHARED_NAME
    return chosen, (None if shared == chosen else shared)


class Database:
    """One connection guarded by a lock (SQLite serializes writers anyway). A connection
    that failed is thrown away and the next transaction opens a fresh one."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        client_id: str | None,
        owner: str,
        timeout: float,
        before_commit: Callable[[sqlite3.Connection], Any] | None,
    ) -> None:
        self.path, self._shared = _resolve(path, client_id, owner)
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
            self._warn_about_shared_file()
            try:
                # The file holds access and refresh tokens: only its owner may read it.
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                self._owner_only()
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
            ensure_schema(connection, self.path)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _owner_only(self) -> None:
        """A file made by something else (an older miroflow, a copy, a umask of 022) may be
        readable by others: it holds tokens, so take that away, and say so."""
        assert isinstance(self.path, Path)
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o077:
            self.path.chmod(0o600)
            _log.warning(
                "The SQLite database at %s was readable by others (mode %o); it holds tokens, "
                "so it is now readable by its owner only (0600).",
                self.path,
                mode,
            )

    def _warn_about_shared_file(self) -> None:
        # Once per store, before this store creates its own file: a second store of the same
        # app finds the file made by the first and stays quiet.
        shared, self._shared = self._shared, None
        if shared is None or not isinstance(self.path, Path):
            return
        with contextlib.suppress(OSError):
            if shared.exists() and not self.path.exists():
                _log.warning(
                    "miroflow-sqlite now keeps one file per app, and %s does not exist yet; "
                    "the tokens in the old shared file %s are not used. Pass path=%r to keep "
                    "using them.",
                    self.path,
                    shared,
                    str(shared),
                )

    def _error(self, exc: sqlite3.Error) -> StoreError:
        # SQLite's messages name files, tables and columns, never the values bound.
        text = f"The SQLite database at {self.path} failed: {exc}."
        if isinstance(exc, (sqlite3.OperationalError, sqlite3.ProgrammingError)):
            return StoreUnavailable(text)
        return StoreError(text)
