"""What the end-to-end tests share: app processes served on loopback, started and stopped.
(The chromium fixtures, ``chromium`` and ``page``, are the whole suite's: tests/conftest.py.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_READY_WITHIN = 30.0

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
