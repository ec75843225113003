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

Stores that forget flows through a ``sweep(now)`` method (rather than by themselves, as Redis
keys expire) add ``SweepConformance``. Stores shared between processes add
``MultiProcessClaimConformance`` and a ``flow_store_spec``
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

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import attrs

try:
    import pytest
    from hypothesis import HealthCheck, given, settings
except ModuleNotFoundError as missing:  # without the testing extra: say which to install
    from miroflow.testing import _needs_testing_extra

    raise _needs_testing_extra(__name__, missing) from None

from miroflow import (
    AsyncFlowStore,
    AsyncTokenStore,
    Flow,
    FlowState,
    FlowStore,
    StaleTokenWrite,
    StoredTokens,
    StoreError,
    TokenSet,
    TokenStore,
)
from miroflow.machine import hash_binding, hash_state
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
    "SweepConformance",
    "TokenStoreConformance",
    "build_store",
    "race",
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
BINDING = "B" * 43
#: The binding hash every suite flow is saved with, and two that never match it.
RIGHT, WRONG = hash_binding(BINDING), hash_binding("W" * 43)


def _fresh_flow(now: float, *, lifetime: float = 600.0) -> Flow:
    return Flow(
        state=FlowState.REDIRECTED,
        state_hash=hash_state("3074457363680401096", f"state-{time.time_ns()}-{next(_unique)}"),
        binding_hash=RIGHT,
        created_at=now,
        deadline=now + lifetime,
        code_verifier="v" * 43,
    )


