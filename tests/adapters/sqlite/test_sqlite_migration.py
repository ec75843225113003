"""A database made by miroflow-sqlite 0.1 (tables version 1) opens as version 3: its flows are
dropped, its tokens wait for their app and move to it on first use. One made by 0.2.0 (tables
version 2) gains the leases table and keeps everything else."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path

import pytest
from miroflow_sqlite import SCHEMA_VERSION, AsyncSQLiteTokenStore, SQLiteFlowStore, SQLiteTokenStore

from miroflow import Flow, FlowState, RecordError, StaleTokenWrite, StoredTokens, TokenKey
from miroflow.machine import hash_binding, hash_state
from miroflow.records import dumps_flow, dumps_tokens
from miroflow.testing.legacy import adopted, v1_flow_record, v1_token_record

NOW = 1_900_000_000.0
APP, OTHER_APP = "3074457363680401096", "3074457363680401097"
KEY = TokenKey(client_id=APP, user_id="1", team_id="2")

# The tables exactly as miroflow-sqlite 0.1 created them.
V1_SCHEMA = (
    "CREATE TABLE miroflow_schema (version INTEGER NOT NULL)",
    "INSERT INTO miroflow_schema (version) VALUES (1)",
    "CREATE TABLE miroflow_flows ("
    " state_hash TEXT PRIMARY KEY, record BLOB NOT NULL, deadline REAL NOT NULL,"
    " forget_at REAL NOT NULL, claimed INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID",
    "CREATE INDEX miroflow_flows_forget_at ON miroflow_flows (forget_at)",
    "CREATE TABLE miroflow_tokens ("
    " user_id TEXT NOT NULL, team_id TEXT NOT NULL, record BLOB NOT NULL,"
    " version INTEGER NOT NULL, PRIMARY KEY (user_id, team_id)) WITHOUT ROWID",
)

# Records as miroflow 0.1 wrote them: no client id in a token set, hex hashes in a flow.
V1_TOKENS = v1_token_record(now=NOW)
V1_FLOW = v1_flow_record(now=NOW)
ADOPTED = adopted(V1_TOKENS, APP)


@pytest.fixture
def v1_path(tmp_path: Path) -> Path:
    """A version 1 database holding one flow and one token set (at version 3)."""
    path = tmp_path / "miroflow.sqlite3"
    with sqlite3.connect(path, isolation_level=None) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        for statement in V1_SCHEMA:
            connection.execute(statement)
        connection.execute(
            "INSERT INTO miroflow_flows VALUES (?, ?, ?, ?, 0)",
            (V1_FLOW["state_hash"], json.dumps(V1_FLOW), NOW + 600, NOW + 4200),
        )
        connection.execute(
            "INSERT INTO miroflow_tokens VALUES ('1', '2', ?, 3)", (json.dumps(V1_TOKENS),)
        )
    connection.close()
    return path


def rows(path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        found = connection.execute(query).fetchall()
    connection.close()
    return found


def test_tokens_are_adopted_by_the_first_app_that_reads_them(v1_path: Path) -> None:
    store = SQLiteTokenStore(v1_path)
    assert store.get(KEY) == StoredTokens(tokens=ADOPTED, version=3)
    assert rows(v1_path, "SELECT version FROM miroflow_schema") == [(SCHEMA_VERSION,)]
    ((client_id, record, version),) = rows(
        v1_path, "SELECT client_id, record, version FROM miroflow_tokens"
    )
    assert (client_id, version) == (APP, 3)
    assert isinstance(record, bytes)
    assert json.loads(record)["v"] == 2
    assert json.loads(record)["client_id"] == APP
    # Moved, not copied: another app finds nothing; the adopter keeps finding its tokens.
    assert store.get(TokenKey(client_id=OTHER_APP, user_id="1", team_id="2")) is None
    assert SQLiteTokenStore(v1_path).get(KEY) == StoredTokens(tokens=ADOPTED, version=3)
    assert store.put(ADOPTED, expected_version=3).version == 4


def test_a_write_adopts_tokens_and_keeps_their_version(v1_path: Path) -> None:
    store = SQLiteTokenStore(v1_path)
    with pytest.raises(StaleTokenWrite, match="version 3, not 0"):
        store.put(ADOPTED, expected_version=0)
    assert store.put(ADOPTED, expected_version=3) == StoredTokens(tokens=ADOPTED, version=4)
    assert rows(v1_path, "SELECT client_id, version FROM miroflow_tokens") == [(APP, 4)]


def test_an_unconditional_write_adopts_tokens_too(v1_path: Path) -> None:
    assert SQLiteTokenStore(v1_path).put(ADOPTED).version == 4
    assert rows(v1_path, "SELECT client_id, version FROM miroflow_tokens") == [(APP, 4)]


def test_deleted_tokens_are_never_adopted_afterwards(v1_path: Path) -> None:
    store = SQLiteTokenStore(v1_path)
    store.delete(KEY)
    assert store.get(KEY) is None
    assert rows(v1_path, "SELECT count(*) FROM miroflow_tokens") == [(0,)]


def test_other_users_and_teams_adopt_nothing(v1_path: Path) -> None:
    store = SQLiteTokenStore(v1_path)
    assert store.get(TokenKey(client_id=APP, user_id="1", team_id="3")) is None
    assert store.get(TokenKey(client_id=APP, user_id="9", team_id="2")) is None
    assert rows(v1_path, "SELECT client_id FROM miroflow_tokens") == [("",)]


def test_async_stores_adopt_too(v1_path: Path) -> None:
    async def get() -> StoredTokens | None:
        store = AsyncSQLiteTokenStore(v1_path)
        try:
            return await store.get(KEY)
        finally:
            await store.aclose()

    assert asyncio.run(get()) == StoredTokens(tokens=ADOPTED, version=3)


def test_version_1_flows_are_dropped(v1_path: Path) -> None:
    flows = SQLiteFlowStore(v1_path)
    old = bytes.fromhex(str(V1_FLOW["state_hash"]))
    assert flows.claim(old, hash_binding("old-binding")) == (None, False)
    assert rows(v1_path, "SELECT count(*) FROM miroflow_flows") == [(0,)]
    # The new table takes new flows, and forgets them through its index.
    assert rows(
        v1_path, "SELECT name FROM sqlite_master WHERE tbl_name = 'miroflow_flows' AND sql NOTNULL"
    ) == [("miroflow_flows",), ("miroflow_flows_forget_at",)]
    assert flows.claim(hash_state(APP, "new"), None) == (None, False)


def test_concurrent_openers_migrate_once(v1_path: Path) -> None:
    # Each store has its own connection, so SQLite's file locks order them exactly as they
    # would order two processes: one migrates, the others wait and find version 2.
    openers = 8
    stores = [SQLiteTokenStore(v1_path) for _ in range(openers)]
    gate = threading.Barrier(openers)
    results: list[object] = []

    def open_and_read(store: SQLiteTokenStore) -> None:
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
    assert results == [StoredTokens(tokens=ADOPTED, version=3)] * openers
    assert rows(v1_path, "SELECT version FROM miroflow_schema") == [(SCHEMA_VERSION,)]
    assert rows(v1_path, "SELECT client_id, version FROM miroflow_tokens") == [(APP, 3)]


def test_a_corrupt_legacy_row_is_refused_and_left_in_place(v1_path: Path) -> None:
    with sqlite3.connect(v1_path) as connection:
        connection.execute("UPDATE miroflow_tokens SET record = ?", (b'{"v": 1}',))
    connection.close()
    store = SQLiteTokenStore(v1_path)
    store.get(TokenKey(client_id=OTHER_APP, user_id="7", team_id="7"))  # migrates
    with pytest.raises(RecordError):
        store.get(KEY)
    assert rows(v1_path, "SELECT client_id FROM miroflow_tokens") == [("",)]


# --- tables version 2 (miroflow-sqlite 0.2.0) to 3: the leases table ------------------------

# The tables exactly as miroflow-sqlite 0.2.0 created them.
V2_SCHEMA = (
    "CREATE TABLE miroflow_schema (version INTEGER NOT NULL)",
    "INSERT INTO miroflow_schema (version) VALUES (2)",
    "CREATE TABLE miroflow_flows ("
    " state_hash BLOB PRIMARY KEY, binding_hash BLOB, record BLOB NOT NULL,"
    " deadline REAL NOT NULL, forget_at REAL NOT NULL, claimed INTEGER NOT NULL DEFAULT 0)"
    " WITHOUT ROWID",
    "CREATE INDEX miroflow_flows_forget_at ON miroflow_flows (forget_at)",
    "CREATE TABLE miroflow_tokens ("
    " client_id TEXT NOT NULL, user_id TEXT NOT NULL, team_id TEXT NOT NULL,"
    " record BLOB NOT NULL, version INTEGER NOT NULL,"
    " PRIMARY KEY (client_id, user_id, team_id)) WITHOUT ROWID",
)
V2_FLOW = Flow(
    state=FlowState.REDIRECTED,
    state_hash=hash_state(APP, "v2-state"),
    binding_hash=hash_binding("v2-binding"),
    created_at=NOW,
    deadline=NOW + 600,
)


@pytest.fixture
def v2_path(tmp_path: Path) -> Path:
    """A version 2 database holding one flow and this app's tokens (at version 5)."""
    path = tmp_path / f"{APP}.sqlite3"
    with sqlite3.connect(path, isolation_level=None) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        for statement in V2_SCHEMA:
            connection.execute(statement)
        connection.execute(
            "INSERT INTO miroflow_flows VALUES (?, ?, ?, ?, ?, 0)",
            (
                V2_FLOW.state_hash,
                V2_FLOW.binding_hash,
                dumps_flow(V2_FLOW),
                V2_FLOW.deadline,
                V2_FLOW.forget_at,
            ),
        )
        connection.execute(
            "INSERT INTO miroflow_tokens VALUES (?, '1', '2', ?, 5)", (APP, dumps_tokens(ADOPTED))
        )
    connection.close()
    return path


