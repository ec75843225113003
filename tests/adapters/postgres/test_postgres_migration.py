"""A schema made by miroflow-postgres 0.1 (tables version 1) opens as version 3: its flows are
dropped, its tokens wait for their app and move to it on first use. One made by 0.2.0 (tables
version 2) gains the leases table and keeps everything else."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from miroflow_postgres import (
    SCHEMA_VERSION,
    AsyncPostgresTokenStore,
    PostgresFlowStore,
    PostgresTokenStore,
)

from miroflow import Flow, FlowState, RecordError, StaleTokenWrite, StoredTokens, TokenKey
from miroflow.machine import hash_binding, hash_state
from miroflow.records import dumps_flow, dumps_tokens
from miroflow.testing.legacy import adopted, v1_flow_record, v1_token_record

NOW = 1_900_000_000.0
APP, OTHER_APP = "3074457363680401096", "3074457363680401097"
KEY = TokenKey(client_id=APP, user_id="1", team_id="2")

# The tables exactly as miroflow-postgres 0.1 created them ({s} is the quoted schema).
V1_SCHEMA = (
    "CREATE SCHEMA {s}",
    "CREATE TABLE {s}.schema_version (version integer NOT NULL)",
    "INSERT INTO {s}.schema_version (version) VALUES (1)",
    "CREATE TABLE {s}.flows (state_hash text PRIMARY KEY,"
    " record bytea NOT NULL, deadline double precision NOT NULL,"
    " forget_at double precision NOT NULL, claimed boolean NOT NULL)",
    "CREATE INDEX flows_forget_at ON {s}.flows (forget_at)",
    "CREATE TABLE {s}.tokens (user_id text NOT NULL,"
    " team_id text NOT NULL, record bytea NOT NULL, version bigint NOT NULL,"
    " PRIMARY KEY (user_id, team_id))",
)

# Records as miroflow 0.1 wrote them: no client id in a token set, hex hashes in a flow.
V1_TOKENS = v1_token_record(now=NOW)
V1_FLOW = v1_flow_record(now=NOW)
ADOPTED = adopted(V1_TOKENS, APP)


@pytest.fixture
def v1_schema(postgres_url: str) -> Iterator[str]:
    """A version 1 schema holding one flow and one token set (at version 3); dropped after."""
    name = f"miroflow_test_{uuid.uuid4().hex}"
    quoted = f'"{name}"'
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        for statement in V1_SCHEMA:
            connection.execute(statement.format(s=quoted))
        connection.execute(
            f"INSERT INTO {quoted}.flows VALUES (%s, %s, %s, %s, false)",
            (V1_FLOW["state_hash"], json.dumps(V1_FLOW).encode(), NOW + 600, NOW + 4200),
        )
        connection.execute(
            f"INSERT INTO {quoted}.tokens VALUES ('1', '2', %s, 3)",
            (json.dumps(V1_TOKENS).encode(),),
        )
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {quoted} CASCADE")


def rows(postgres_url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(postgres_url) as connection:
        return connection.execute(query).fetchall()


@pytest.fixture
def tokens(postgres_url: str, v1_schema: str) -> Iterator[PostgresTokenStore]:
    store = PostgresTokenStore(postgres_url, schema=v1_schema)
    yield store
    store.close()


def test_tokens_are_adopted_by_the_first_app_that_reads_them(
    postgres_url: str, v1_schema: str, tokens: PostgresTokenStore
) -> None:
    assert tokens.get(KEY) == StoredTokens(tokens=ADOPTED, version=3)
    table = f'"{v1_schema}".tokens'
    assert rows(postgres_url, f'SELECT version FROM "{v1_schema}".schema_version') == [
        (SCHEMA_VERSION,)
    ]
    ((client_id, record, version),) = rows(
        postgres_url, f"SELECT client_id, record, version FROM {table}"
    )
    assert (client_id, version) == (APP, 3)
    assert isinstance(record, bytes)
    assert json.loads(record)["v"] == 2
    assert json.loads(record)["client_id"] == APP
    # Moved, not copied: another app finds nothing; the adopter keeps finding its tokens.
    assert tokens.get(TokenKey(client_id=OTHER_APP, user_id="1", team_id="2")) is None
    assert tokens.get(KEY) == StoredTokens(tokens=ADOPTED, version=3)
    assert tokens.put(ADOPTED, expected_version=3).version == 4


def test_a_write_adopts_tokens_and_keeps_their_version(
    postgres_url: str, v1_schema: str, tokens: PostgresTokenStore
) -> None:
    with pytest.raises(StaleTokenWrite, match="version 3, not 0"):
        tokens.put(ADOPTED, expected_version=0)
    assert tokens.put(ADOPTED, expected_version=3) == StoredTokens(tokens=ADOPTED, version=4)
    assert rows(postgres_url, f'SELECT client_id, version FROM "{v1_schema}".tokens') == [(APP, 4)]


def test_an_unconditional_write_adopts_tokens_too(
    postgres_url: str, v1_schema: str, tokens: PostgresTokenStore
) -> None:
    assert tokens.put(ADOPTED).version == 4
    assert rows(postgres_url, f'SELECT client_id, version FROM "{v1_schema}".tokens') == [(APP, 4)]


def test_deleted_tokens_are_never_adopted_afterwards(
    postgres_url: str, v1_schema: str, tokens: PostgresTokenStore
) -> None:
    tokens.delete(KEY)
    assert tokens.get(KEY) is None
    assert rows(postgres_url, f'SELECT count(*) FROM "{v1_schema}".tokens') == [(0,)]


def test_other_users_and_teams_adopt_nothing(
    postgres_url: str, v1_schema: str, tokens: PostgresTokenStore
) -> None:
    assert tokens.get(TokenKey(client_id=APP, user_id="1", team_id="3")) is None
    assert tokens.get(TokenKey(client_id=APP, user_id="9", team_id="2")) is None
    assert rows(postgres_url, f'SELECT client_id FROM "{v1_schema}".tokens') == [("",)]


def test_async_stores_adopt_too(postgres_url: str, v1_schema: str) -> None:
    async def get() -> StoredTokens | None:
        store = AsyncPostgresTokenStore(postgres_url, schema=v1_schema)
        try:
            return await store.get(KEY)
        finally:
            await store.aclose()

    assert asyncio.run(get()) == StoredTokens(tokens=ADOPTED, version=3)


def test_version_1_flows_are_dropped(postgres_url: str, v1_schema: str) -> None:
    flows = PostgresFlowStore(postgres_url, schema=v1_schema)
    old = bytes.fromhex(str(V1_FLOW["state_hash"]))
    assert flows.claim(old, hash_binding("old-binding")) == (None, False)
    assert rows(postgres_url, f'SELECT count(*) FROM "{v1_schema}".flows') == [(0,)]
    indexes = rows(
        postgres_url,
        f"SELECT indexname FROM pg_indexes WHERE schemaname = '{v1_schema}'"
        " AND tablename = 'flows' ORDER BY indexname",
    )
    assert indexes == [("flows_forget_at",), ("flows_pkey",)]
    flows.close()


def test_concurrent_openers_migrate_once(postgres_url: str, v1_schema: str) -> None:
    # Separate pools, as separate worker processes would have: the advisory lock orders
    # them; one migrates, the others find version 2.
    openers = 8
    stores = [PostgresTokenStore(postgres_url, schema=v1_schema, max_size=1) for _ in range(8)]
    gate = threading.Barrier(openers)
    results: list[object] = []

    def open_and_read(store: PostgresTokenStore) -> None:
        gate.wait()
        try:
            results.append(store.get(KEY))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=open_and_read, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert results == [StoredTokens(tokens=ADOPTED, version=3)] * openers
    assert rows(postgres_url, f'SELECT version FROM "{v1_schema}".schema_version') == [
        (SCHEMA_VERSION,)
    ]
    assert rows(postgres_url, f'SELECT client_id, version FROM "{v1_schema}".tokens') == [(APP, 3)]


def test_a_corrupt_legacy_row_is_refused_and_left_in_place(
    postgres_url: str, v1_schema: str, tokens: PostgresTokenStore
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'UPDATE "{v1_schema}".tokens SET record = %s', (b'{"v": 1}',))
    with pytest.raises(RecordError):
        tokens.get(KEY)
    assert rows(postgres_url, f'SELECT client_id FROM "{v1_schema}".tokens') == [("",)]


# --- tables version 2 (miroflow-postgres 0.2.0) to 3: the leases table ----------------------

# The tables exactly as miroflow-postgres 0.2.0 created them ({s} is the quoted schema).
V2_SCHEMA = (
    "CREATE SCHEMA {s}",
    "CREATE TABLE {s}.schema_version (version integer NOT NULL)",
    "INSERT INTO {s}.schema_version (version) VALUES (2)",
    "CREATE TABLE {s}.flows (state_hash bytea PRIMARY KEY, binding_hash bytea,"
    " record bytea NOT NULL, deadline double precision NOT NULL,"
    " forget_at double precision NOT NULL, claimed boolean NOT NULL)",
    "CREATE INDEX flows_forget_at ON {s}.flows (forget_at)",
    "CREATE TABLE {s}.tokens (client_id text NOT NULL, user_id text NOT NULL,"
    " team_id text NOT NULL, record bytea NOT NULL, version bigint NOT NULL,"
    " PRIMARY KEY (client_id, user_id, team_id))",
)
V2_FLOW = Flow(
    state=FlowState.REDIRECTED,
    state_hash=hash_state(APP, "v2-state"),
    binding_hash=hash_binding("v2-binding"),
    created_at=NOW,
    deadline=NOW + 600,
)


@pytest.fixture
def v2_schema(postgres_url: str) -> Iterator[str]:
    """A version 2 schema holding one flow and this app's tokens (at version 5)."""
    name = f"miroflow_test_{uuid.uuid4().hex}"
    quoted = f'"{name}"'
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        for statement in V2_SCHEMA:
            connection.execute(statement.format(s=quoted))
        flow = V2_FLOW
        connection.execute(
            f"INSERT INTO {quoted}.flows VALUES (%s, %s, %s, %s, %s, false)",
            (flow.state_hash, flow.binding_hash, dumps_flow(flow), flow.deadline, flow.forget_at),
        )
        connection.execute(
            f"INSERT INTO {quoted}.tokens VALUES (%s, '1', '2', %s, 5)",
            (APP, dumps_tokens(ADOPTED)),
        )
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {quoted} CASCADE")


