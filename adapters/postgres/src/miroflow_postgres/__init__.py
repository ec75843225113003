"""PostgreSQL stores for miroflow (psycopg 3, sync and async, pooled), for many workers.

``PostgresFlowStore`` keeps pending flows and claims each exactly once (one atomic
``UPDATE … RETURNING``); ``PostgresTokenStore`` keeps token sets with compare-and-set
versions. The ``Async*`` classes do the same on an ``AsyncConnectionPool``.
"""

from ._sql import SCHEMA_VERSION
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
