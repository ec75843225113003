"""The in-memory stores pass the public store conformance suite, and the suite fails stores
that break the contract."""

from __future__ import annotations

import math

import pytest

from miroflow import (
    AsyncMemoryFlowStore,
    AsyncMemoryTokenStore,
    Claim,
    ClaimOutcome,
    MemoryFlowStore,
    MemoryTokenStore,
    StoredTokens,
    TokenSet,
)
from miroflow.testing.stores import (
    AsyncFlowStoreConformance,
    AsyncTokenStoreConformance,
    CommitFault,
    Fault,
    FaultyFlowStore,
    FlowStoreConformance,
    TokenStoreConformance,
)


class TestMemoryFlowStore(FlowStoreConformance):
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


# --- the suite fails stores that break the contract ------------------------------------------


class ClaimsTwice(MemoryFlowStore):
    """Forgets every claim at once: a second caller wins the same flow again."""

    def claim(self, state_hash: str, now: float) -> Claim:
        claim = super().claim(state_hash, now)
        if claim.flow is not None and claim.outcome is ClaimOutcome.CLAIMED:
            self.save(claim.flow)
        return claim


class ClaimsAtTheDeadline(MemoryFlowStore):
    """Treats the deadline itself as still alive."""

    def claim(self, state_hash: str, now: float) -> Claim:
        return super().claim(state_hash, math.nextafter(now, -math.inf))


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


NOW = 1_900_000_000.0


def test_suite_catches_a_store_that_claims_twice() -> None:
    suite = FlowStoreConformance()
    with pytest.raises(AssertionError):
        suite.test_claims_a_saved_flow_once(ClaimsTwice(), NOW)
    with pytest.raises(AssertionError):
        suite.test_concurrent_claims_have_one_winner(ClaimsTwice(), NOW)
    with pytest.raises(AssertionError):
        suite.test_claim_survives_faults(ClaimsTwice(), CommitFault(), NOW, Fault.AFTER)


def test_suite_catches_a_store_that_claims_at_the_deadline() -> None:
    with pytest.raises(AssertionError):
        FlowStoreConformance().test_expiry_at_the_deadline(ClaimsAtTheDeadline(), NOW)


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
        faulty.delete("0" * 64)