def _fresh_tokens(now: float, access: str = "a" * 43) -> TokenSet:
    return TokenSet(
        client_id="3074457363680401096",
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
    return attrs.evolve(flow, created_at=now, deadline=flow.deadline + shift)


def _wins(store: FlowStore, state_hash: bytes, binding_hash: bytes | None) -> bool:
    return store.claim(state_hash, binding_hash)[1]


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
    """Tests every ``FlowStore`` passes. Provide a ``flow_store`` fixture.

    The store compares and sets: a claim wins only an unclaimed flow whose binding hash
    equals the one presented, and whatever it finds is returned as it was saved."""

    def test_is_a_flow_store(self, flow_store: FlowStore) -> None:
        assert isinstance(flow_store, FlowStore)

    def test_only_the_right_binding_claims_and_only_once(
        self, flow_store: FlowStore, now: float
    ) -> None:
        flow = _fresh_flow(now)
        flow_store.save(flow)
        assert flow_store.claim(flow.state_hash, WRONG) == (flow, False)
        assert flow_store.claim(flow.state_hash, None) == (flow, False)
        assert flow_store.claim(flow.state_hash, RIGHT) == (flow, True)
        assert flow_store.claim(flow.state_hash, RIGHT) == (flow, False)
        assert flow_store.claim(flow.state_hash, WRONG) == (flow, False)

    def test_unknown_flows(self, flow_store: FlowStore, now: float) -> None:
        assert flow_store.claim(_fresh_flow(now).state_hash, RIGHT) == (None, False)

    def test_a_flow_without_a_binding_is_never_claimed(
        self, flow_store: FlowStore, now: float
    ) -> None:
        flow = attrs.evolve(_fresh_flow(now), binding_hash=None)
        flow_store.save(flow)
        assert flow_store.claim(flow.state_hash, None) == (flow, False)
        assert flow_store.claim(flow.state_hash, RIGHT) == (flow, False)

    def test_save_replaces_unclaimed(self, flow_store: FlowStore, now: float) -> None:
        first = _fresh_flow(now)
        second = attrs.evolve(first, return_path="/boards", requested_team_id="42")
        flow_store.save(first)
        assert flow_store.claim(first.state_hash, RIGHT) == (first, True)
        flow_store.save(second)
        assert flow_store.claim(first.state_hash, RIGHT) == (second, True)

    def test_time_decides_nothing_in_the_store(self, flow_store: FlowStore, now: float) -> None:
        # A flow past its deadline is still claimed and returned: whether that means
        # "expired" is miroflow.machine.claim_outcome's decision, not the store's.
        flow = _fresh_flow(now - 7200, lifetime=600.0)
        flow_store.save(flow)
        assert flow_store.claim(flow.state_hash, RIGHT) == (flow, True)

    @given(flow=flows())
    @_property
    def test_round_trips_every_flow(self, flow_store: FlowStore, now: float, flow: Flow) -> None:
        flow = _moved_to(flow, now)
        flow_store.save(flow)
        if flow.binding_hash is None:
            assert flow_store.claim(flow.state_hash, RIGHT) == (flow, False)
        else:
            assert flow_store.claim(flow.state_hash, flow.binding_hash) == (flow, True)

    def test_concurrent_claims_have_one_winner(self, flow_store: FlowStore, now: float) -> None:
        for _ in range(CLAIM_ROUNDS):
            flow = _fresh_flow(now)
            flow_store.save(flow)
            outcomes = race(partial(_wins, flow_store, flow.state_hash, RIGHT), CONCURRENT_CLAIMS)
            assert outcomes.count(True) == 1, outcomes
            assert outcomes.count(False) == CONCURRENT_CLAIMS - 1

    def test_a_foreign_binding_never_wins_a_race(self, flow_store: FlowStore, now: float) -> None:
        flow = _fresh_flow(now)
        flow_store.save(flow)
        presented = iter([WRONG, None] * CONCURRENT_CLAIMS)
        lock = threading.Lock()

        def one() -> bool:
            with lock:
                binding = next(presented)
            return _wins(flow_store, flow.state_hash, binding)

        assert race(one, CONCURRENT_CLAIMS).count(True) == 0
        assert flow_store.claim(flow.state_hash, RIGHT) == (flow, True)

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
            faulty.claim(flow.state_hash, RIGHT)
        if fault is Fault.AT_COMMIT and wired is not None:
            assert commit_fault.fired == 1, "the adapter never called its commit seam"
        # After recovery a retry gets a definite answer; the flow is never claimed twice.
        retried = faulty.claim(flow.state_hash, RIGHT)
        assert retried == (flow, fault is not Fault.AFTER)
        assert faulty.claim(flow.state_hash, RIGHT) == (flow, False)

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
        applied = faulty.claim(flow.state_hash, RIGHT)
        assert applied == ((flow, True) if fault is Fault.AFTER else (None, False))
        faulty.save(flow)  # a retry after recovery works
        assert faulty.claim(flow.state_hash, RIGHT) == (flow, True)


class SweepConformance(_Conformance):
    """For stores with ``sweep(now)``: every flow stays, claimed or not, until its
    ``forget_at``; a sweep at or after it forgets the flow, and returns how many it forgot."""

    def test_keeps_every_flow_until_forget_at(self, flow_store: Any, now: float) -> None:
        claimed, unclaimed = _fresh_flow(now), _fresh_flow(now)
        for flow in (claimed, unclaimed):
            flow_store.save(flow)
        assert flow_store.claim(claimed.state_hash, RIGHT) == (claimed, True)
        assert flow_store.sweep(claimed.forget_at - 1) == 0
        assert flow_store.claim(claimed.state_hash, RIGHT) == (claimed, False)
        assert flow_store.claim(unclaimed.state_hash, WRONG) == (unclaimed, False)
        assert flow_store.sweep(claimed.forget_at) == 2
        for flow in (claimed, unclaimed):
            assert flow_store.claim(flow.state_hash, RIGHT) == (None, False)

    def test_sweep_forgets_only_what_is_due(self, flow_store: Any, now: float) -> None:
        # Saved in the order they come due, as flows of one app are (one lifetime). A store
        # may forget a flow that came due out of order later than its forget_at, never sooner.
        early, late = _fresh_flow(now, lifetime=60), _fresh_flow(now, lifetime=600)
        for flow in (early, late):
            flow_store.save(flow)
        assert flow_store.sweep(early.forget_at) == 1
        assert flow_store.claim(early.state_hash, RIGHT) == (None, False)
        assert flow_store.claim(late.state_hash, RIGHT) == (late, True)


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
        other_app = attrs.evolve(tokens, client_id="3074457363680401097", access_token="o" * 43)
        token_store.put(tokens)
        token_store.put(other_team)
        token_store.put(other_app)
        token_store.delete(other_team.key)
        assert token_store.get(tokens.key) == StoredTokens(tokens=tokens, version=1)
        assert token_store.get(other_app.key) == StoredTokens(tokens=other_app, version=1)
        token_store.delete(other_app.key)
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
                args=(flow_store_spec, flow.state_hash, RIGHT, threads, start, results),
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
        assert outcomes.count(True) == 1, outcomes
        assert outcomes.count(False) == len(outcomes) - 1
        assert len(outcomes) == threads * self.processes
