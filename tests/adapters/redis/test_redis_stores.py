"""miroflow-redis passes the store conformance suite against a real Redis, and keeps its own
promises: flow keys expire at ``forget_at``, a client passed in stays the caller's, newer
layouts and records are refused, and an unreachable server is named for the operator.

Not run here:

* ``SweepConformance``: Redis forgets every flow by itself (each flow key expires at the
  flow's ``forget_at``, and Redis reclaims expired keys at a cost proportional to them), so
  the store has no ``sweep(now)`` to test. ``test_redis_forgets_a_flow_at_forget_at`` and
  ``test_flow_keys_expire_at_forget_at`` check the expiry instead.
* The commit seam (``commit_fault_supported``): a Lua script has no COMMIT to break. The
  faults suite runs its generic faults here; ``test_redis_faults.py`` loses real script
  calls and replies on a real connection.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import attrs
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
    Flow,
    FlowState,
    RecordError,
    StoredTokens,
    StoreError,
    StoreUnavailable,
    TokenSet,
)
from miroflow.machine import hash_binding, hash_state
from miroflow.testing.leases import AsyncTokenLeaseConformance, TokenLeaseConformance
from miroflow.testing.stores import (
    AsyncFlowStoreConformance,
    AsyncTokenStoreConformance,
    FlowStoreConformance,
    MultiProcessClaimConformance,
    StoreSpec,
    TokenStoreConformance,
)

NOW = 4_000_000_000.0  # far in the future, so Redis's own clock never expires a test flow
CLIENT_ID = "3074457363680401096"
BINDING = hash_binding("b" * 43)


def a_flow(name: str = "s", *, created_at: float = NOW) -> Flow:
    return Flow(
        state=FlowState.REDIRECTED,
        state_hash=hash_state(CLIENT_ID, name),
        binding_hash=BINDING,
        created_at=created_at,
        deadline=created_at + 600,
        code_verifier="v" * 43,
    )


def some_tokens(
    user_id: str = "3458764513820540928", team_id: str = "3458764513820541000"
) -> TokenSet:
    return TokenSet(
        client_id=CLIENT_ID,
        access_token="a" * 43,
        refresh_token="r" * 43,
        user_id=user_id,
        team_id=team_id,
        scopes=("boards:read",),
        obtained_at=NOW,
        expires_at=NOW + 3599,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client, to look at (and write) keys behind the stores' backs."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


# --- the conformance suites ------------------------------------------------------------------


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


class TestRedisTokenLease(TokenLeaseConformance):
    @pytest.fixture
    def token_store(self, redis_url: str, prefix: str) -> Iterator[RedisTokenStore]:
        store = RedisTokenStore(redis_url, prefix=prefix)
        yield store
        store.close()


class TestAsyncRedisTokenLease(AsyncTokenLeaseConformance):
    @pytest.fixture
    def make_async_token_store(self, redis_url: str, prefix: str) -> object:
        return lambda: AsyncRedisTokenStore(redis_url, prefix=prefix)


# --- retention by key expiry -----------------------------------------------------------------


def test_flow_keys_expire_at_forget_at(raw: redis.Redis, redis_url: str, prefix: str) -> None:
    store = RedisFlowStore(redis_url, prefix=prefix)
    flow = attrs.evolve(a_flow(), deadline=NOW + 600.0004)  # not a whole millisecond
    store.save(flow)
    (key,) = raw.keys(f"{prefix}flow:*")
    assert key == f"{prefix}flow:{flow.state_hash.hex()}"  # the hash, never the state
    # Rounded up, never down: Redis must not forget the flow before its forget_at.
    expected_ms = math.ceil(Fraction(flow.forget_at) * 1000)
    assert expected_ms / 1000 >= flow.forget_at
    assert raw.pexpiretime(key) == expected_ms
    # A claim keeps the expiry: claimed flows are kept (and then forgotten) like the others.
    assert store.claim(flow.state_hash, BINDING) == (flow, True)
    assert raw.pexpiretime(key) == expected_ms
    store.close()


def test_redis_forgets_a_flow_at_forget_at(redis_url: str, prefix: str) -> None:
    # Saved after its forget_at by Redis's own clock: Redis drops it at once, with no sweep.
    store = RedisFlowStore(redis_url, prefix=prefix)
    flow = a_flow(created_at=time.time() - 600 - FLOW_RETENTION - 1)
    store.save(flow)
    assert store.claim(flow.state_hash, BINDING) == (None, False)
    store.close()


def test_the_claim_reads_no_clock(redis_url: str, prefix: str) -> None:
    # A flow decades past its deadline by the caller's reckoning is still claimed once:
    # expiry is miroflow.machine.claim_outcome's call, not Redis's.
    store = RedisFlowStore(redis_url, prefix=prefix)
    flow = a_flow(created_at=time.time() - 600 - 1)
    store.save(flow)
    assert store.claim(flow.state_hash, BINDING) == (flow, True)
    assert store.claim(flow.state_hash, BINDING) == (flow, False)
    store.close()


# --- clients, layouts, records, errors -------------------------------------------------------


def test_accepts_a_client(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store, tokens = RedisFlowStore(client, prefix=prefix), RedisTokenStore(client, prefix=prefix)
    flow = a_flow()
    store.save(flow)
    assert store.claim(flow.state_hash, BINDING) == (flow, True)
    assert tokens.get(some_tokens().key) is None
    assert tokens.put(some_tokens()) == StoredTokens(tokens=some_tokens(), version=1)
    assert tokens.get(some_tokens().key) == StoredTokens(tokens=some_tokens(), version=1)
    store.close()  # not ours to close
    tokens.close()
    assert client.ping()
    client.close()


def test_token_keys_name_the_app_user_and_team(
    raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    store = RedisTokenStore(redis_url, prefix=prefix)
    tokens = some_tokens(user_id="1:2", team_id="3")  # ids are quoted: no ":" runs into the next
    store.put(tokens)
    assert [key for key in raw.keys(f"{prefix}tokens:*")] == [f"{prefix}tokens:{CLIENT_ID}:1%3A2:3"]
    store.close()


def test_a_newer_key_layout_is_refused(raw: redis.Redis, redis_url: str, prefix: str) -> None:
    raw.set(f"{prefix}schema", KEY_LAYOUT_VERSION + 1)
    store = RedisFlowStore(redis_url, prefix=prefix)
    with pytest.raises(RecordError, match=f"layout version {KEY_LAYOUT_VERSION + 1}.*Upgrade"):
        store.claim(a_flow().state_hash, BINDING)
    store.close()

    async def get() -> None:
        store = AsyncRedisTokenStore(redis_url, prefix=prefix)
        try:
            await store.get(some_tokens().key)
        finally:
            await store.aclose()

    with pytest.raises(RecordError, match="Upgrade miroflow-redis"):
        asyncio.run(get())
    assert raw.get(f"{prefix}schema") == str(KEY_LAYOUT_VERSION + 1)  # left alone


def test_an_unreadable_layout_marker_is_refused(
    raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    raw.set(f"{prefix}schema", "two")
    store = RedisTokenStore(redis_url, prefix=prefix)
    with pytest.raises(RecordError, match=r"layout marker .* is not a number"):
        store.get(some_tokens().key)
    store.close()


def test_a_newer_record_is_refused(raw: redis.Redis, redis_url: str, prefix: str) -> None:
    store = RedisFlowStore(redis_url, prefix=prefix)
    flow = a_flow()
    store.save(flow)
    key = f"{prefix}flow:{flow.state_hash.hex()}"
    record = raw.hget(key, "record")
    assert record is not None
    raw.hset(key, "record", str(record).replace('"v":2', '"v":99'))
    with pytest.raises(RecordError, match="schema version 99"):
        store.claim(flow.state_hash, BINDING)
    store.close()


def test_a_token_key_without_a_record_is_refused(
    raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    tokens = some_tokens()
    store = RedisTokenStore(redis_url, prefix=prefix)
    store.put(tokens)
    key = f"{prefix}tokens:{CLIENT_ID}:{tokens.user_id}:{tokens.team_id}"
    raw.hdel(key, "record")
    with pytest.raises(RecordError, match="not valid JSON"):
        store.get(tokens.key)
    raw.hset(key, mapping={"record": "{}", "version": "x"})
    with pytest.raises(RecordError):
        store.get(tokens.key)
    store.close()


def test_a_server_error_is_a_store_error(raw: redis.Redis, redis_url: str, prefix: str) -> None:
    # A key of the wrong type makes the claim script fail inside Redis.
    flow = a_flow()
    raw.set(f"{prefix}flow:{flow.state_hash.hex()}", "not a hash")
    store = RedisFlowStore(redis_url, prefix=prefix)
    with pytest.raises(StoreError, match="failed \\(ResponseError\\)") as e:
        store.claim(flow.state_hash, BINDING)
    assert not isinstance(e.value, StoreUnavailable)
    store.save(flow)  # a save replaces whatever was there
    assert store.claim(flow.state_hash, BINDING) == (flow, True)
    store.close()


def test_an_unreachable_server_is_unavailable() -> None:
    port = closed_port()
    store = RedisFlowStore(f"redis://:hunter2@127.0.0.1:{port}/0", timeout=2)
    with pytest.raises(StoreUnavailable) as e:
        store.claim(a_flow().state_hash, BINDING)
    # The operator's detail names the server; the person in the browser reads fixed text.
    assert f"Redis at 127.0.0.1:{port}/0 is not reachable" in e.value.detail
    assert "127.0.0.1" not in e.value.message
    for text in (str(e.value), repr(e.value), e.value.message):
        assert "hunter2" not in text
    assert e.value.__cause__ is None
    store.close()


def test_an_unreachable_server_is_unavailable_async() -> None:
    port = closed_port()

    async def claim() -> None:
        store = AsyncRedisFlowStore(f"redis://:hunter2@127.0.0.1:{port}/3", timeout=2)
        try:
            await store.claim(a_flow().state_hash, BINDING)
        finally:
            await store.aclose()

    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}/3") as e:
        asyncio.run(claim())
    assert "hunter2" not in str(e.value)
    assert str(port) not in e.value.message


# --- refresh leases --------------------------------------------------------------------------


def test_a_lease_key_names_the_app_user_and_team_and_expires_by_itself(
    raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    store = RedisTokenStore(redis_url, prefix=prefix)
    key = some_tokens(user_id="1:2", team_id="3").key
    assert store.lease(key, "holder-1", now=NOW, ttl=30.0)
    (name,) = raw.keys(f"{prefix}lease:*")
    assert name == f"{prefix}lease:{CLIENT_ID}:1%3A2:3"
    assert raw.hget(name, "holder") == "holder-1"
    assert float(raw.hget(name, "until") or "") == NOW + 30.0
    # Redis forgets the key by itself (nothing piles up), but only after the lease's ttl plus
    # a grace: whether the lease ended is decided by the callers' now, never by Redis's clock.
    assert 60_000 + 29_000 < raw.pttl(name) <= 60_000 + 30_000
    store.release(key, "holder-2")  # not the holder: nothing changes
    assert raw.exists(name)
    store.release(key, "holder-1")
    assert not raw.exists(name)
    store.close()


def test_a_lease_is_decided_by_now_not_by_redis_s_clock(redis_url: str, prefix: str) -> None:
    # By Redis's clock this lease ended an hour ago; by the callers' clock it runs until
    # then + 30 s, and that is what counts.
    store = RedisTokenStore(redis_url, prefix=prefix)
    then, key = time.time() - 3600, some_tokens().key
    assert store.lease(key, "holder-1", now=then, ttl=30.0)
    assert not store.lease(key, "holder-2", now=then + 29.999, ttl=30.0)
    assert store.lease(key, "holder-2", now=then + 30.0, ttl=30.0)
    store.close()


def test_a_lease_key_without_a_readable_end_is_taken_over(
    raw: redis.Redis, redis_url: str, prefix: str
) -> None:
    store = RedisTokenStore(redis_url, prefix=prefix)
    key = some_tokens().key
    name = f"{prefix}lease:{CLIENT_ID}:{key.user_id}:{key.team_id}"
    raw.hset(name, mapping={"holder": "someone", "until": "soon"})
    assert store.lease(key, "holder-1", now=NOW, ttl=30.0)
    assert raw.hget(name, "holder") == "holder-1"
    store.close()


# --- the single flight of a refresh, across processes (issue 9) ------------------------------


@pytest.fixture
def token_spec(redis_url: str, prefix: str) -> StoreSpec:
    return StoreSpec(
        factory="miroflow_redis:RedisTokenStore", kwargs={"client": redis_url, "prefix": prefix}
    )


def test_fifty_callers_in_two_processes_refresh_once(
    single_flight: Any, redis_url: str, prefix: str, token_spec: StoreSpec
) -> None:
    store = RedisTokenStore(redis_url, prefix=prefix)
    single_flight.race(store, token_spec)
    store.close()


def test_a_holder_killed_mid_refresh_is_taken_over_after_its_lease(
    single_flight: Any, redis_url: str, prefix: str, token_spec: StoreSpec
) -> None:
    store = RedisTokenStore(redis_url, prefix=prefix)
    single_flight.holder_killed(store, token_spec)
    store.close()
