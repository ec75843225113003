"""The memory stores meet the lease conformance suite, and the single flight holds across
processes: a memory store and the simulator shared with two spawned processes, 50 callers."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import attrs
import pytest
from miroflow_simulator import Simulator

import miroflow
from miroflow.testing.leases import (
    AsyncTokenLeaseConformance,
    SharedObjects,
    TokenLeaseConformance,
    run_concurrent_refreshes,
    token_digest,
)


class TestMemoryTokenLease(TokenLeaseConformance):
    @pytest.fixture
    def token_store(self) -> miroflow.MemoryTokenStore:
        return miroflow.MemoryTokenStore()


class TestAsyncMemoryTokenLease(AsyncTokenLeaseConformance):
    @pytest.fixture
    def make_async_token_store(self) -> Callable[[], miroflow.AsyncMemoryTokenStore]:
        return miroflow.AsyncMemoryTokenStore


def test_fifty_callers_in_two_processes_refresh_once() -> None:
    sim = Simulator()
    app = sim.register_app()
    sim.auto_approve()
    config = sim.client_config(app)
    store = miroflow.MemoryTokenStore()
    client = miroflow.Client(
        config, flows=miroflow.MemoryFlowStore(), tokens=store, transport=sim.transport
    )
    answer = client.start()
    assert answer.location is not None and answer.cookie is not None
    redirect = sim.dispatch(miroflow.HttpRequest(method="GET", url=answer.location))
    assert isinstance(redirect, miroflow.HttpResponse)
    query = urlsplit(redirect.header("Location") or "").query
    tokens = client.handle_callback(query, binding_cookie=answer.cookie.value).tokens
    assert tokens is not None
    store.put(attrs.evolve(tokens, expires_at=time.time() - 1))  # due for every caller
    with SharedObjects() as shared:
        race = run_concurrent_refreshes(
            store=shared.spec(store),
            transport=shared.spec(sim.transport),
            config=config,
            user_id=tokens.user_id,
            team_id=tokens.team_id,
        )
    stored = store.get(tokens.key)
    assert stored is not None and stored.version == 3
    assert race.errors == ()
    assert len(race.outcomes) == 50
    assert race.digests == {token_digest(stored.tokens.access_token)}
    assert len(sim.token_requests("refresh_token")) == 1
