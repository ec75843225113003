"""What the encryption adapter's tests share: a key ring (the Redis key prefix and the
PostgreSQL schema of their own per test come from tests/adapters/conftest.py)."""

from __future__ import annotations

import pytest
from miroflow_encryption import KeyRing, generate_key


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing([generate_key()])
