"""The in-memory stores pass the public store conformance suite, and the suite fails stores
that break the contract."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

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
    StaleTokenWrite,
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


# --- faults inside the store: a container fails part-way through an operation ----------------
#
# The wrapper faults above strike before or after the store's own work. These strike inside
# it: every dict and deque of a store instance is swapped for one whose n-th write raises
# MemoryError, for n = 1, 2, ... until the operation runs through. Whatever write fails, the
# store must stay all-or-nothing: a flow is never claimable twice and never vanishes, a claim
# that raised takes nothing (the owner can still claim the flow), a claim once won is never
# undone, and a token write is applied whole or not at all.

WRONG = hash_binding("W" * 43)


class Fuse:
    """Blows once, at the ``at``-th write to any container it is wired into."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.writes = 0
        self.blown = False
        self.armed = True

    def tick(self) -> None:
        self.writes += 1
        if self.armed and self.writes == self.at:
            self.blown = True
            raise MemoryError("injected: the store's container failed part-way")


class FusedDict(dict):  # type: ignore[type-arg]
    def __init__(self, data: dict[Any, Any], fuse: Fuse) -> None:
        super().__init__(data)
        self.fuse = fuse

    def __setitem__(self, key: Any, value: Any) -> None:
        self.fuse.tick()
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self.fuse.tick()
        super().__delitem__(key)

    def pop(self, *args: Any) -> Any:
        self.fuse.tick()
        return super().pop(*args)

    def popitem(self) -> Any:
        self.fuse.tick()
        return super().popitem()

    def setdefault(self, *args: Any) -> Any:
        self.fuse.tick()
        return super().setdefault(*args)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.fuse.tick()
        super().update(*args, **kwargs)

    def clear(self) -> None:
        self.fuse.tick()
        super().clear()


class FusedDeque(deque):  # type: ignore[type-arg]
    def __init__(self, data: deque[Any], fuse: Fuse) -> None:
        super().__init__(data)
        self.fuse = fuse

    def append(self, item: Any) -> None:
        self.fuse.tick()
        super().append(item)

    def appendleft(self, item: Any) -> None:
        self.fuse.tick()
        super().appendleft(item)

    def popleft(self) -> Any:
        self.fuse.tick()
        return super().popleft()

    def extend(self, items: Any) -> None:
        self.fuse.tick()
        super().extend(items)

    def clear(self) -> None:
        self.fuse.tick()
        super().clear()


def _wire(store: object, fuse: Fuse) -> None:
    """Swaps every dict and deque the store holds for a fused copy (no private names used)."""
    wired = 0
    for name, value in list(vars(store).items()):
        if type(value) is dict:
            setattr(store, name, FusedDict(value, fuse))
            wired += 1
        elif type(value) is deque:
            setattr(store, name, FusedDeque(value, fuse))
            wired += 1
    assert wired, "the store holds no container to break"


class _Failed:
    def __repr__(self) -> str:
        return "<raised MemoryError>"


#: What ``check`` is given when the struck operation raised.
FAILED = _Failed()

S = TypeVar("S")


def _strike_everywhere(
    prepare: Callable[[], S],
    operation: Callable[[S], object],
    check: Callable[[S, object], None],
) -> int:
    """Runs ``operation`` on a freshly prepared store once per write it makes, failing that
    write; ``check`` sees the store (faults disarmed) and the result (or ``FAILED``). Returns
    how many writes were struck."""
    for at in itertools.count(1):
        store = prepare()
        fuse = Fuse(at)
        _wire(store, fuse)
        try:
            outcome = operation(store)
        except MemoryError:
            assert fuse.blown
            outcome = FAILED
        fuse.armed = False
        check(store, outcome)
        if not fuse.blown:
            return at - 1
    raise AssertionError("unreachable")


def _claimable_once(store: MemoryFlowStore, flow: Flow) -> None:
    assert store.claim(flow.state_hash, WRONG) == (flow, False)
    assert store.claim(flow.state_hash, None) == (flow, False)
    assert store.claim(flow.state_hash, BINDING) == (flow, True)
    _claimed(store, flow)


