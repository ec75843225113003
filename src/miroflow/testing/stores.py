"""The store conformance suite: what every ``FlowStore`` and ``TokenStore`` must do.

A store adapter (ours or a third party's) runs it by subclassing in a test module::

    from miroflow.testing.stores import FlowStoreConformance, TokenStoreConformance

    class TestMyFlowStore(FlowStoreConformance):
        @pytest.fixture
        def flow_store(self, tmp_path):
            return MyFlowStore(tmp_path / "db")

    class TestMyTokenStore(TokenStoreConformance):
        @pytest.fixture
        def token_store(self, tmp_path):
            return MyTokenStore(tmp_path / "db")

Async stores subclass ``AsyncFlowStoreConformance`` / ``AsyncTokenStoreConformance`` and
provide ``make_async_flow_store`` / ``make_async_token_store``: a function (or coroutine
function) called inside a running event loop that returns a fresh store. The same tests then
run against the async store through a blocking bridge, so both kinds meet one contract.

Stores shared between processes add ``MultiProcessClaimConformance`` and a ``flow_store_spec``
fixture: a ``StoreSpec`` naming an importable ``"module:callable"`` and its keyword arguments,
which spawned processes use to open the same store.

Faults: the suite wraps the store in ``FaultyFlowStore`` / ``FaultyTokenStore`` and fails
operations before, at and after their commit (``Fault`` says what each means). An adapter
that can break a transaction for real takes a hook called with its live connection right
before COMMIT: its store fixture requests the ``commit_fault`` fixture, passes it as that
hook, and the test class sets ``commit_fault_supported = True``. The COMMIT then really
fails on a closed connection, and the suite checks that nothing was half-applied.

Time is always injected: the suite passes ``now`` and never sleeps. Its instants lie a day in
the future of the real clock (the ``now`` fixture), so stores that also expire keys in real
time (Redis TTLs) keep every flow for the whole test.
"""

from __future__ import annotations

import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from miroflow import (
    FLOW_RETENTION,
    AsyncFlowStore,
    AsyncTokenStore,
    Claim,
    ClaimOutcome,
    Flow,
    FlowState,
    FlowStore,
    StaleTokenWrite,
    StoredTokens,
    StoreError,
    TokenSet,
    TokenStore,
    hash_secret,
)
from miroflow.testing._store_faults import CommitFault, Fault, FaultyFlowStore, FaultyTokenStore
from miroflow.testing._store_harness import (
    BlockingFlowStore,
    BlockingTokenStore,
    EventLoopThread,
    StoreSpec,
    build_store,
    claim_in_process,
    close_store,
    open_store,
    race,
)
from miroflow.testing.strategies import flows, token_sets

__all__ = [
    "AsyncFlowStoreConformance",
    "AsyncTokenStoreConformance",
    "BlockingFlowStore",
    "BlockingTokenStore",
    "CommitFault",
    "EventLoopThread",
    "Fault",
    "FaultyFlowStore",
    "FaultyTokenStore",
    "FlowStoreConformance",
    "MultiProcessClaimConformance",
    "StoreSpec",
    "TokenStoreConformance",
    "build_store",
]

#: How many threads race for one flow, and how many rounds of that race each run does.
CONCURRENT_CLAIMS = 100
CLAIM_ROUNDS = 3

# Fixtures are per test, not per hypothesis example, and inherited tests run from several
# subclasses: both are intended here.
_property = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors]
)


# --- helpers ---------------------------------------------------------------------------------

_unique = iter(range(1 << 62))


def _fresh_flow(now: float, *, lifetime: float = 600.0) -> Flow:
    return Flow(
        state=FlowState.PENDING,
        state_hash=hash_secret(f"state-{time.time_ns()}-{next(_unique)}"),
        binding_hash=hash_secret("binding"),
        created_at=now,
        deadline=now + lifetime,
        code_verifier="v" * 43,
    )


def _fresh_tokens(now: float, access: str = "a" * 43) -> TokenSet:
    return TokenSet(
        access_token=access,
        refresh_token="r" * 43,
        user_id=str(time.time_ns()),
        team_id=str(next(_unique)),
        scopes=("boards:read",),
        obtained_at=now,
        expires_at=now + 3599,
    )


def _moved_to(flow: Flow, now: float) -> Flow:
    """The same flow, its instants shifted so that it starts at ``now``."""
    shift = now - flow.created_at
    received = flow.code_received_at
    return attrs.evolve(
        flow,
        created_at=now,
        deadline=flow.deadline + shift,
        code_received_at=None if received is None else received + shift,
    )


