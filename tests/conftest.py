"""Shared test set-up: hypothesis profiles and the real services (Redis, PostgreSQL)."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, settings

# "dev" is quick for local runs; "ci" is thorough (CI sets CI=true). HYPOTHESIS_PROFILE wins.
settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

REQUIRE_SERVICES = os.environ.get("MIROFLOW_REQUIRE_SERVICES") == "1"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def _service(variable: str, default: str, port: int, name: str) -> str:
    url = os.environ.get(variable, default)
    if not _reachable(url, port):
        reason = f"{name} is not reachable at {url} (set {variable} to point at one)."
        if REQUIRE_SERVICES:
            pytest.fail(f"MIROFLOW_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis URL, or a skip (a failure under MIROFLOW_REQUIRE_SERVICES=1)."""
    return _service("MIROFLOW_REDIS_URL", "redis://127.0.0.1:6379/0", 6379, "Redis")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A reachable PostgreSQL URL, or a skip (a failure under MIROFLOW_REQUIRE_SERVICES=1)."""
    return _service(
        "MIROFLOW_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test", 5432, "PostgreSQL"
    )