def _claimed(store: MemoryFlowStore, flow: Flow) -> None:
    for binding in (BINDING, WRONG, None):
        assert store.claim(flow.state_hash, binding) == (flow, False)


def test_a_claim_that_fails_part_way_is_all_or_nothing() -> None:
    flow = _flow(1)

    def prepare() -> MemoryFlowStore:
        store = MemoryFlowStore()
        store.save(flow)
        return store

    def check(store: MemoryFlowStore, outcome: object) -> None:
        if outcome is FAILED:
            # The claim that raised took nothing: the flow neither vanished nor burned, and
            # the owner can still claim it, once.
            _claimable_once(store, flow)
        else:
            assert outcome == (flow, True)
            _claimed(store, flow)

    assert _strike_everywhere(prepare, lambda store: store.claim(flow.state_hash, BINDING), check)


def test_a_save_that_fails_part_way_is_all_or_nothing() -> None:
    flow = _flow(1)

    def check(store: MemoryFlowStore, outcome: object) -> None:
        found = store.claim(flow.state_hash, BINDING)
        assert found in ((None, False), (flow, True))
        if found == (None, False):
            assert outcome is FAILED
            store.save(flow)  # a retry works
            assert store.claim(flow.state_hash, BINDING) == (flow, True)
        _claimed(store, flow)
        # Saved once or twice, the flow is forgotten when its time comes, and only then.
        assert store.sweep(flow.forget_at - 1) == 0
        _claimed(store, flow)
        store.sweep(flow.forget_at)
        assert store.claim(flow.state_hash, BINDING) == (None, False)
        assert len(store) == 0

    assert _strike_everywhere(MemoryFlowStore, lambda store: store.save(flow), check)


@pytest.mark.parametrize("first_claimed", [True, False], ids=["claimed", "unclaimed"])
def test_a_save_over_a_flow_that_fails_part_way_is_all_or_nothing(first_claimed: bool) -> None:
    first = _flow(1)
    second = attrs.evolve(first, return_path="/boards")

    def prepare() -> MemoryFlowStore:
        store = MemoryFlowStore()
        store.save(first)
        if first_claimed:
            assert store.claim(first.state_hash, BINDING) == (first, True)
        return store

    def check(store: MemoryFlowStore, outcome: object) -> None:
        if outcome is not FAILED:
            _claimable_once(store, second)
        elif first_claimed:
            # The old claimed flow, or the new unclaimed one: never neither, never both.
            found = store.claim(first.state_hash, BINDING)
            assert found in ((first, False), (second, True))
            _claimed(store, found[0] or first)
        else:
            found = store.claim(first.state_hash, BINDING)
            assert found in ((first, True), (second, True))
            _claimed(store, found[0] or first)

    assert _strike_everywhere(prepare, lambda store: store.save(second), check)


def _due_and_live(store: MemoryFlowStore) -> tuple[list[Flow], list[Flow]]:
    """Saves four flows (two due at NOW + 900 + retention, two later) and claims one of each."""
    due = [_flow(1), _flow(2)]
    live = [_flow(3, created=NOW + 60), _flow(4, created=NOW + 60)]
    for flow in due + live:
        store.save(flow)
    for flow in (due[0], live[0]):
        assert store.claim(flow.state_hash, BINDING) == (flow, True)
    return due, live


def test_forgetting_that_fails_part_way_never_revives_a_claim_or_loses_a_live_flow() -> None:
    due, live = _due_and_live(MemoryFlowStore())
    when = due[0].forget_at

    def prepare() -> MemoryFlowStore:
        store = MemoryFlowStore()
        _due_and_live(store)
        return store

    def check(store: MemoryFlowStore, outcome: object) -> None:
        assert outcome in (FAILED, 0, 1, 2)
        # A due flow is forgotten or intact; a live one intact.
        if store.claim(due[0].state_hash, BINDING) != (None, False):
            _claimed(store, due[0])
        if store.claim(due[1].state_hash, WRONG) != (None, False):
            assert store.claim(due[1].state_hash, WRONG) == (due[1], False)
        _claimed(store, live[0])
        assert store.claim(live[1].state_hash, WRONG) == (live[1], False)
        # A sweep after recovery forgets every due flow and nothing else.
        store.sweep(when)
        for flow in due:
            assert store.claim(flow.state_hash, BINDING) == (None, False)
        _claimed(store, live[0])
        _claimable_once(store, live[1])
        assert len(store) == 2

    assert _strike_everywhere(prepare, lambda store: store.sweep(when), check)


