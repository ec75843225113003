"""miroflow-postgres passes the store conformance suite against a real PostgreSQL, and keeps
its own promises (schema on first use, sweeping, clear errors)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg_pool
import pytest
from miroflow_postgres import (
    SCHEMA_VERSION,
    AsyncPostgresFlowStore,
    AsyncPostgresTokenStore,
    PostgresFlowStore,
    PostgresTokenStore,
)

from miroflow import FLOW_RETENTION, Flow, FlowState, RecordError, StoreUnavailable, TokenKey
from miroflow.machine import hash_binding, hash_state
from miroflow.testing.leases import AsyncTokenLeaseConformance, TokenLeaseConformance
from miroflow.testing.stores import (
    AsyncFlowStoreConformance,
    AsyncTokenStoreConformance,
    CommitFault,
    FlowStoreConformance,
    MultiProcessClaimConformance,
    StoreSpec,
    SweepConformance,
    TokenStoreConformance,
)

NOW = 1_900_000_000.0
CLIENT_ID = "3074457363680401096"
BINDING = hash_binding("b" * 43)
KEY = TokenKey(client_id=CLIENT_ID, user_id="1", team_id="2")


def a_flow(name: str = "s", *, created_at: float = NOW) -> Flow:
    return Flow(
        state=FlowState.REDIRECTED,
        state_hash=hash_state(CLIENT_ID, name),
        binding_hash=BINDING,
        created_at=created_at,
        deadline=created_at + 600,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestPostgresFlowStore(FlowStoreConformance, SweepConformance, MultiProcessClaimConformance):
    commit_fault_supported = True

    @pytest.fixture
    def flow_store(
        self, postgres_url: str, schema: str, commit_fault: CommitFault
    ) -> Iterator[PostgresFlowStore]:
        store = PostgresFlowStore(postgres_url, schema=schema, before_commit=commit_fault)
        yield store
        store.close()

    @pytest.fixture
    def flow_store_spec(self, postgres_url: str, schema: str) -> StoreSpec:
        return StoreSpec(
            factory="miroflow_postgres:PostgresFlowStore",
            kwargs={"conninfo": postgres_url, "schema": schema},
        )


class TestPostgresTokenStore(TokenStoreConformance):
    commit_fault_supported = True

    @pytest.fixture
    def token_store(
        self, postgres_url: str, schema: str, commit_fault: CommitFault
    ) -> Iterator[PostgresTokenStore]:
        store = PostgresTokenStore(postgres_url, schema=schema, before_commit=commit_fault)
        yield store
        store.close()


class TestAsyncPostgresFlowStore(AsyncFlowStoreConformance, SweepConformance):
    commit_fault_supported = True

    @pytest.fixture
    def make_async_flow_store(
        self, postgres_url: str, schema: str, commit_fault: CommitFault
    ) -> object:
        return lambda: AsyncPostgresFlowStore(
            postgres_url, schema=schema, before_commit=commit_fault
        )


class TestAsyncPostgresTokenStore(AsyncTokenStoreConformance):
    commit_fault_supported = True

    @pytest.fixture
    def make_async_token_store(
        self, postgres_url: str, schema: str, commit_fault: CommitFault
    ) -> object:
        return lambda: AsyncPostgresTokenStore(
            postgres_url, schema=schema, before_commit=commit_fault
        )


class TestPostgresTokenLease(TokenLeaseConformance):
    @pytest.fixture
    def token_store(self, postgres_url: str, schema: str) -> Iterator[PostgresTokenStore]:
        store = PostgresTokenStore(postgres_url, schema=schema)
        yield store
        store.close()


class TestAsyncPostgresTokenLease(AsyncTokenLeaseConformance):
    @pytest.fixture
    def make_async_token_store(self, postgres_url: str, schema: str) -> object:
        return lambda: AsyncPostgresTokenStore(postgres_url, schema=schema)


def test_schema_is_created_once_by_concurrent_stores(postgres_url: str, schema: str) -> None:
    stores = [PostgresTokenStore(postgres_url, schema=schema, max_size=1) for _ in range(8)]

    async def nothing() -> None:
        await asyncio.gather(*(asyncio.to_thread(store.get, KEY) for store in stores))

    asyncio.run(nothing())
    with psycopg.connect(postgres_url) as connection:
        rows = connection.execute(f'SELECT version FROM "{schema}".schema_version').fetchall()
    assert rows == [(SCHEMA_VERSION,)]
    for store in stores:
        store.close()


def test_a_newer_schema_is_refused(postgres_url: str, schema: str) -> None:
    PostgresFlowStore(postgres_url, schema=schema).save(a_flow())
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(
            f'UPDATE "{schema}".schema_version SET version = %s', (SCHEMA_VERSION + 1,)
        )
    with pytest.raises(RecordError, match=f"schema version {SCHEMA_VERSION + 1}.*Upgrade"):
        PostgresFlowStore(postgres_url, schema=schema).claim(a_flow().state_hash, BINDING)

    async def claim() -> None:
        store = AsyncPostgresFlowStore(postgres_url, schema=schema)
        try:
            await store.claim(a_flow().state_hash, BINDING)
        finally:
            await store.aclose()

    with pytest.raises(RecordError, match="Upgrade miroflow-postgres"):
        asyncio.run(claim())


def test_a_newer_record_is_refused_and_not_claimed(postgres_url: str, schema: str) -> None:
    store = PostgresFlowStore(postgres_url, schema=schema)
    store.save(a_flow())
    table = f'"{schema}".flows'
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(
            f"UPDATE {table} SET record = convert_to(replace(convert_from(record, 'UTF8'),"
            " '\"v\":2', '\"v\":99'), 'UTF8')"
        )
    with pytest.raises(RecordError, match="schema version 99"):
        store.claim(a_flow().state_hash, BINDING)
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute(f"SELECT claimed FROM {table}").fetchall() == [(False,)]
    store.close()


def test_an_unreachable_server_is_unavailable() -> None:
    port = closed_port()
    store = PostgresFlowStore(f"postgresql://app:hunter2@127.0.0.1:{port}/db", timeout=2)
    with pytest.raises(StoreUnavailable, match=f"PostgreSQL at 127.0.0.1:{port}/db") as e:
        store.claim(a_flow().state_hash, BINDING)
    assert "hunter2" not in str(e.value)
    assert e.value.__cause__ is None


def test_an_unreachable_server_is_unavailable_async() -> None:
    port = closed_port()

    async def claim() -> None:
        store = AsyncPostgresTokenStore(f"postgresql://app:hunter2@127.0.0.1:{port}/db")
        try:
            await store.get(KEY)
        finally:
            await store.aclose()

    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}/db") as e:
        asyncio.run(claim())
    assert "hunter2" not in str(e.value)


def test_accepts_a_pool(postgres_url: str, schema: str) -> None:
    with psycopg_pool.ConnectionPool(postgres_url, min_size=1, max_size=2) as pool:
        store = PostgresFlowStore(pool, schema=schema)
        store.save(a_flow())
        assert store.claim(a_flow().state_hash, BINDING) == (a_flow(), True)
        store.close()  # not ours to close
        assert not pool.closed


def test_sweep_deletes_the_rows(postgres_url: str, schema: str) -> None:
    store = PostgresFlowStore(postgres_url, schema=schema)
    old, young = a_flow("old"), a_flow("young", created_at=NOW + 100)
    store.save(old)
    store.save(young)
    assert store.sweep(old.forget_at) == 1
    with psycopg.connect(postgres_url) as connection:
        rows = connection.execute(f'SELECT state_hash FROM "{schema}".flows').fetchall()
    assert rows == [(young.state_hash,)]
    store.close()


def test_keys_and_bindings_are_raw_digests(postgres_url: str, schema: str) -> None:
    store = PostgresFlowStore(postgres_url, schema=schema)
    flow = a_flow()
    store.save(flow)
    with psycopg.connect(postgres_url) as connection:
        row = connection.execute(
            f'SELECT state_hash, binding_hash FROM "{schema}".flows'
        ).fetchone()
    assert row == (flow.state_hash, flow.binding_hash)
    store.close()


def test_sweeping_uses_the_forget_at_index(postgres_url: str, schema: str) -> None:
    # O(forgotten), never O(live): with sequential scans off, the plan is an index scan
    # (the planner can use the index at all).
    store = PostgresFlowStore(postgres_url, schema=schema)
    store.save(a_flow())
    with psycopg.connect(postgres_url) as connection:
        connection.execute("SET enable_seqscan = off")
        plan = connection.execute(
            f'EXPLAIN DELETE FROM "{schema}".flows WHERE forget_at <= %s', (NOW,)
        ).fetchall()
    assert any("flows_forget_at" in line for (line,) in plan), plan
    store.close()


def test_saves_sweep_now_and_then(postgres_url: str, schema: str) -> None:
    store = PostgresFlowStore(postgres_url, schema=schema)
    ancient = a_flow("ancient", created_at=NOW - 10 * FLOW_RETENTION)
    store.save(ancient)
    for n in range(256):
        store.save(a_flow(f"new-{n}"))
    assert store.claim(ancient.state_hash, BINDING) == (None, False)
    store.close()


# --- refresh leases --------------------------------------------------------------------------


def test_ended_leases_are_forgotten(postgres_url: str, schema: str) -> None:
    # Holders that died never release: a later lease (of any key) forgets their rows.
    store = PostgresTokenStore(postgres_url, schema=schema)
    keys = [TokenKey(client_id=CLIENT_ID, user_id=str(n), team_id="2") for n in range(20)]
    for key in keys:
        assert store.lease(key, "dead-holder", now=NOW, ttl=30.0)
    assert not store.lease(keys[0], "live-holder", now=NOW + 29.0, ttl=30.0)
    table = f'"{schema}".leases'
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute(f"SELECT count(*) FROM {table}").fetchone() == (20,)
    assert store.lease(keys[0], "live-holder", now=NOW + 30.0, ttl=30.0)
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute(f"SELECT holder, expires_at FROM {table}").fetchall() == [
            ("live-holder", NOW + 60.0)
        ]
    store.release(keys[0], "live-holder")
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    store.close()


def test_forgetting_leases_never_waits_for_a_locked_row(postgres_url: str, schema: str) -> None:
    # Another transaction holds an ended lease row locked (it is taking that lease right
    # now): forgetting skips the row instead of waiting on it, and never deadlocks.
    store = PostgresTokenStore(postgres_url, schema=schema)
    busy, other = KEY, TokenKey(client_id=CLIENT_ID, user_id="9", team_id="9")
    assert store.lease(busy, "dead-holder", now=NOW, ttl=30.0)
    with psycopg.connect(postgres_url) as locker, locker.transaction():
        locker.execute(f'SELECT 1 FROM "{schema}".leases WHERE user_id = %s FOR UPDATE', ("1",))
        # Were the row waited for, this store would fail after 2 s instead of hanging.
        waits_2s = psycopg.conninfo.make_conninfo(postgres_url, options="-c lock_timeout=2000")
        fast = PostgresTokenStore(waits_2s, schema=schema)
        assert fast.lease(other, "live-holder", now=NOW + 60.0, ttl=30.0)
        fast.close()
    assert store.lease(busy, "live-holder", now=NOW + 60.0, ttl=30.0)
    store.close()


def test_forgetting_leases_uses_the_expires_at_index(postgres_url: str, schema: str) -> None:
    store = PostgresTokenStore(postgres_url, schema=schema)
    store.lease(KEY, "h", now=NOW, ttl=30.0)
    with psycopg.connect(postgres_url) as connection:
        connection.execute("SET enable_seqscan = off")
        plan = connection.execute(
            f'EXPLAIN SELECT 1 FROM "{schema}".leases WHERE expires_at <= %s', (NOW,)
        ).fetchall()
    assert any("leases_expires_at" in line for (line,) in plan), plan
    store.close()


# --- the single flight of a refresh, across processes (issue 9) ------------------------------


@pytest.fixture
def token_spec(postgres_url: str, schema: str) -> StoreSpec:
    return StoreSpec(
        factory="miroflow_postgres:PostgresTokenStore",
        kwargs={"conninfo": postgres_url, "schema": schema},
    )


def test_fifty_callers_in_two_processes_refresh_once(
    single_flight: Any, postgres_url: str, schema: str, token_spec: StoreSpec
) -> None:
    store = PostgresTokenStore(postgres_url, schema=schema)
    single_flight.race(store, token_spec)
    store.close()


def test_a_holder_killed_mid_refresh_is_taken_over_after_its_lease(
    single_flight: Any, postgres_url: str, schema: str, token_spec: StoreSpec
) -> None:
    store = PostgresTokenStore(postgres_url, schema=schema)
    single_flight.holder_killed(store, token_spec)
    store.close()
