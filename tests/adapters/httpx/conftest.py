"""A loopback HTTP server per test, from miroflow's public transport test kit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from miroflow.testing.transports import LoopbackServer


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server