def test_version_2_gains_the_leases_table_and_keeps_everything(v2_path: Path) -> None:
    tokens = SQLiteTokenStore(v2_path)
    assert tokens.lease(KEY, "worker-1", now=NOW, ttl=30.0)
    assert rows(v2_path, "SELECT version FROM miroflow_schema") == [(SCHEMA_VERSION,)]
    assert SCHEMA_VERSION == 3
    assert rows(
        v2_path, "SELECT name FROM sqlite_master WHERE tbl_name = 'miroflow_leases' AND sql NOTNULL"
    ) == [("miroflow_leases",), ("miroflow_leases_expires_at",)]
    assert rows(v2_path, "SELECT holder, expires_at FROM miroflow_leases") == [
        ("worker-1", NOW + 30.0)
    ]
    # Tokens and flows are untouched: same rows, same versions, still claimable.
    assert tokens.get(KEY) == StoredTokens(tokens=ADOPTED, version=5)
    assert SQLiteFlowStore(v2_path).claim(V2_FLOW.state_hash, V2_FLOW.binding_hash) == (
        V2_FLOW,
        True,
    )


def test_concurrent_openers_of_version_2_migrate_once(v2_path: Path) -> None:
    openers = 8
    stores = [SQLiteTokenStore(v2_path) for _ in range(openers)]
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
    assert sorted(results, key=repr) == [False] * (openers - 1) + [True]
    assert rows(v2_path, "SELECT version FROM miroflow_schema") == [(SCHEMA_VERSION,)]


def test_version_1_reaches_version_3_in_one_move(v1_path: Path) -> None:
    store = SQLiteTokenStore(v1_path)
    assert store.lease(KEY, "worker-1", now=NOW, ttl=30.0)
    assert rows(v1_path, "SELECT version FROM miroflow_schema") == [(SCHEMA_VERSION,)]
    assert store.get(KEY) == StoredTokens(tokens=ADOPTED, version=3)
    assert not store.lease(KEY, "worker-2", now=NOW + 1, ttl=30.0)
