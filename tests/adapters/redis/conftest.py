"""What the Redis adapter's tests share: a key prefix of their own per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis


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
