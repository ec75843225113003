"""miroflow-sqlite passes the store conformance suite, and keeps its own promises."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
from pathlib import Path

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
    ClaimOutcome,
    Flow,
    FlowState,
    RecordError,
    StoreUnavailable,
    TokenSet,
    hash_secret,
)
from miroflow.testing.stores import (
    AsyncFlowStoreConformance,
    AsyncTokenStoreConformance,
    CommitFault,
    FlowStoreConformance,
    MultiProcessClaimConformance,
    StoreSpec,
    TokenStoreConformance,
)

NOW = 1_900_000_000.0


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "miroflow.sqlite3"


def a_flow(name: str = "s", *, created_at: float = NOW) -> Flow:
    return Flow(
        state=FlowState.PENDING,
        state_hash=hash_secret(name),
        binding_hash=hash_secret("b"),
        created_at=created_at,
        deadline=created_at + 600,
    )


def a_token_set() -> TokenSet:
    return TokenSet(
        access_token="a" * 40,
        refresh_token="r" * 40,
        user_id="1",
        team_id="2",
        obtained_at=NOW,
        expires_at=NOW + 3599,
    )


class TestSQLiteFlowStore(FlowStoreConformance, MultiProcessClaimConformance):
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


class TestInMemorySQLiteFlowStore(FlowStoreConformance):
    @pytest.fixture
    def flow_store(self) -> SQLiteFlowStore:
        return SQLiteFlowStore(":memory:")


class TestAsyncSQLiteFlowStore(AsyncFlowStoreConformance):
    commit_fault_supported = True

    @pytest.fixture
    def make_async_flow_store(self, db_path: Path, commit_fault: CommitFault) -> object:
        return lambda: AsyncSQLiteFlowStore(db_path, before_commit=commit_fault)


class TestAsyncSQLiteTokenStore(AsyncTokenStoreConformance):
    commit_fault_supported = True

    @pytest.fixture
    def make_async_token_store(self, db_path: Path, commit_fault: CommitFault) -> object:
        return lambda: AsyncSQLiteTokenStore(db_path, before_commit=commit_fault)


def test_default_path_honours_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    expected = tmp_path / "data" / "miroflow" / "miroflow.sqlite3"
    assert default_path() == expected
    store = SQLiteFlowStore()
    store.save(a_flow())
    assert store.path == expected
    assert expected.is_file()


def test_default_path_without_xdg_is_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_path() == tmp_path / ".local" / "share" / "miroflow" / "miroflow.sqlite3"


def test_a_new_database_is_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It holds access and refresh tokens; a lax umask must not make them world-readable.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    previous = os.umask(0o022)
    try:
        store = SQLiteTokenStore()
        store.put(a_token_set())
    finally:
        os.umask(previous)
    assert stat.S_IMODE(default_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(default_path().parent.stat().st_mode) == 0o700
    for sidecar in default_path().parent.glob("miroflow.sqlite3-*"):
        assert stat.S_IMODE(sidecar.stat().st_mode) & 0o077 == 0


def test_uses_wal_mode(db_path: Path) -> None:
    SQLiteFlowStore(db_path).save(a_flow())
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    SQLiteFlowStore(db_path).save(a_flow())
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE miroflow_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(RecordError, match=f"schema version {SCHEMA_VERSION + 1}.*Upgrade"):
        SQLiteFlowStore(db_path).claim(hash_secret("s"), NOW)


def test_a_newer_record_is_refused_and_not_claimed(db_path: Path) -> None:
    store = SQLiteFlowStore(db_path)
    store.save(a_flow())
    with sqlite3.connect(db_path) as connection:
        (record,) = connection.execute("SELECT record FROM miroflow_flows").fetchone()
        newer = json.loads(record) | {"v": 99}
        connection.execute("UPDATE miroflow_flows SET record = ?", (json.dumps(newer),))
    with pytest.raises(RecordError, match="schema version 99"):
        store.claim(hash_secret("s"), NOW)
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT claimed FROM miroflow_flows").fetchone() == (0,)


def test_an_unusable_path_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    store = SQLiteFlowStore(blocker / "miroflow.sqlite3")
    with pytest.raises(StoreUnavailable, match=r"SQLite database at .*a-file"):
        store.claim(hash_secret("s"), NOW)


def test_sweep_forgets_flows_past_retention(db_path: Path) -> None:
    store = SQLiteFlowStore(db_path)
    old, young = a_flow("old"), a_flow("young", created_at=NOW + 100)
    store.save(old)
    store.save(young)
    assert store.sweep(old.deadline + FLOW_RETENTION - 1) == 0
    assert store.sweep(old.deadline + FLOW_RETENTION) == 1
    assert store.claim(young.state_hash, NOW + 100).outcome is ClaimOutcome.CLAIMED
    assert asyncio.run(AsyncSQLiteFlowStore(sync=store).sweep(young.deadline + FLOW_RETENTION))
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT count(*) FROM miroflow_flows").fetchone() == (0,)


def test_saves_sweep_now_and_then(db_path: Path) -> None:
    store = SQLiteFlowStore(db_path)
    store.save(a_flow("ancient", created_at=NOW - 10 * FLOW_RETENTION))
    for n in range(256):
        store.save(a_flow(f"new-{n}"))
    assert store.claim(hash_secret("ancient"), NOW - 10 * FLOW_RETENTION).outcome is (
        ClaimOutcome.UNKNOWN
    )


def test_stores_share_one_file(db_path: Path) -> None:
    first, second = SQLiteFlowStore(db_path), SQLiteFlowStore(db_path)
    first.save(a_flow())
    assert second.claim(hash_secret("s"), NOW).outcome is ClaimOutcome.CLAIMED
    assert first.claim(hash_secret("s"), NOW).outcome is ClaimOutcome.ALREADY_CLAIMED
    first.close()
    assert first.claim(hash_secret("s"), NOW).outcome is ClaimOutcome.ALREADY_CLAIMED
