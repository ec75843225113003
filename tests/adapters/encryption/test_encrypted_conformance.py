"""The encrypting wrappers are token stores like any other: miroflow's token-store and lease
conformance suites, run through ``EncryptedTokenStore`` / ``AsyncEncryptedTokenStore`` over
the memory, SQLite, Redis and PostgreSQL stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from miroflow_encryption import AsyncEncryptedTokenStore, EncryptedTokenStore, KeyRing
from miroflow_postgres import AsyncPostgresTokenStore, PostgresTokenStore
from miroflow_redis import AsyncRedisTokenStore, RedisTokenStore
from miroflow_sqlite import AsyncSQLiteTokenStore, SQLiteTokenStore

import miroflow
from miroflow.testing.leases import AsyncTokenLeaseConformance, TokenLeaseConformance
from miroflow.testing.stores import (
    AsyncTokenStoreConformance,
    CommitFault,
    TokenStoreConformance,
)

# --- memory ----------------------------------------------------------------------------------


class TestEncryptedMemoryTokenStore(TokenStoreConformance, TokenLeaseConformance):
    @pytest.fixture
    def token_store(self, ring: KeyRing) -> EncryptedTokenStore:
        return EncryptedTokenStore(miroflow.MemoryTokenStore(), ring)


class TestAsyncEncryptedMemoryTokenStore(AsyncTokenStoreConformance):
    @pytest.fixture
    def make_async_token_store(self, ring: KeyRing) -> object:
        return lambda: AsyncEncryptedTokenStore(miroflow.AsyncMemoryTokenStore(), ring)


class TestAsyncEncryptedMemoryTokenLease(AsyncTokenLeaseConformance):
    @pytest.fixture
    def make_async_token_store(self, ring: KeyRing) -> object:
        return lambda: AsyncEncryptedTokenStore(miroflow.AsyncMemoryTokenStore(), ring)


# --- SQLite ----------------------------------------------------------------------------------


class TestEncryptedSQLiteTokenStore(TokenStoreConformance, TokenLeaseConformance):
    commit_fault_supported = True  # the fault reaches the SQLite store under the wrapper

    @pytest.fixture
    def token_store(
        self, tmp_path: Path, ring: KeyRing, commit_fault: CommitFault
    ) -> EncryptedTokenStore:
        inner = SQLiteTokenStore(tmp_path / "tokens.sqlite3", before_commit=commit_fault)
        return EncryptedTokenStore(inner, ring)


class TestAsyncEncryptedSQLiteTokenStore(AsyncTokenStoreConformance):
    commit_fault_supported = True

    @pytest.fixture
    def make_async_token_store(
        self, tmp_path: Path, ring: KeyRing, commit_fault: CommitFault
    ) -> object:
        path = tmp_path / "tokens.sqlite3"
        return lambda: AsyncEncryptedTokenStore(
            AsyncSQLiteTokenStore(path, before_commit=commit_fault), ring
        )


class TestAsyncEncryptedSQLiteTokenLease(AsyncTokenLeaseConformance):
    @pytest.fixture
    def make_async_token_store(self, tmp_path: Path, ring: KeyRing) -> object:
        path = tmp_path / "tokens.sqlite3"
        return lambda: AsyncEncryptedTokenStore(AsyncSQLiteTokenStore(path), ring)


# --- Redis -----------------------------------------------------------------------------------


class TestEncryptedRedisTokenStore(TokenStoreConformance, TokenLeaseConformance):
    @pytest.fixture
    def token_store(
        self, redis_url: str, prefix: str, ring: KeyRing
    ) -> Iterator[EncryptedTokenStore]:
        store = EncryptedTokenStore(RedisTokenStore(redis_url, prefix=prefix), ring)
        yield store
        store.close()  # the Redis store's own method, passed through


class TestAsyncEncryptedRedisTokenStore(AsyncTokenStoreConformance):
    @pytest.fixture
    def make_async_token_store(self, redis_url: str, prefix: str, ring: KeyRing) -> object:
        return lambda: AsyncEncryptedTokenStore(
            AsyncRedisTokenStore(redis_url, prefix=prefix), ring
        )


# --- PostgreSQL ------------------------------------------------------------------------------


class TestEncryptedPostgresTokenStore(TokenStoreConformance, TokenLeaseConformance):
    commit_fault_supported = True

    @pytest.fixture
    def token_store(
        self, postgres_url: str, schema: str, ring: KeyRing, commit_fault: CommitFault
    ) -> Iterator[EncryptedTokenStore]:
        inner = PostgresTokenStore(postgres_url, schema=schema, before_commit=commit_fault)
        store = EncryptedTokenStore(inner, ring)
        yield store
        store.close()


class TestAsyncEncryptedPostgresTokenStore(AsyncTokenStoreConformance):
    @pytest.fixture
    def make_async_token_store(self, postgres_url: str, schema: str, ring: KeyRing) -> object:
        return lambda: AsyncEncryptedTokenStore(
            AsyncPostgresTokenStore(postgres_url, schema=schema), ring
        )
