"""PostgreSQL stores for miroflow (psycopg 3, sync and async, pooled), for many workers.

``PostgresFlowStore`` keeps flows and lets each be claimed once (one compare-and-set,
``UPDATE … RETURNING``); ``PostgresTokenStore`` keeps token sets with compare-and-set
versions. The ``Async*`` classes do the same on an ``AsyncConnectionPool``.
"""

from ._schema import SCHEMA_VERSION
from ._stores import (
    AsyncPostgresFlowStore,
    AsyncPostgresTokenStore,
    PostgresFlowStore,
    PostgresTokenStore,
)

__all__ = [
    "SCHEMA_VERSION",
    "AsyncPostgresFlowStore",
    "AsyncPostgresTokenStore",
    "PostgresFlowStore",
    "PostgresTokenStore",
]
