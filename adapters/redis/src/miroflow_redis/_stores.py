"""Redis flow and token stores: sync (``redis.Redis``) and asyncio (``redis.asyncio.Redis``).

Both kinds run the plans of ``_logic`` (the scripts of ``_layout``); a method here only picks
the plan, and its class runs the plan's calls, blocking or awaiting.
"""

from __future__ import annotations

from typing import Any, TypeVar

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from miroflow import ClaimResult, Flow, StoredTokens, TokenKey, TokenSet

from . import _logic
from ._layout import SCRIPTS, Keys
from ._logic import Plan, failure

__all__ = ["AsyncRedisFlowStore", "AsyncRedisTokenStore", "RedisFlowStore", "RedisTokenStore"]

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_PREFIX = "miroflow:"

T = TypeVar("T")


class _Connection:
    """The client, the prefix and the registered scripts; shared by every store class."""

    def __init__(self, client: Any, prefix: str, owned: bool) -> None:
        self.client = client
        self.owned = owned
        self.keys = Keys(prefix)
        self.where = _logic.describe(client.connection_pool.connection_kwargs)
        self.scripts = {source: client.register_script(source) for source in SCRIPTS}
        # Set once the layout marker is known to be readable (and moved up to ours).
        self.checked = False


#: A client the store makes from a URL retries a call that lost its connection (a restarted
#: server, a dropped idle connection) up to this many times, backing off: safe, because every
#: write carries a nonce, so a replay of a call whose answer was lost answers as the call did.
RETRIES = 3


def _options(timeout: float) -> dict[str, Any]:
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.02), RETRIES),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
    }


def _async_options(timeout: float) -> dict[str, Any]:
    options = _options(timeout)
    options["retry"] = AsyncRetry(ExponentialBackoff(cap=0.5, base=0.02), RETRIES)
    return options


def _sync(client: str | redis.Redis, prefix: str, timeout: float) -> _Connection:
    if isinstance(client, str):
        made = redis.Redis.from_url(client, **_options(timeout))
        return _Connection(made, prefix, owned=True)
    return _Connection(client, prefix, owned=False)


def _async(client: str | redis.asyncio.Redis, prefix: str, timeout: float) -> _Connection:
    if isinstance(client, str):
        made = redis.asyncio.Redis.from_url(client, **_async_options(timeout))
        return _Connection(made, prefix, owned=True)
    return _Connection(client, prefix, owned=False)


class _SyncBase:
    def __init__(
        self,
        client: str | redis.Redis = DEFAULT_URL,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 5.0,
    ) -> None:
        self._redis = _sync(client, prefix, timeout)

    def _run(self, plan: Plan[T]) -> T:
        r = self._redis
        if not r.checked:
            self._drive(_logic.check_layout(r.keys, r.where))
            r.checked = True
        return self._drive(plan)

    def _drive(self, plan: Plan[T]) -> T:
        r, reply = self._redis, None
        while True:
            try:
                call = plan.send(reply)
            except StopIteration as done:
                result: T = done.value
                return result
            try:
                reply = r.scripts[call.script](keys=call.keys, args=call.args)
            except RedisError as exc:
                raise failure(exc, r.where) from None

    def close(self) -> None:
        """Close the client if the store made it (from a URL); a client passed in is yours."""
        if self._redis.owned:
            self._redis.client.close()


class _AsyncBase:
    def __init__(
        self,
        client: str | redis.asyncio.Redis = DEFAULT_URL,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 5.0,
    ) -> None:
        self._redis = _async(client, prefix, timeout)

    async def _run(self, plan: Plan[T]) -> T:
        r = self._redis
        if not r.checked:
            await self._drive(_logic.check_layout(r.keys, r.where))
            r.checked = True
        return await self._drive(plan)

    async def _drive(self, plan: Plan[T]) -> T:
        r, reply = self._redis, None
        while True:
            try:
                call = plan.send(reply)
            except StopIteration as done:
                result: T = done.value
                return result
            try:
                reply = await r.scripts[call.script](keys=call.keys, args=call.args)
            except RedisError as exc:
                raise failure(exc, r.where) from None

    async def aclose(self) -> None:
        """Close the client if the store made it (from a URL); a client passed in is yours."""
        if self._redis.owned:
            await self._redis.client.aclose()


class RedisFlowStore(_SyncBase):
    """A ``FlowStore`` in Redis. ``client`` is a ``redis://`` URL or a ``redis.Redis``; every
    key starts with ``prefix``. Each flow key expires at the flow's ``forget_at``, so Redis
    forgets flows by itself: there is no ``sweep``."""

    def save(self, flow: Flow) -> None:
        self._run(_logic.save(self._redis.keys, flow))

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        return self._run(_logic.claim(self._redis.keys, state_hash, binding_hash))


class RedisTokenStore(_SyncBase):
    """A ``TokenStore`` in Redis, versioned for compare-and-set (see ``RedisFlowStore``).
    Tokens that miroflow-redis 0.1 stored are adopted by the first app that reads them.

    ``lease(key, holder, now=..., ttl=...)`` takes the key's refresh lease until ``now + ttl``
    if nobody holds it or its lease ended by the caller's ``now`` (never by Redis's clock):
    one Lua compare-and-set. ``release`` gives it back."""

    def get(self, key: TokenKey) -> StoredTokens | None:
        return self._run(_logic.get_tokens(self._redis.keys, key))

    def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        return self._run(_logic.put_tokens(self._redis.keys, tokens, expected_version))

    def delete(self, key: TokenKey) -> None:
        self._run(_logic.delete_tokens(self._redis.keys, key))

    def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        return self._run(_logic.lease(self._redis.keys, key, holder, now, ttl))

    def release(self, key: TokenKey, holder: str) -> None:
        self._run(_logic.release(self._redis.keys, key, holder))


class AsyncRedisFlowStore(_AsyncBase):
    """``RedisFlowStore`` for asyncio: ``client`` is a URL or a ``redis.asyncio.Redis``."""

    async def save(self, flow: Flow) -> None:
        await self._run(_logic.save(self._redis.keys, flow))

    async def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        return await self._run(_logic.claim(self._redis.keys, state_hash, binding_hash))


class AsyncRedisTokenStore(_AsyncBase):
    """``RedisTokenStore`` for asyncio."""

    async def get(self, key: TokenKey) -> StoredTokens | None:
        return await self._run(_logic.get_tokens(self._redis.keys, key))

    async def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        return await self._run(_logic.put_tokens(self._redis.keys, tokens, expected_version))

    async def delete(self, key: TokenKey) -> None:
        await self._run(_logic.delete_tokens(self._redis.keys, key))

    async def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        return await self._run(_logic.lease(self._redis.keys, key, holder, now, ttl))

    async def release(self, key: TokenKey, holder: str) -> None:
        await self._run(_logic.release(self._redis.keys, key, holder))
