"""SQLite stores for miroflow: the embedded default, safe across threads and processes.

``SQLiteFlowStore`` keeps pending flows and claims each exactly once; ``SQLiteTokenStore``
keeps token sets with compare-and-set versions. The ``Async*`` classes run the same code in a
worker thread for asyncio apps.
"""

from ._database import SCHEMA_VERSION, default_path
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
