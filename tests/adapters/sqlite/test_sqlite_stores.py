"""miroflow-sqlite passes the store conformance suite, and keeps its own promises."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from miroflow_sqlite import (
    SCHEMA_VERSION,
    AsyncSQLiteFlowStore,
    AsyncSQLiteTokenStore,
    SQLiteFlowStore,
    SQLiteTokenStore,
    default_path,
)

from miroflow import (
    FLOW_RETENTION,
    ConfigError,
    Flow,
    FlowState,
    RecordError,
    StoreUnavailable,
    TokenKey,
    TokenSet,
)
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


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "miroflow.sqlite3"


def a_flow(name: str = "s", *, created_at: float = NOW) -> Flow:
    return Flow(
        state=FlowState.REDIRECTED,
        state_hash=hash_state(CLIENT_ID, name),
        binding_hash=BINDING,
        created_at=created_at,
        deadline=created_at + 600,
    )


def a_token_set() -> TokenSet:
    return TokenSet(
        client_id=CLIENT_ID,
        access_token="a" * 40,
        refresh_token="r" * 40,
        user_id="1",
        team_id="2",
        obtained_at=NOW,
        expires_at=NOW + 3599,
    )


# --- the conformance suites ------------------------------------------------------------------


class TestSQLiteFlowStore(FlowStoreConformance, SweepConformance, MultiProcessClaimConformance):
    commit_fault_supported = True

    @pytest.fixture
    def flow_store(self, db_path: Path, commit_fault: CommitFault) -> SQLiteFlowStore:
        return SQLiteFlowStore(db_path, before_commit=commit_fault)

    @pytest.fixture
    def flow_store_spec(self, db_path: Path) -> StoreSpec:
        return StoreSpec(factory="miroflow_sqlite:SQLiteFlowStore", kwargs={"path": str(db_path)})


class TestSQLiteTokenStore(TokenStoreConformance):
    commit_fault_supported = True

    @pytest.fixture
    def token_store(self, db_path: Path, commit_fault: CommitFault) -> SQLiteTokenStore:
        return SQLiteTokenStore(db_path, before_commit=commit_fault)


class TestInMemorySQLiteFlowStore(FlowStoreConformance, SweepConformance):
    @pytest.fixture
    def flow_store(self) -> SQLiteFlowStore:
        return SQLiteFlowStore(":memory:")


class TestInMemorySQLiteTokenStore(TokenStoreConformance):
    @pytest.fixture
    def token_store(self) -> SQLiteTokenStore:
        return SQLiteTokenStore(":memory:")


class TestAsyncSQLiteFlowStore(AsyncFlowStoreConformance, SweepConformance):
    commit_fault_supported = True

    @pytest.fixture
    def make_async_flow_store(self, db_path: Path, commit_fault: CommitFault) -> object:
        return lambda: AsyncSQLiteFlowStore(db_path, before_commit=commit_fault)


class TestAsyncSQLiteTokenStore(AsyncTokenStoreConformance):
    commit_fault_supported = True

    @pytest.fixture
    def make_async_token_store(self, db_path: Path, commit_fault: CommitFault) -> object:
        return lambda: AsyncSQLiteTokenStore(db_path, before_commit=commit_fault)


class TestSQLiteTokenLease(TokenLeaseConformance):
    @pytest.fixture
    def token_store(self, db_path: Path) -> SQLiteTokenStore:
        return SQLiteTokenStore(db_path)


class TestAsyncSQLiteTokenLease(AsyncTokenLeaseConformance):
    @pytest.fixture
    def make_async_token_store(self, db_path: Path) -> object:
        return lambda: AsyncSQLiteTokenStore(db_path)


# --- where the file lives --------------------------------------------------------------------


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "miroflow"


def test_each_app_has_its_own_default_file(data_home: Path) -> None:
    expected = data_home / f"{CLIENT_ID}.sqlite3"
    assert default_path(CLIENT_ID) == expected
    store = SQLiteFlowStore(client_id=CLIENT_ID)
    store.save(a_flow())
    assert store.path == expected
    assert expected.is_file()
    assert SQLiteTokenStore(client_id="42").path == data_home / "42.sqlite3"
    assert AsyncSQLiteTokenStore(client_id="42").sync.path == data_home / "42.sqlite3"


def test_default_path_without_xdg_is_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".local" / "share" / "miroflow" / f"{CLIENT_ID}.sqlite3"
    assert default_path(CLIENT_ID) == expected


def test_a_path_wins_over_the_client_id(db_path: Path, data_home: Path) -> None:
    assert SQLiteFlowStore(db_path, client_id=CLIENT_ID).path == db_path


@pytest.mark.parametrize(
    "make", [SQLiteFlowStore, SQLiteTokenStore, AsyncSQLiteFlowStore, AsyncSQLiteTokenStore]
)
def test_a_store_needs_a_path_or_a_client_id(make: type) -> None:
    with pytest.raises(ConfigError, match=r"needs path= .* or client_id="):
        make()


@pytest.mark.parametrize("client_id", ["", "../escape", "a/b", ".hidden", "x\x00"])
def test_a_client_id_must_be_a_plain_file_name(client_id: str, data_home: Path) -> None:
    with pytest.raises(ConfigError, match="client_id"):
        default_path(client_id)
    with pytest.raises(ConfigError, match="client_id"):
        SQLiteTokenStore(client_id=client_id)


def test_the_old_shared_file_is_named_once_and_left_alone(
    data_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = data_home / "miroflow.sqlite3"
    SQLiteTokenStore(shared).put(a_token_set())
    before = shared.read_bytes()
    caplog.set_level(logging.WARNING, logger="miroflow")
    flows, tokens = SQLiteFlowStore(client_id=CLIENT_ID), SQLiteTokenStore(client_id=CLIENT_ID)
    flows.save(a_flow())
    assert tokens.get(a_token_set().key) is None  # nothing copied
    SQLiteTokenStore(client_id=CLIENT_ID).get(a_token_set().key)
    warnings = [r for r in caplog.records if r.name == "miroflow"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert str(shared) in warnings[0].getMessage()
    assert "path=" in warnings[0].getMessage()
    assert shared.read_bytes() == before


def test_no_warning_without_an_old_shared_file(
    data_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="miroflow")
    SQLiteFlowStore(client_id=CLIENT_ID).save(a_flow())
    assert not caplog.records


def test_a_new_database_is_readable_by_its_owner_only(data_home: Path) -> None:
    # It holds access and refresh tokens; a lax umask must not make them world-readable.
    previous = os.umask(0o022)
    try:
        store = SQLiteTokenStore(client_id=CLIENT_ID)
        store.put(a_token_set())
    finally:
        os.umask(previous)
    path = default_path(CLIENT_ID)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for sidecar in path.parent.glob(f"{path.name}-*"):
        assert stat.S_IMODE(sidecar.stat().st_mode) & 0o077 == 0


def test_an_existing_database_readable_by_others_is_made_owner_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Made by something else (an older miroflow, a copy, a umask of 022): it holds tokens.
    path = tmp_path / "tokens.sqlite3"
    SQLiteTokenStore(path).put(a_token_set())
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="miroflow"):
        store = SQLiteTokenStore(path)
        assert store.get(a_token_set().key) is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "readable by others" in caplog.text and "644" in caplog.text


# --- the file's own promises -----------------------------------------------------------------


def test_uses_wal_mode(db_path: Path) -> None:
    SQLiteFlowStore(db_path).save(a_flow())
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_keys_and_bindings_are_raw_digests(db_path: Path) -> None:
    flow = a_flow()
    SQLiteFlowStore(db_path).save(flow)
    with sqlite3.connect(db_path) as connection:
        row = connection.execute("SELECT state_hash, binding_hash FROM miroflow_flows").fetchone()
    assert row == (flow.state_hash, flow.binding_hash)
    assert len(row[0]) == 32


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    SQLiteFlowStore(db_path).save(a_flow())
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE miroflow_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(RecordError, match=f"schema version {SCHEMA_VERSION + 1}.*Upgrade"):
        SQLiteFlowStore(db_path).claim(a_flow().state_hash, BINDING)


def test_a_newer_record_is_refused_and_not_claimed(db_path: Path) -> None:
    store = SQLiteFlowStore(db_path)
    store.save(a_flow())
    with sqlite3.connect(db_path) as connection:
        (record,) = connection.execute("SELECT record FROM miroflow_flows").fetchone()
        newer = json.loads(record) | {"v": 99}
        connection.execute("UPDATE miroflow_flows SET record = ?", (json.dumps(newer),))
    with pytest.raises(RecordError, match="schema version 99"):
        store.claim(a_flow().state_hash, BINDING)
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT claimed FROM miroflow_flows").fetchone() == (0,)


def test_an_unusable_path_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    store = SQLiteFlowStore(blocker / "miroflow.sqlite3")
    with pytest.raises(StoreUnavailable, match=r"SQLite database at .*a-file"):
        store.claim(a_flow().state_hash, BINDING)


def test_sweep_deletes_the_rows(db_path: Path) -> None:
    store = SQLiteFlowStore(db_path)
    old, young = a_flow("old"), a_flow("young", created_at=NOW + 100)
    store.save(old)
    store.save(young)
    assert store.sweep(old.forget_at) == 1
    assert asyncio.run(AsyncSQLiteFlowStore(sync=store).sweep(young.forget_at)) == 1
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT count(*) FROM miroflow_flows").fetchone() == (0,)


def test_sweeping_uses_the_forget_at_index(db_path: Path) -> None:
    # O(forgotten), never O(live): the planner walks the index, not the table.
    SQLiteFlowStore(db_path).save(a_flow())
    with sqlite3.connect(db_path) as connection:
        plan = connection.execute(
            "EXPLAIN QUERY PLAN DELETE FROM miroflow_flows WHERE forget_at <= ?", (NOW,)
        ).fetchall()
    assert any("miroflow_flows_forget_at" in str(step) for step in plan), plan


def test_saves_sweep_now_and_then(db_path: Path) -> None:
    store = SQLiteFlowStore(db_path)
    ancient = a_flow("ancient", created_at=NOW - 10 * FLOW_RETENTION)
    store.save(ancient)
    for n in range(256):
        store.save(a_flow(f"new-{n}"))
    assert store.claim(ancient.state_hash, BINDING) == (None, False)


def test_stores_share_one_file(db_path: Path) -> None:
    first, second = SQLiteFlowStore(db_path), SQLiteFlowStore(db_path)
    flow = a_flow()
    first.save(flow)
    assert second.claim(flow.state_hash, BINDING) == (flow, True)
    assert first.claim(flow.state_hash, BINDING) == (flow, False)
    first.close()
    assert first.claim(flow.state_hash, BINDING) == (flow, False)


# --- refresh leases --------------------------------------------------------------------------


def test_ended_leases_are_forgotten(db_path: Path) -> None:
    # Holders that died never release: a later lease (of any key) forgets their rows.
    store = SQLiteTokenStore(db_path)
    keys = [TokenKey(client_id=CLIENT_ID, user_id=str(n), team_id="2") for n in range(20)]
    for key in keys:
        assert store.lease(key, "dead-holder", now=NOW, ttl=30.0)
    assert store.lease(keys[0], "live-holder", now=NOW + 29.0, ttl=30.0) is False
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT count(*) FROM miroflow_leases").fetchone() == (20,)
    assert store.lease(keys[0], "live-holder", now=NOW + 30.0, ttl=30.0)
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT holder, expires_at FROM miroflow_leases").fetchall() == [
            ("live-holder", NOW + 60.0)
        ]
    store.release(keys[0], "live-holder")
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT count(*) FROM miroflow_leases").fetchone() == (0,)


def test_forgetting_leases_uses_the_expires_at_index(db_path: Path) -> None:
    SQLiteTokenStore(db_path).lease(a_token_set().key, "h", now=NOW, ttl=30.0)
    with sqlite3.connect(db_path) as connection:
        plan = connection.execute(
            "EXPLAIN QUERY PLAN DELETE FROM miroflow_leases WHERE expires_at <= ?", (NOW,)
        ).fetchall()
    assert any("miroflow_leases_expires_at" in str(step) for step in plan), plan


# --- the single flight of a refresh, across processes (issue 9) ------------------------------


def test_fifty_callers_in_two_processes_refresh_once(single_flight: Any, db_path: Path) -> None:
    spec = StoreSpec(factory="miroflow_sqlite:SQLiteTokenStore", kwargs={"path": str(db_path)})
    single_flight.race(SQLiteTokenStore(db_path), spec)


def test_a_holder_killed_mid_refresh_is_taken_over_after_its_lease(
    single_flight: Any, db_path: Path
) -> None:
    spec = StoreSpec(factory="miroflow_sqlite:SQLiteTokenStore", kwargs={"path": str(db_path)})
    single_flight.holder_killed(SQLiteTokenStore(db_path), spec)
