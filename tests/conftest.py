"""Shared test set-up: hypothesis profiles, the real services (Redis, PostgreSQL), and the
watch that fails a test whose log records give a secret away (``_secrets_plugin``)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn
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


# --- headless Debian chromium, driven by Playwright (tests/e2e, tests/adapters/cli) -----------

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> NoReturn:
    """Skip, unless the browser tests are required (CI): then fail, never skip."""
    if os.environ.get("MIROFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(f"MIROFLOW_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _unavailable("Debian's chromium is not installed (make test installs it where it can).")
    return path


def _playwright_api() -> Any:
    try:
        import playwright.sync_api as api
    except ImportError as error:
        _unavailable(f"Playwright is not importable ({error}); it comes with '.[dev]'.")
    return api


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Headless Debian chromium, driven by Playwright (never a downloaded browser); skips with
    the reason where either is missing (fails under CI). Each ``chromium.new_context()`` is
    another browser as far as a site can tell: its own cookies, nothing shared."""
    playwright_api = _playwright_api()
    executable = _chromium()
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(chromium: Any) -> Any:
    """A fresh page of headless chromium, in a browser context of its own."""
    return chromium.new_context().new_page()
