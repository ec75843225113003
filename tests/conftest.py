"""Shared test set-up: hypothesis profiles, the real services (Redis, PostgreSQL), and the
watch that fails a test whose log records give a secret away (``_secrets_plugin``)."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path
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


def _load_secret_watch() -> object:
    """``tests/_secrets_plugin.py``, by path: ``tests`` is not a package on sys.path under
    ``--import-mode=importlib``."""
    name = "miroflow_tests_secrets_plugin"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).with_name("_secrets_plugin.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def pytest_configure(config: pytest.Config) -> None:
    """No secret in logs, for the whole suite: see ``tests/_secrets_plugin.py``."""
    _load_secret_watch().pytest_configure(config)  # type: ignore[attr-defined]


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
