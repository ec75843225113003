"""SQLite stores for miroflow: the embedded default, safe across threads and processes.

``SQLiteFlowStore`` keeps flows and lets each be claimed once (one compare-and-set);
``SQLiteTokenStore`` keeps token sets with compare-and-set versions. Without a path, each app
gets its own file, ``default_path(client_id)``. The ``Async*`` classes run the same code in a
worker thread for asyncio apps.
"""

from ._database import default_path
from ._schema import SCHEMA_VERSION
from ._stores import (
    AsyncSQLiteFlowStore,
    AsyncSQLiteTokenStore,
    SQLiteFlowStore,
    SQLiteTokenStore,
)

__all__ = [
    "SCHEMA_VERSION",
    "AsyncSQLiteFlowStore",
    "AsyncSQLiteTokenStore",
    "SQLiteFlowStore",
    "SQLiteTokenStore",
    "default_path",
]
