"""Redis flow and token stores: sync (``redis.Redis``) and asyncio (``redis.asyncio.Redis``).

Both kinds run the scripts of ``_logic`` and decode their replies there; a method here only
chooses the script, runs it, and (for asyncio) awaits it.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio

from miroflow import Claim, Flow, StoredTokens, TokenKey, TokenSet, dumps_flow

from . import _logic
from ._logic import Keys, errors

__all__ = ["AsyncRedisFlowStore", "AsyncRedisTokenStore", "RedisFlowStore", "RedisTokenStore"]

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_PREFIX = "miroflow:"


class _Connection:
    """The client, the prefix and the scripts; shared by every store class."""

    def __init__(self, client: Any, prefix: str, owned: bool) -> None:
        self.client = client
        self.owned = owned
        self.keys = Keys(prefix)
        self.where = _logic.describe(client.connection_pool.connection_kwargs)
        self.save = client.register_script(_logic.SAVE_FLOW)
        self.claim = client.register_script(_logic.CLAIM)
        self.put = client.register_script(_logic.PUT_TOKENS)
        self.schema = client.register_script(_logic.SCHEMA)
        self.checked = False


def _sync(client: str | redis.Redis, prefix: str, timeout: float) -> _Connection:
    if isinstance(client, str):
        made = redis.Redis.from_url(client, socket_timeout=timeout, socket_connect_timeout=timeout)
        return _Connection(made, prefix, owned=True)
    return _Connection(client, prefix, owned=False)


def _async(client: str | redis.asyncio.Redis, prefix: str, timeout: float) -> _Connection:
    if isinstance(client, str):
        made = redis.asyncio.Redis.from_url(
            client, socket_timeout=timeout, socket_connect_timeout=timeout
        )
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

    def _checked(self) -> _Connection:
        """The connection, once the key layout in Redis is known to be readable."""
        connection = self._redis
        if not connection.checked:
            with errors(connection.where):
                found = connection.schema(
                    keys=[connection.keys.schema], args=[_logic.KEY_LAYOUT_VERSION]
                )
            _logic.check_layout(found, connection.where)
            connection.checked = True
        return connection

    def close(self) -> None:
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

    async def _checked(self) -> _Connection:
        connection = self._redis
        if not connection.checked:
            with errors(connection.where):
                found = await connection.schema(
                    keys=[connection.keys.schema], args=[_logic.KEY_LAYOUT_VERSION]
                )
            _logic.check_layout(found, connection.where)
            connection.checked = True
        return connection

    async def aclose(self) -> None:
        if self._redis.owned:
            await self._redis.client.aclose()


class RedisFlowStore(_SyncBase):
    """A ``FlowStore`` in Redis. ``client`` is a ``redis://`` URL or a ``redis.Redis``; every
    key starts with ``prefix``. Flow keys expire at ``deadline + FLOW_RETENTION``."""

    def save(self, flow: Flow) -> None:
        r = self._checked()
        with errors(r.where):
            r.save(
                keys=[r.keys.flow(flow.state_hash)],
                args=_logic.save_args(dumps_flow(flow), flow.deadline),
            )

    def claim(self, state_hash: str, now: float) -> Claim:
        r = self._checked()
        with errors(r.where):
            reply = r.claim(keys=[r.keys.flow(state_hash)], args=_logic.claim_args(now))
        return _logic.decode_claim(reply)

    def delete(self, state_hash: str) -> None:
        r = self._checked()
        with errors(r.where):
            r.client.delete(r.keys.flow(state_hash))


class RedisTokenStore(_SyncBase):
    """A ``TokenStore`` in Redis, versioned for compare-and-set (see ``RedisFlowStore``)."""

    def get(self, key: TokenKey) -> StoredTokens | None:
        r = self._checked()
        with errors(r.where):
            reply = r.client.hmget(r.keys.tokens(key), ["record", "version"])
        return _logic.decode_stored(reply)

    def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        r = self._checked()
        with errors(r.where):
            reply = r.put(
                keys=[r.keys.tokens(tokens.key)], args=_logic.put_args(tokens, expected_version)
            )
        return _logic.decode_put(reply, tokens, expected_version)

    def delete(self, key: TokenKey) -> None:
        r = self._checked()
        with errors(r.where):
            r.client.delete(r.keys.tokens(key))


class AsyncRedisFlowStore(_AsyncBase):
    """``RedisFlowStore`` for asyncio: ``client`` is a URL or a ``redis.asyncio.Redis``."""

    async def save(self, flow: Flow) -> None:
        r = await self._checked()
        with errors(r.where):
            await r.save(
                keys=[r.keys.flow(flow.state_hash)],
                args=_logic.save_args(dumps_flow(flow), flow.deadline),
            )

    async def claim(self, state_hash: str, now: float) -> Claim:
        r = await self._checked()
        with errors(r.where):
            reply = await r.claim(keys=[r.keys.flow(state_hash)], args=_logic.claim_args(now))
        return _logic.decode_claim(reply)

    async def delete(self, state_hash: str) -> None:
        r = await self._checked()
        with errors(r.where):
            await r.client.delete(r.keys.flow(state_hash))


class AsyncRedisTokenStore(_AsyncBase):
    """``RedisTokenStore`` for asyncio."""

    async def get(self, key: TokenKey) -> StoredTokens | None:
        r = await self._checked()
        with errors(r.where):
            reply = await r.client.hmget(r.keys.tokens(key), ["record", "version"])
        return _logic.decode_stored(reply)

    async def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        r = await self._checked()
        with errors(r.where):
            reply = await r.put(
                keys=[r.keys.tokens(tokens.key)], args=_logic.put_args(tokens, expected_version)
            )
        return _logic.decode_put(reply, tokens, expected_version)

    async def delete(self, key: TokenKey) -> None:
        r = await self._checked()
        with errors(r.where):
            await r.client.delete(r.keys.tokens(key))
