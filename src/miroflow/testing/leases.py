"""The refresh-lease conformance suite: what every ``TokenStore.lease`` / ``release`` must do,
and the multi-process single-flight check.

A store adapter runs it by subclassing in a test module (beside its ``TokenStoreConformance``
class, with the same ``token_store`` fixture)::

    from miroflow.testing.leases import TokenLeaseConformance

    class TestMyTokenLease(TokenLeaseConformance):
        @pytest.fixture
        def token_store(self, tmp_path):
            return MyTokenStore(tmp_path / "db")

Async stores subclass ``AsyncTokenLeaseConformance`` and provide ``make_async_token_store``
(as for ``AsyncTokenStoreConformance``).

The single flight across processes: ``run_concurrent_refreshes`` spawns processes whose
threads all ask a ``Client`` for the same due token at once; the simulator must see exactly
one refresh, and every caller must get the new token::

    with SharedObjects() as shared:
        race = run_concurrent_refreshes(
            store=StoreSpec(factory="miroflow_sqlite:SqliteTokenStore", kwargs={"path": db}),
            transport=shared.spec(simulator.transport),
            config=config, user_id=tokens.user_id, team_id=tokens.team_id,
        )
    assert len(simulator.token_requests("refresh_token")) == 1
    assert race.digests == {token_digest(stored_new_access_token)} and not race.errors

Time is injected: the suite passes ``now`` and never sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

try:
    import pytest
except ModuleNotFoundError as missing:  # without the testing extra: say which to install
    from miroflow.testing import _needs_testing_extra

    raise _needs_testing_extra(__name__, missing) from None

from miroflow import AsyncTokenStore, TokenKey, TokenSet, TokenStore
from miroflow.testing._lease_race import (
    RefreshRace,
    SharedObjects,
    connect_shared,
    run_concurrent_refreshes,
    token_digest,
)
from miroflow.testing._store_harness import (
    BlockingTokenStore,
    EventLoopThread,
    StoreSpec,
    close_store,
    open_store,
    race,
)

__all__ = [
    "AsyncTokenLeaseConformance",
    "RefreshRace",
    "SharedObjects",
    "StoreSpec",
    "TokenLeaseConformance",
    "connect_shared",
    "run_concurrent_refreshes",
    "token_digest",
]

#: How many threads race for one free lease.
CONCURRENT_LEASES = 50
TTL = 10.0

_unique = iter(range(1 << 62))


def _fresh_key() -> TokenKey:
    return TokenKey(
        client_id="3074457363680401096",
        user_id=str(time.time_ns()),
        team_id=str(next(_unique)),
    )


class TokenLeaseConformance:
    """Tests every ``TokenStore``'s lease passes. Provide a ``token_store`` fixture.

    The lease is one compare-and-set with an end: taken when nobody holds it or its end is
    at or before ``now``; given back only by its holder."""

    @pytest.fixture
    def now(self) -> float:
        # A day ahead of the real clock: a store that also lets leases lapse in real time
        # (a Redis PX) keeps them for the whole test.
        return float(int(time.time()) + 86400)

    def test_is_a_token_store_with_a_lease(self, token_store: TokenStore) -> None:
        assert isinstance(token_store, TokenStore)

    def test_one_holder_at_a_time(self, token_store: TokenStore, now: float) -> None:
        key = _fresh_key()
        assert token_store.lease(key, "a", now=now, ttl=TTL) is True
        assert token_store.lease(key, "b", now=now, ttl=TTL) is False
        assert token_store.lease(key, "b", now=now + TTL - 0.5, ttl=TTL) is False
        # The holder asking again while its lease runs is refused too (no renewal).
        assert token_store.lease(key, "a", now=now + 1, ttl=TTL) is False

    def test_a_lapsed_lease_is_taken_over(self, token_store: TokenStore, now: float) -> None:
        key = _fresh_key()
        assert token_store.lease(key, "a", now=now, ttl=TTL) is True
        assert token_store.lease(key, "b", now=now + TTL, ttl=TTL) is True  # at its end
        assert token_store.lease(key, "c", now=now + TTL + 1, ttl=TTL) is False
        # The old holder's release cannot end its successor's lease.
        token_store.release(key, "a")
        assert token_store.lease(key, "c", now=now + TTL + 1, ttl=TTL) is False

    def test_release_frees_it_for_anyone(self, token_store: TokenStore, now: float) -> None:
        key = _fresh_key()
        assert token_store.lease(key, "a", now=now, ttl=TTL) is True
        token_store.release(key, "b")  # not the holder: nothing changes
        assert token_store.lease(key, "b", now=now, ttl=TTL) is False
        token_store.release(key, "a")
        token_store.release(key, "a")  # twice is no error
        assert token_store.lease(key, "b", now=now, ttl=TTL) is True

    def test_release_of_nothing_is_no_error(self, token_store: TokenStore) -> None:
        token_store.release(_fresh_key(), "a")

    def test_leases_are_per_key(self, token_store: TokenStore, now: float) -> None:
        key = _fresh_key()
        other_team = TokenKey(client_id=key.client_id, user_id=key.user_id, team_id="1")
        other_app = TokenKey(
            client_id="3074457363680401097", user_id=key.user_id, team_id=key.team_id
        )
        for each in (key, other_team, other_app):
            assert token_store.lease(each, "a", now=now, ttl=TTL) is True

    def test_the_lease_is_apart_from_the_tokens(self, token_store: TokenStore, now: float) -> None:
        key = _fresh_key()
        tokens = TokenSet(
            client_id=key.client_id,
            access_token="a" * 43,
            refresh_token="r" * 43,
            user_id=key.user_id,
            team_id=key.team_id,
            obtained_at=now,
            expires_at=now + 3599,
        )
        assert token_store.lease(key, "a", now=now, ttl=TTL) is True  # nothing stored
        stored = token_store.put(tokens, expected_version=0)
        assert token_store.get(key) == stored  # a lease changes no record
        token_store.delete(key)
        assert token_store.lease(key, "b", now=now, ttl=TTL) is False  # delete keeps it
        token_store.release(key, "a")
        assert token_store.get(key) is None

    def test_concurrent_leases_have_one_winner(self, token_store: TokenStore, now: float) -> None:
        key = _fresh_key()
        names = iter(range(CONCURRENT_LEASES))
        outcomes = race(
            lambda: token_store.lease(key, f"holder-{next(names)}", now=now, ttl=TTL),
            CONCURRENT_LEASES,
        )
        assert outcomes.count(True) == 1, outcomes
        assert outcomes.count(False) == CONCURRENT_LEASES - 1

    def test_concurrent_takeover_of_a_lapsed_lease_has_one_winner(
        self, token_store: TokenStore, now: float
    ) -> None:
        key = _fresh_key()
        assert token_store.lease(key, "dead", now=now, ttl=TTL) is True
        names = iter(range(CONCURRENT_LEASES))
        outcomes = race(
            lambda: token_store.lease(key, f"heir-{next(names)}", now=now + TTL + 5, ttl=TTL),
            CONCURRENT_LEASES,
        )
        assert outcomes.count(True) == 1, outcomes


class AsyncTokenLeaseConformance(TokenLeaseConformance):
    """``TokenLeaseConformance`` for an ``AsyncTokenStore``; provide ``make_async_token_store``
    (a function or coroutine function, called inside the event loop, returning a fresh
    store)."""

    @pytest.fixture
    def token_store(self, make_async_token_store: Callable[[], Any]) -> Iterator[TokenStore]:
        with EventLoopThread() as loop:
            store = loop.run(open_store(make_async_token_store))
            assert isinstance(store, AsyncTokenStore)
            try:
                yield BlockingTokenStore(store, loop)
            finally:
                loop.run(close_store(store))
