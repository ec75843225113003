"""Redis stores for miroflow (redis-py, sync and asyncio), for many workers.

``RedisFlowStore`` keeps flows and lets exactly one callback claim each (one Lua script that
compares and sets); Redis forgets every flow at its ``forget_at`` by key expiry.
``RedisTokenStore`` keeps token sets per app, user and team with compare-and-set versions,
and adopts the keys miroflow-redis 0.1 wrote (key layout 1). The ``Async*`` classes do the
same with ``redis.asyncio``.
"""

from ._layout import KEY_LAYOUT_VERSION
from ._stores import AsyncRedisFlowStore, AsyncRedisTokenStore, RedisFlowStore, RedisTokenStore

__all__ = [
    "KEY_LAYOUT_VERSION",
    "AsyncRedisFlowStore",
    "AsyncRedisTokenStore",
    "RedisFlowStore",
    "RedisTokenStore",
]