def _claim_outcome(store: FlowStore, state_hash: str, now: float) -> ClaimOutcome:
    return store.claim(state_hash, now).outcome


def _before(instant: float) -> float:
    return math.nextafter(instant, -math.inf)


# --- the suites ------------------------------------------------------------------------------


class _Conformance:
    """What both suites share: the injected clock, and the commit seam.

    If the adapter calls a ``CommitFault`` (the ``commit_fault`` fixture, which the store
    fixture can request) inside its transactions, set ``commit_fault_supported = True``.
    """

    commit_fault_supported = False

    @pytest.fixture
    def now(self) -> float:
        return float(int(time.time()) + 86400)

    @pytest.fixture
    def commit_fault(self) -> CommitFault:
        return CommitFault()

    def wired(self, commit_fault: CommitFault) -> CommitFault | None:
        return commit_fault if self.commit_fault_supported else None


class FlowStoreConformance(_Conformance):
    """Tests every ``FlowStore`` passes. Provide a ``flow_store`` fixture."""

    def test_is_a_flow_store(self, flow_store: FlowStore) -> None:
        assert isinstance(flow_store, FlowStore)

    def test_claims_a_saved_flow_once(self, flow_store: FlowStore, now: float) -> None:
        flow = _fresh_flow(now)
        flow_store.save(flow)
        assert flow_store.claim(flow.state_hash, now) == Claim(
            outcome=ClaimOutcome.CLAIMED, flow=flow
        )
        again = flow_store.claim(flow.state_hash, now + 1)
        assert again == Claim(outcome=ClaimOutcome.ALREADY_CLAIMED)

    def test_unknown_and_deleted_flows(self, flow_store: FlowStore, now: float) -> None:
        flow = _fresh_flow(now)
        assert flow_store.claim(flow.state_hash, now).outcome is ClaimOutcome.UNKNOWN
        flow_store.delete(flow.state_hash)  # deleting a missing flow is fine
        flow_store.save(flow)
        flow_store.delete(flow.state_hash)
        flow_store.delete(flow.state_hash)
        assert flow_store.claim(flow.state_hash, now).outcome is ClaimOutcome.UNKNOWN

    def test_save_replaces(self, flow_store: FlowStore, now: float) -> None:
        first = _fresh_flow(now)
        second = attrs.evolve(first, state=FlowState.REDIRECTED, return_path="/boards")
        flow_store.save(first)
        flow_store.save(second)
        assert flow_store.claim(first.state_hash, now).flow == second

    def test_expiry_at_the_deadline(self, flow_store: FlowStore, now: float) -> None:
        live, dead = _fresh_flow(now), _fresh_flow(now)
        flow_store.save(live)
        flow_store.save(dead)
        deadline, forgotten = live.deadline, live.deadline + FLOW_RETENTION
        assert flow_store.claim(live.state_hash, _before(deadline)).outcome is (
            ClaimOutcome.CLAIMED
        )
        expired = Claim(outcome=ClaimOutcome.EXPIRED, flow=dead)
        assert flow_store.claim(dead.state_hash, dead.deadline) == expired
        # An expired flow is never claimed: it stays expired until it is forgotten.
        assert flow_store.claim(dead.state_hash, _before(forgotten)) == expired
        assert flow_store.claim(live.state_hash, _before(forgotten)).outcome is (
            ClaimOutcome.ALREADY_CLAIMED
        )
        for flow in (live, dead):
            assert flow_store.claim(flow.state_hash, forgotten).outcome is ClaimOutcome.UNKNOWN

    @given(flow=flows())
    @_property
    def test_round_trips_every_flow(self, flow_store: FlowStore, now: float, flow: Flow) -> None:
        flow = _moved_to(flow, now)
        flow_store.save(flow)
        assert flow_store.claim(flow.state_hash, now) == Claim(
            outcome=ClaimOutcome.CLAIMED, flow=flow
        )
        flow_store.delete(flow.state_hash)

    def test_concurrent_claims_have_one_winner(self, flow_store: FlowStore, now: float) -> None:
        for _ in range(CLAIM_ROUNDS):
            flow = _fresh_flow(now)
            flow_store.save(flow)
            outcomes = race(
                partial(_claim_outcome, flow_store, flow.state_hash, now), CONCURRENT_CLAIMS
            )
            assert outcomes.count(ClaimOutcome.CLAIMED) == 1, outcomes
            assert outcomes.count(ClaimOutcome.ALREADY_CLAIMED) == CONCURRENT_CLAIMS - 1

    @pytest.mark.parametrize("fault", list(Fault))
    def test_claim_survives_faults(
        self, flow_store: FlowStore, commit_fault: CommitFault, now: float, fault: Fault
    ) -> None:
        wired = self.wired(commit_fault)
        faulty = FaultyFlowStore(flow_store, commit_fault=wired)
        flow = _fresh_flow(now)
        faulty.save(flow)
        faulty.fail_next(fault)
        with pytest.raises(StoreError):
            faulty.claim(flow.state_hash, now)
        if fault is Fault.AT_COMMIT and wired is not None:
            assert commit_fault.fired == 1, "the adapter never called its commit seam"
        # After recovery a retry gets a definite answer; the flow is never claimed twice.
        retried = faulty.claim(flow.state_hash, now)
        if fault is Fault.AFTER:
            assert retried == Claim(outcome=ClaimOutcome.ALREADY_CLAIMED)
        else:
            assert retried == Claim(outcome=ClaimOutcome.CLAIMED, flow=flow)
        assert faulty.claim(flow.state_hash, now).outcome is ClaimOutcome.ALREADY_CLAIMED

    @pytest.mark.parametrize("fault", list(Fault))
    def test_save_survives_faults(
        self, flow_store: FlowStore, commit_fault: CommitFault, now: float, fault: Fault
    ) -> None:
        wired = self.wired(commit_fault)
        faulty = FaultyFlowStore(flow_store, commit_fault=wired)
        flow = _fresh_flow(now)
        faulty.fail_next(fault)
        with pytest.raises(StoreError):
            faulty.save(flow)
        applied = faulty.claim(flow.state_hash, now)
        assert applied.outcome is (
            ClaimOutcome.CLAIMED if fault is Fault.AFTER else ClaimOutcome.UNKNOWN
        )
        faulty.save(flow)  # a retry after recovery works
        assert faulty.claim(flow.state_hash, now) == Claim(outcome=ClaimOutcome.CLAIMED, flow=flow)


