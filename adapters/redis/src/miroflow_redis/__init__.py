"""Redis stores for miroflow (redis-py, sync and asyncio), for many workers.

``RedisFlowStore`` keeps pending flows and claims each exactly once (one Lua script);
``RedisTokenStore`` keeps token sets with compare-and-set versions. The ``Async*`` classes do
the same with ``redis.asyncio``.
"""

from ._logic import KEY_LAYOUT_VERSION
from ._stores import AsyncRedisFlowStore, AsyncRedisTokenStore, RedisFlowStore, RedisTokenStore

__all__ = [
    "KEY_LAYOUT_VERSION",
    "AsyncRedisFlowStore",
    "AsyncRedisTokenStore",
    "RedisFlowStore",
    "RedisTokenStore",
]
