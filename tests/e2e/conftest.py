"""What the end-to-end tests share: app processes served on loopback, started and stopped;
headless Debian chromium driven by Playwright (never a downloaded browser). Without either,
the browser tests skip with the reason, or fail under MIROFLOW_REQUIRE_SERVICES=1 (as in CI)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
_READY_WITHIN = 30.0

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
def browser() -> Iterator[Any]:
    """Headless Debian chromium, driven by Playwright. Each ``browser.new_context()`` is
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
def page(browser: Any) -> Any:
    """A fresh page in a browser context of its own."""
    return browser.new_context().new_page()

Process = subprocess.Popen[bytes]
Spawn = Callable[[list[str], int, Mapping[str, str]], AbstractContextManager[Process]]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def serving(
    argv: list[str], port: int, env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``python argv...`` (from the repository's root, ``env`` added to this environment)
    until it accepts connections on 127.0.0.1:``port``; stopped (SIGTERM, then SIGKILL) on
    exit. Its output goes to ``log``, shown if it never came up."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, *argv], cwd=ROOT, env={**os.environ, **env},
            stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + _READY_WITHIN
        while not _accepts(port):  # polled, with a bounded deadline
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{' '.join(argv)} did not serve on port {port}:\n{log.read_text()}")
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def spawn(tmp_path: Path) -> Spawn:
    """``spawn(argv, port, env)``: a context manager serving an app process (see
    ``serving``), its output in the test's temporary directory."""
    count = iter(range(1_000_000))

    def start(
        argv: list[str], port: int, env: Mapping[str, str]
    ) -> AbstractContextManager[subprocess.Popen[bytes]]:
        return serving(argv, port, env, tmp_path / f"process-{next(count)}.log")

    return start