class TokenStoreConformance(_Conformance):
    """Tests every ``TokenStore`` passes. Provide a ``token_store`` fixture."""

    def test_is_a_token_store(self, token_store: TokenStore) -> None:
        assert isinstance(token_store, TokenStore)

    def test_compare_and_set(self, token_store: TokenStore, now: float) -> None:
        first = _fresh_tokens(now)
        second = attrs.evolve(first, access_token="b" * 43, obtained_at=now + 60)
        assert token_store.get(first.key) is None
        assert token_store.put(first, expected_version=0) == StoredTokens(tokens=first, version=1)
        for stale in (0, 2, 7):
            with pytest.raises(StaleTokenWrite):
                token_store.put(second, expected_version=stale)
        assert token_store.get(first.key) == StoredTokens(tokens=first, version=1)
        assert token_store.put(second, expected_version=1).version == 2
        assert token_store.put(first).version == 3  # unconditional
        assert token_store.get(first.key) == StoredTokens(tokens=first, version=3)

    def test_delete_is_idempotent(self, token_store: TokenStore, now: float) -> None:
        tokens = _fresh_tokens(now)
        token_store.delete(tokens.key)
        token_store.put(tokens)
        token_store.delete(tokens.key)
        token_store.delete(tokens.key)
        assert token_store.get(tokens.key) is None
        assert token_store.put(tokens, expected_version=0).version == 1

    def test_keys_are_separate(self, token_store: TokenStore, now: float) -> None:
        tokens = _fresh_tokens(now)
        other_team = attrs.evolve(tokens, team_id=tokens.team_id + "0")
        token_store.put(tokens)
        token_store.put(other_team)
        token_store.delete(other_team.key)
        assert token_store.get(tokens.key) == StoredTokens(tokens=tokens, version=1)

    @given(tokens=token_sets())
    @_property
    def test_round_trips_every_token_set(self, token_store: TokenStore, tokens: TokenSet) -> None:
        token_store.delete(tokens.key)
        stored = token_store.put(tokens)
        assert token_store.get(tokens.key) == stored == StoredTokens(tokens=tokens, version=1)

    def test_concurrent_compare_and_set_has_one_winner(
        self, token_store: TokenStore, now: float
    ) -> None:
        tokens = _fresh_tokens(now)
        token_store.put(tokens, expected_version=0)
        writers = 20
        versions = race(
            lambda: (
                token_store.put(
                    attrs.evolve(tokens, access_token=f"{threading.get_ident():043d}"),
                    expected_version=1,
                ).version
            ),
            writers,
        )
        assert versions.count(2) == 1, versions
        assert versions.count("StaleTokenWrite") == writers - 1
        stored = token_store.get(tokens.key)
        assert stored is not None
        assert stored.version == 2

    @pytest.mark.parametrize("fault", list(Fault))
    def test_put_survives_faults(
        self, token_store: TokenStore, commit_fault: CommitFault, now: float, fault: Fault
    ) -> None:
        wired = self.wired(commit_fault)
        faulty = FaultyTokenStore(token_store, commit_fault=wired)
        old = _fresh_tokens(now)
        new = attrs.evolve(old, access_token="n" * 43, refresh_token="m" * 43)
        faulty.put(old, expected_version=0)
        faulty.fail_next(fault)
        with pytest.raises(StoreError):
            faulty.put(new, expected_version=1)
        if fault is Fault.AT_COMMIT and wired is not None:
            assert commit_fault.fired == 1, "the adapter never called its commit seam"
        # Never lost, never half-applied: the store holds exactly the old or the new record.
        if fault is Fault.AFTER:
            assert faulty.get(old.key) == StoredTokens(tokens=new, version=2)
            with pytest.raises(StaleTokenWrite):
                faulty.put(new, expected_version=1)
        else:
            assert faulty.get(old.key) == StoredTokens(tokens=old, version=1)
            assert faulty.put(new, expected_version=1) == StoredTokens(tokens=new, version=2)
        assert faulty.put(old, expected_version=2).version == 3


