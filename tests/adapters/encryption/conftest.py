"""What the encryption adapter's tests share: a key ring, a Redis key prefix and a PostgreSQL
schema of their own per test (the stores under the wrapper are the real ones)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
from miroflow_encryption import KeyRing, generate_key


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing([generate_key()])


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


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    """A unique schema per test, dropped afterwards."""
    name = f"miroflow_test_{uuid.uuid4().hex}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
