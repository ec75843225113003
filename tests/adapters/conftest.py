"""What the store adapters' tests share: a Redis key prefix and a PostgreSQL schema of their
own per test (``prefix``, ``schema``), and the single flight of a refresh, end to end, across
processes (issue 9). Each store's test module calls the ``single_flight`` fixture with its own
store and a ``StoreSpec`` that opens the same store in another process.

* ``race``: 50 callers in 2 spawned processes ask for a due token at once, through
  ``miroflow.testing.leases.run_concurrent_refreshes`` (the simulator in this process, its
  transport shared with the others): the simulator sees exactly one refresh, and every caller
  gets the new token.
* ``holder_killed``: a holder in another process takes the lease, sends its refresh, and is
  killed (SIGKILL) while the request hangs, before the simulator saw it. A caller here then
  waits out the dead holder's lease and refreshes itself. No real time passes: the caller's
  clock is the simulator's, and its pauses move that clock (``sleep=``), so the lease ends by
  ``now`` as the stores compare it, whatever Redis's own clock says (its key outlives the
  lease).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
from miroflow_simulator import Simulator

import miroflow
from miroflow.testing.leases import (
    SharedObjects,
    StoreSpec,
    run_concurrent_refreshes,
    token_digest,
)

CALLERS, PROCESSES = 50, 2
#: How long the test waits for another process to reach a point (a bound, never a pause).
WITHIN = 60.0

# Runs in the holder's process: a client on the store and the shared hanging transport,
# asked to refresh; it takes the lease and hangs in send() until it is killed.
_HOLDER = """
import pickle, sys
import miroflow
from miroflow.testing.stores import build_store
job = pickle.load(sys.stdin.buffer)
client = miroflow.Client(
    job["config"],
    flows=miroflow.MemoryFlowStore(),
    tokens=build_store(job["store"]),
    transport=build_store(job["transport"]),
)
client.refresh(job["user_id"], job["team_id"])
"""


class HangingTransport:
    """A transport that never answers: ``send`` says it was called, then waits until the
    test lets it go (after the caller is dead) and fails. Lives in the test's process."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.let_go = threading.Event()

    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        self.entered.set()
        self.let_go.wait(WITHIN)
        raise miroflow.TransportError("The test's hanging transport gave up.")


@attrs.define
class SingleFlight:
    sim: Simulator
    config: miroflow.ClientConfig

    def sign_in(self, store: miroflow.TokenStore) -> miroflow.TokenSet:
        """A real flow against the simulator; the tokens land in ``store``, then are made
        due for every caller."""
        flows, transport = miroflow.MemoryFlowStore(), self.sim.transport
        client = miroflow.Client(self.config, flows=flows, tokens=store, transport=transport)
        answer = client.start()
        assert answer.location is not None and answer.cookie is not None
        redirect = self.sim.dispatch(miroflow.HttpRequest(method="GET", url=answer.location))
        assert isinstance(redirect, miroflow.HttpResponse)
        query = urlsplit(redirect.header("Location") or "").query
        tokens = client.handle_callback(query, binding_cookie=answer.cookie.value).tokens
        assert tokens is not None
        store.put(attrs.evolve(tokens, expires_at=time.time() - 1), expected_version=1)
        return tokens

    def refreshes(self) -> int:
        return len(self.sim.token_requests("refresh_token"))

    def race(self, store: miroflow.TokenStore, spec: StoreSpec) -> None:
        tokens = self.sign_in(store)
        with SharedObjects() as shared:
            race = run_concurrent_refreshes(
                store=spec,
                transport=shared.spec(self.sim.transport),
                config=self.config,
                user_id=tokens.user_id,
                team_id=tokens.team_id,
                callers=CALLERS,
                processes=PROCESSES,
                timeout=WITHIN,
            )
        stored = store.get(tokens.key)
        assert stored is not None
        assert race.errors == ()
        assert len(race.outcomes) == CALLERS
        assert self.refreshes() == 1
        assert stored.version == 3  # signed in, made due, refreshed once
        assert race.digests == {token_digest(stored.tokens.access_token)}
        assert stored.tokens.access_token != tokens.access_token

    def holder_killed(self, store: miroflow.TokenStore, spec: StoreSpec) -> None:
        tokens = self.sign_in(store)
        hanging = HangingTransport()
        before = time.time()  # the holder's clock reads at least this when it takes the lease
        with SharedObjects() as shared:
            job = {
                "config": self.config,
                "store": spec,
                "transport": shared.spec(hanging),
                "user_id": tokens.user_id,
                "team_id": tokens.team_id,
            }
            holder = subprocess.Popen(
                [sys.executable, "-c", _HOLDER],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                assert holder.stdin is not None
                holder.stdin.write(pickle.dumps(job))
                holder.stdin.close()
                # It took the lease and sent its refresh, which hangs: kill it there.
                assert hanging.entered.wait(WITHIN), _failure(holder)
                holder.kill()
                holder.wait(WITHIN)
            finally:
                if holder.poll() is None:
                    holder.kill()
                    holder.wait(WITHIN)
                hanging.let_go.set()
        assert self.refreshes() == 0  # the dead holder's request never reached Miro

        def pause(seconds: float) -> None:
            self.sim.advance(seconds)  # a waiter's pause moves the simulated clock

        waiter = miroflow.Client(
            self.config,
            flows=miroflow.MemoryFlowStore(),
            tokens=store,
            transport=self.sim.transport,
            clock=self.sim.now,
            sleep=pause,
        )
        new = waiter.valid_tokens(tokens.user_id, tokens.team_id)
        assert self.refreshes() == 1
        assert new.access_token != tokens.access_token
        # Taken over only once the dead holder's lease (refresh_wait long) had ended.
        assert self.sim.now() >= before + self.config.refresh_wait
        assert store.get(tokens.key) == miroflow.StoredTokens(tokens=new, version=3)


def _failure(process: subprocess.Popen[Any]) -> str:
    if process.poll() is None:
        return "the holder never sent its refresh"
    assert process.stderr is not None
    return f"the holder died first: {process.stderr.read().decode(errors='replace')[-2000:]}"


@pytest.fixture
def single_flight() -> SingleFlight:
    sim = Simulator()
    app = sim.register_app()
    sim.auto_approve()
    return SingleFlight(sim=sim, config=sim.client_config(app))


# --- a namespace of its own per test in the shared servers (Redis, PostgreSQL) ----------------


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A unique Redis key prefix per test; every key under it is deleted afterwards."""
    import redis

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
    """A unique PostgreSQL schema per test, dropped afterwards."""
    import psycopg

    name = f"miroflow_test_{uuid.uuid4().hex}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