class AsyncFlowStoreConformance(FlowStoreConformance):
    """``FlowStoreConformance`` for an ``AsyncFlowStore``. Provide ``make_async_flow_store``:
    a function or coroutine function, called inside the event loop, returning a fresh store
    (closed afterwards through its ``aclose()`` or ``close()`` if it has one)."""

    @pytest.fixture
    def flow_store(self, make_async_flow_store: Callable[[], Any]) -> Iterator[FlowStore]:
        with EventLoopThread() as loop:
            store = loop.run(open_store(make_async_flow_store))
            assert isinstance(store, AsyncFlowStore)
            try:
                yield BlockingFlowStore(store, loop)
            finally:
                loop.run(close_store(store))


class AsyncTokenStoreConformance(TokenStoreConformance):
    """``TokenStoreConformance`` for an ``AsyncTokenStore``; provide
    ``make_async_token_store`` (see ``AsyncFlowStoreConformance``)."""

    @pytest.fixture
    def token_store(self, make_async_token_store: Callable[[], Any]) -> Iterator[TokenStore]:
        with EventLoopThread() as loop:
            store = loop.run(open_store(make_async_token_store))
            assert isinstance(store, AsyncTokenStore)
            try:
                yield BlockingTokenStore(store, loop)
            finally:
                loop.run(close_store(store))


class MultiProcessClaimConformance:
    """Two processes race for one flow: exactly one claim wins. Provide ``flow_store`` (to
    save the flow) and ``flow_store_spec`` (a ``StoreSpec`` opening the same store)."""

    processes = 2

    def test_claims_across_processes_have_one_winner(
        self, flow_store: FlowStore, flow_store_spec: StoreSpec
    ) -> None:
        now = float(int(time.time()) + 86400)
        flow = _fresh_flow(now)
        flow_store.save(flow)
        context = multiprocessing.get_context("spawn")
        start, results = context.Barrier(self.processes), context.Queue()
        threads = CONCURRENT_CLAIMS // self.processes
        workers = [
            context.Process(
                target=claim_in_process,
                args=(flow_store_spec, flow.state_hash, now, threads, start, results),
            )
            for _ in range(self.processes)
        ]
        for worker in workers:
            worker.start()
        try:
            outcomes = [o for _ in workers for o in results.get(timeout=60)]
        finally:
            for worker in workers:
                worker.join(timeout=30)
                if worker.is_alive():
                    worker.kill()
        assert outcomes.count(ClaimOutcome.CLAIMED.value) == 1, outcomes
        assert outcomes.count(ClaimOutcome.ALREADY_CLAIMED.value) == len(outcomes) - 1
        assert len(outcomes) == threads * self.processes
