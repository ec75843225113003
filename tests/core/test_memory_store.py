"""The in-memory stores pass the public store conformance suite, and the suite fails stores
that break the contract."""

from __future__ import annotations

import attrs
import pytest

from miroflow import (
    AsyncMemoryFlowStore,
    AsyncMemoryTokenStore,
    ClaimResult,
    Flow,
    FlowState,
    MemoryFlowStore,
    MemoryTokenStore,
    StoredTokens,
    TokenSet,
)
from miroflow.machine import hash_binding, hash_state, overdue
from miroflow.testing.stores import (
    AsyncFlowStoreConformance,
    AsyncTokenStoreConformance,
    CommitFault,
    Fault,
    FaultyFlowStore,
    FlowStoreConformance,
    SweepConformance,
    TokenStoreConformance,
)


class TestMemoryFlowStore(FlowStoreConformance, SweepConformance):
    @pytest.fixture
    def flow_store(self) -> MemoryFlowStore:
        return MemoryFlowStore()


class TestMemoryTokenStore(TokenStoreConformance):
    @pytest.fixture
    def token_store(self) -> MemoryTokenStore:
        return MemoryTokenStore()


class TestAsyncMemoryFlowStore(AsyncFlowStoreConformance):
    @pytest.fixture
    def make_async_flow_store(self) -> type[AsyncMemoryFlowStore]:
        return AsyncMemoryFlowStore


class TestAsyncMemoryTokenStore(AsyncTokenStoreConformance):
    @pytest.fixture
    def make_async_token_store(self) -> type[AsyncMemoryTokenStore]:
        return AsyncMemoryTokenStore


NOW = 1_900_000_000.0
BINDING = hash_binding("B" * 43)


def _flow(number: int, *, created: float = NOW, lifetime: float = 900.0) -> Flow:
    return Flow(
        state=FlowState.REDIRECTED,
        state_hash=hash_state("1", f"state-{number}"),
        binding_hash=BINDING,
        created_at=created,
        deadline=created + lifetime,
    )


def test_saves_forget_flows_past_retention_oldest_first() -> None:
    store = MemoryFlowStore()
    old = _flow(0)
    store.save(old)
    # Flows created after the old one's retention ended: saving them forgets it...
    for number in range(1, 200):
        store.save(_flow(number, created=old.forget_at))
    assert store.claim(old.state_hash, BINDING) == (None, False)
    # ...and nothing that must stay: every new flow is still claimable.
    assert len(store) == 199
    assert store.claim(_flow(5, created=old.forget_at).state_hash, BINDING)[1] is True


def test_a_sweep_stops_at_the_first_flow_that_must_stay() -> None:
    store = MemoryFlowStore()
    flows = [_flow(number, created=NOW + number) for number in range(1000)]
    for flow in flows:
        store.save(flow)
    assert store.sweep(flows[9].forget_at) == 10
    assert len(store) == 990
    assert store.claim(flows[9].state_hash, BINDING) == (None, False)
    assert store.claim(flows[10].state_hash, BINDING) == (flows[10], True)


def test_a_late_claim_still_finds_the_flow_and_time_is_not_the_stores_to_judge() -> None:
    store = MemoryFlowStore()
    flow = _flow(1)
    store.save(flow)
    late = flow.deadline + 10
    found, won = store.claim(flow.state_hash, BINDING)
    assert (found, won) == (flow, True)
    assert overdue(flow, late) == 10


# --- the suite fails stores that break the contract ------------------------------------------


class ClaimsTwice(MemoryFlowStore):
    """Forgets every claim at once: a second caller wins the same flow again."""

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        flow, won = super().claim(state_hash, binding_hash)
        if won and flow is not None:
            self.save(flow)
        return flow, won


class IgnoresTheBinding(MemoryFlowStore):
    """Lets any browser claim a flow: whoever learns a state can burn a sign-in."""

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        flow, _ = super().claim(state_hash, None)
        return super().claim(state_hash, None if flow is None else flow.binding_hash)


class JudgesTime(MemoryFlowStore):
    """Refuses flows past their deadline itself (the bug this redesign removed)."""

    now = NOW

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        flow = self._unclaimed.get(state_hash)
        if flow is not None and self.now >= flow.deadline:
            return flow, False
        return super().claim(state_hash, binding_hash)


class ForgetsEarly(MemoryFlowStore):
    """Forgets flows at their deadline instead of keeping them for late callbacks."""

    def sweep(self, now: float) -> int:
        return super().sweep(now + 3600)


class IgnoresVersions(MemoryTokenStore):
    """Writes whatever the expected version."""

    def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        return super().put(tokens)


class LosesAcknowledgedWrites(MemoryTokenStore):
    """Acknowledges a write, then keeps the old record."""

    def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        current = self.get(tokens.key)
        written = super().put(tokens, expected_version=expected_version)
        if current is not None:
            super().put(current.tokens)
        return written


def test_suite_catches_a_store_that_claims_twice() -> None:
    suite = FlowStoreConformance()
    with pytest.raises(AssertionError):
        suite.test_only_the_right_binding_claims_and_only_once(ClaimsTwice(), NOW)
    with pytest.raises(AssertionError):
        suite.test_concurrent_claims_have_one_winner(ClaimsTwice(), NOW)
    with pytest.raises(AssertionError):
        suite.test_claim_survives_faults(ClaimsTwice(), CommitFault(), NOW, Fault.AFTER)


def test_suite_catches_a_store_that_ignores_the_binding() -> None:
    suite = FlowStoreConformance()
    with pytest.raises(AssertionError):
        suite.test_only_the_right_binding_claims_and_only_once(IgnoresTheBinding(), NOW)
    with pytest.raises(AssertionError):
        suite.test_a_foreign_binding_never_wins_a_race(IgnoresTheBinding(), NOW)


def test_suite_catches_a_store_that_judges_time() -> None:
    with pytest.raises(AssertionError):
        FlowStoreConformance().test_time_decides_nothing_in_the_store(JudgesTime(), NOW)


def test_suite_catches_a_store_that_forgets_early() -> None:
    with pytest.raises(AssertionError):
        SweepConformance().test_keeps_every_flow_until_forget_at(ForgetsEarly(), NOW)


def test_suite_catches_a_store_without_compare_and_set() -> None:
    suite = TokenStoreConformance()
    with pytest.raises(pytest.fail.Exception, match="StaleTokenWrite"):
        suite.test_compare_and_set(IgnoresVersions(), NOW)
    with pytest.raises(AssertionError):
        suite.test_concurrent_compare_and_set_has_one_winner(IgnoresVersions(), NOW)


def test_suite_catches_a_store_that_loses_writes() -> None:
    suite = TokenStoreConformance()
    with pytest.raises(AssertionError):
        suite.test_compare_and_set(LosesAcknowledgedWrites(), NOW)
    with pytest.raises(AssertionError):
        suite.test_put_survives_faults(LosesAcknowledgedWrites(), CommitFault(), NOW, Fault.AFTER)


def test_faulty_wrapper_needs_the_adapter_to_break_its_commit() -> None:
    # A store that ignores its commit seam commits anyway; the wrapper says so.
    fault = CommitFault()
    faulty = FaultyFlowStore(MemoryFlowStore(), commit_fault=fault)
    faulty.fail_next(Fault.AT_COMMIT)
    with pytest.raises(AssertionError, match="committed although"):
        faulty.save(attrs.evolve(_flow(1)))