def test_a_save_that_forgets_and_fails_part_way_keeps_every_promise() -> None:
    # Every 64th save also forgets: strike inside that save, with due flows to forget.
    later = _flow(99, created=_flow(0).forget_at)
    due, live = _due_and_live(MemoryFlowStore())
    others = [_flow(number, created=NOW + 60) for number in range(100, 159)]

    def prepare() -> MemoryFlowStore:
        store = MemoryFlowStore()
        _due_and_live(store)
        for flow in others:
            store.save(flow)
        return store

    def check(store: MemoryFlowStore, outcome: object) -> None:
        found = store.claim(later.state_hash, BINDING)
        assert found in ((None, False), (later, True))
        if found == (None, False):
            assert outcome is FAILED
        if store.claim(due[0].state_hash, BINDING) != (None, False):
            _claimed(store, due[0])
        if store.claim(due[1].state_hash, WRONG) != (None, False):
            _claimable_once(store, due[1])
        _claimed(store, live[0])
        _claimable_once(store, live[1])
        for flow in others:
            _claimable_once(store, flow)
        store.sweep(later.created_at)
        for flow in due:
            assert store.claim(flow.state_hash, BINDING) == (None, False)

    struck = _strike_everywhere(prepare, lambda store: store.save(later), check)
    assert struck > 4  # the save, and the forgetting it ran


def _tokens(access: str) -> TokenSet:
    return TokenSet(
        client_id="3074457363680401096",
        access_token=access,
        refresh_token="r" * 43,
        user_id="3458764517517852417",
        team_id="3458764517517819000",
        scopes=("boards:read",),
        obtained_at=NOW,
        expires_at=NOW + 3599,
    )


OLD, NEW = _tokens("o" * 43), _tokens("n" * 43)


def test_a_token_write_that_fails_part_way_is_all_or_nothing() -> None:
    def prepare() -> MemoryTokenStore:
        store = MemoryTokenStore()
        store.put(OLD, expected_version=0)
        return store

    def check(store: MemoryTokenStore, outcome: object) -> None:
        stored = store.get(OLD.key)
        if outcome is FAILED and stored == StoredTokens(tokens=OLD, version=1):
            assert store.put(NEW, expected_version=1) == StoredTokens(tokens=NEW, version=2)
        else:
            assert stored == StoredTokens(tokens=NEW, version=2)
            with pytest.raises(StaleTokenWrite):
                store.put(OLD, expected_version=1)
        assert store.get(OLD.key) == StoredTokens(tokens=NEW, version=2)

    assert _strike_everywhere(prepare, lambda store: store.put(NEW, expected_version=1), check)


def test_a_first_token_write_and_a_delete_that_fail_part_way_are_all_or_nothing() -> None:
    def check_put(store: MemoryTokenStore, outcome: object) -> None:
        assert store.get(NEW.key) in (None, StoredTokens(tokens=NEW, version=1))
        if store.get(NEW.key) is None:
            assert outcome is FAILED
            store.put(NEW, expected_version=0)
        with pytest.raises(StaleTokenWrite):
            store.put(NEW, expected_version=0)

    assert _strike_everywhere(
        MemoryTokenStore, lambda store: store.put(NEW, expected_version=0), check_put
    )

    def prepare() -> MemoryTokenStore:
        store = MemoryTokenStore()
        store.put(OLD)
        return store

    def check_delete(store: MemoryTokenStore, outcome: object) -> None:
        assert store.get(OLD.key) in (None, StoredTokens(tokens=OLD, version=1))
        store.delete(OLD.key)
        assert store.get(OLD.key) is None

    assert _strike_everywhere(prepare, lambda store: store.delete(OLD.key), check_delete)