def test_version_2_gains_the_leases_table_and_keeps_everything(
    postgres_url: str, v2_schema: str
) -> None:
    tokens = PostgresTokenStore(postgres_url, schema=v2_schema)
    assert tokens.lease(KEY, "worker-1", now=NOW, ttl=30.0)
    assert SCHEMA_VERSION == 3
    assert rows(postgres_url, f'SELECT version FROM "{v2_schema}".schema_version') == [(3,)]
    assert rows(postgres_url, f'SELECT holder, expires_at FROM "{v2_schema}".leases') == [
        ("worker-1", NOW + 30.0)
    ]
    indexes = rows(
        postgres_url,
        f"SELECT indexname FROM pg_indexes WHERE schemaname = '{v2_schema}'"
        " AND tablename = 'leases' ORDER BY indexname",
    )
    assert indexes == [("leases_expires_at",), ("leases_pkey",)]
    # Tokens and flows are untouched: same rows, same versions, still claimable.
    assert tokens.get(KEY) == StoredTokens(tokens=ADOPTED, version=5)
    tokens.close()
    flows = PostgresFlowStore(postgres_url, schema=v2_schema)
    assert flows.claim(V2_FLOW.state_hash, V2_FLOW.binding_hash) == (V2_FLOW, True)
    flows.close()


def test_concurrent_openers_of_version_2_migrate_once(postgres_url: str, v2_schema: str) -> None:
    openers = 8
    stores = [PostgresTokenStore(postgres_url, schema=v2_schema, max_size=1) for _ in range(8)]
    gate = threading.Barrier(openers)
    results: list[object] = []

    def open_and_lease(n: int) -> None:
        gate.wait()
        try:
            results.append(stores[n].lease(KEY, f"worker-{n}", now=NOW, ttl=30.0))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=open_and_lease, args=(n,)) for n in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert sorted(results, key=repr) == [False] * (openers - 1) + [True]
    assert rows(postgres_url, f'SELECT version FROM "{v2_schema}".schema_version') == [(3,)]


def test_version_1_reaches_version_3_in_one_move(
    postgres_url: str, v1_schema: str, tokens: PostgresTokenStore
) -> None:
    assert tokens.lease(KEY, "worker-1", now=NOW, ttl=30.0)
    assert rows(postgres_url, f'SELECT version FROM "{v1_schema}".schema_version') == [(3,)]
    assert tokens.get(KEY) == StoredTokens(tokens=ADOPTED, version=3)
    assert not tokens.lease(KEY, "worker-2", now=NOW + 1, ttl=30.0)
