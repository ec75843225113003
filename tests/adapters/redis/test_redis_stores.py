"""miroflow-redis passes the store conformance suite against a real Redis, and keeps its own
promises (key expiry, clear errors)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator

import pytest
import redis
from miroflow_redis import (
    KEY_LAYOUT_VERSION,
    AsyncRedisFlowStore,
    AsyncRedisTokenStore,
    RedisFlowStore,
    RedisTokenStore,
)

from miroflow import (
    FLOW_RETENTION,
    ClaimOutcome,
    Flow,
    FlowState,
    RecordError,
    StoreUnavailable,
    TokenKey,
    hash_secret,
)
from miroflow.testing.stores import (
    AsyncFlowStoreConformance,
    AsyncTokenStoreConformance,
    FlowStoreConformance,
    MultiProcessClaimConformance,
    StoreSpec,
    TokenStoreConformance,
)

NOW = 4_000_000_000.0  # far in the future, so Redis's own clock never expires a test flow


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A unique key prefix per test; every key under it is deleted afterwards."""
    name = f"miroflow-test-{uuid.uuid4().hex}:"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{name}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def a_flow(name: str = "s", *, created_at: float = NOW) -> Flow:
    return Flow(
        state=FlowState.PENDING,
        state_hash=hash_secret(name),
        binding_hash=hash_secret("b"),
        created_at=created_at,
        deadline=created_at + 600,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestRedisFlowStore(FlowStoreConformance, MultiProcessClaimConformance):
    @pytest.fixture
    def flow_store(self, redis_url: str, prefix: str) -> Iterator[RedisFlowStore]:
        store = RedisFlowStore(redis_url, prefix=prefix)
        yield store
        store.close()

    @pytest.fixture
    def flow_store_spec(self, redis_url: str, prefix: str) -> StoreSpec:
        return StoreSpec(
            factory="miroflow_redis:RedisFlowStore",
            kwargs={"client": redis_url, "prefix": prefix},
        )


class TestRedisTokenStore(TokenStoreConformance):
    @pytest.fixture
    def token_store(self, redis_url: str, prefix: str) -> Iterator[RedisTokenStore]:
        store = RedisTokenStore(redis_url, prefix=prefix)
        yield store
        store.close()


class TestAsyncRedisFlowStore(AsyncFlowStoreConformance):
    @pytest.fixture
    def make_async_flow_store(self, redis_url: str, prefix: str) -> object:
        return lambda: AsyncRedisFlowStore(redis_url, prefix=prefix)


class TestAsyncRedisTokenStore(AsyncTokenStoreConformance):
    @pytest.fixture
    def make_async_token_store(self, redis_url: str, prefix: str) -> object:
        return lambda: AsyncRedisTokenStore(redis_url, prefix=prefix)


def test_flow_keys_expire_after_retention(redis_url: str, prefix: str) -> None:
    store = RedisFlowStore(redis_url, prefix=prefix)
    flow = a_flow()
    store.save(flow)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    (key,) = client.keys(f"{prefix}flow:*")
    assert key == f"{prefix}flow:{flow.state_hash}"  # the hash, never the raw state
    expires_ms = client.pexpiretime(key)
    assert (
        (flow.deadline + FLOW_RETENTION) * 1000
        <= expires_ms
        <= (flow.deadline + FLOW_RETENTION) * 1000 + 2
    )
    client.close()


def test_accepts_a_client(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store, tokens = RedisFlowStore(client, prefix=prefix), RedisTokenStore(client, prefix=prefix)
    store.save(a_flow())
    assert store.claim(hash_secret("s"), NOW).flow == a_flow()
    assert tokens.get(TokenKey(user_id="1", team_id="2")) is None
    store.close()  # not ours to close
    assert client.ping()
    client.close()


def test_a_newer_key_layout_is_refused(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set(f"{prefix}schema", KEY_LAYOUT_VERSION + 1)
    client.close()
    with pytest.raises(RecordError, match=f"layout version {KEY_LAYOUT_VERSION + 1}.*Upgrade"):
        RedisFlowStore(redis_url, prefix=prefix).claim(hash_secret("s"), NOW)

    async def claim() -> None:
        store = AsyncRedisTokenStore(redis_url, prefix=prefix)
        try:
            await store.get(TokenKey(user_id="1", team_id="2"))
        finally:
            await store.aclose()

    with pytest.raises(RecordError, match="Upgrade miroflow-redis"):
        asyncio.run(claim())


def test_a_newer_record_is_refused_and_not_claimed(redis_url: str, prefix: str) -> None:
    store = RedisFlowStore(redis_url, prefix=prefix)
    store.save(a_flow())
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    key = f"{prefix}flow:{hash_secret('s')}"
    record = client.hget(key, "record")
    assert record is not None
    client.hset(key, "record", str(record).replace('"v":1', '"v":99'))
    with pytest.raises(RecordError, match="schema version 99"):
        store.claim(hash_secret("s"), NOW)
    client.close()


def test_an_unreachable_server_is_unavailable() -> None:
    port = closed_port()
    store = RedisFlowStore(f"redis://:hunter2@127.0.0.1:{port}/0", timeout=2)
    with pytest.raises(
        StoreUnavailable, match=f"Redis at 127.0.0.1:{port}/0 is not reachable"
    ) as e:
        store.claim(hash_secret("s"), NOW)
    assert "hunter2" not in str(e.value)
    assert "hunter2" not in repr(e.value)
    assert e.value.__cause__ is None


def test_an_unreachable_server_is_unavailable_async() -> None:
    port = closed_port()

    async def claim() -> None:
        store = AsyncRedisFlowStore(f"redis://:hunter2@127.0.0.1:{port}/3", timeout=2)
        try:
            await store.claim(hash_secret("s"), NOW)
        finally:
            await store.aclose()

    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}/3") as e:
        asyncio.run(claim())
    assert "hunter2" not in str(e.value)


def test_the_callers_clock_decides_expiry(redis_url: str, prefix: str) -> None:
    # Redis's own clock is decades before NOW, so the key is alive; the caller's "now" alone
    # makes the flow EXPIRED, and later UNKNOWN.
    store = RedisFlowStore(redis_url, prefix=prefix)
    flow = a_flow()
    store.save(flow)
    assert store.claim(flow.state_hash, flow.deadline).outcome is ClaimOutcome.EXPIRED
    forgotten = flow.deadline + FLOW_RETENTION
    assert store.claim(flow.state_hash, forgotten).outcome is ClaimOutcome.UNKNOWN
    store.close()
