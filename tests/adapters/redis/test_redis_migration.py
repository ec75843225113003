"""Key layout 1 (miroflow-redis 0.1) to 2: the layout marker moves up, token keys are adopted
lazily and atomically by the app that first reads or writes them, and version 1 flow keys are
left to expire by their own TTL.

Every test writes a real version 1 layout by hand, exactly as 0.1's scripts left it: the
marker ``"1"``; tokens in a hash (``record``, ``version``) under ``tokens:<user>:<team>``
holding a version 1 record (no ``client_id``); a flow in a hash (``record``, ``deadline``,
``claimed``) under ``flow:<sha256(state) hex>`` with a PEXPIREAT.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

import attrs
import pytest
import redis
from miroflow_redis import KEY_LAYOUT_VERSION, AsyncRedisTokenStore, RedisTokenStore

from miroflow import RecordError, StaleTokenWrite, StoredTokens, TokenKey
from miroflow.records import SCHEMA_VERSION
from miroflow.testing.legacy import adopted, v1_token_record

NOW = 4_000_000_000.0
APP, OTHER_APP = "3074457363680401096", "3074457363680401097"
USER, TEAM = "3458764513820540928", "3458764513820541000"
KEY = TokenKey(client_id=APP, user_id=USER, team_id=TEAM)
V1_TOKENS = v1_token_record(
    user_id=USER, team_id=TEAM, now=NOW, access_token="a" * 43, refresh_token="r" * 43
)
#: What the version 1 record above means for APP.
ADOPTED = adopted(V1_TOKENS, APP)


def v1_record(**changes: Any) -> bytes:
    return json.dumps({**V1_TOKENS, **changes}, separators=(",", ":")).encode()


@attrs.frozen
class V1Layout:
    """The keys of a version 1 layout under one prefix."""

    prefix: str

    @property
    def marker(self) -> str:
        return f"{self.prefix}schema"

    def tokens(self, user_id: str = USER, team_id: str = TEAM) -> str:
        return f"{self.prefix}tokens:{user_id}:{team_id}"

    def flow(self, state: str) -> str:
        return f"{self.prefix}flow:{hashlib.sha256(state.encode()).hexdigest()}"

    def v2_tokens(self, key: TokenKey = KEY) -> str:
        return f"{self.prefix}tokens:{key.client_id}:{key.user_id}:{key.team_id}"


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def v1(raw: redis.Redis, prefix: str) -> V1Layout:
    """A version 1 layout: the marker, one token set (at version 3) and one live flow."""
    layout = V1Layout(prefix)
    raw.set(layout.marker, 1)
    raw.hset(layout.tokens(), mapping={"record": v1_record(), "version": 3})
    flow = {
        "v": 1,
        "state": "redirected",
        "state_hash": hashlib.sha256(b"old-state").hexdigest(),
        "binding_hash": hashlib.sha256(b"old-binding").hexdigest(),
        "created_at": NOW,
        "deadline": NOW + 900,
        "code_verifier": "v" * 43,
        "code": None,
        "code_received_at": None,
        "team_id": None,
        "failure": None,
    }
    raw.hset(
        layout.flow("old-state"),
        mapping={"record": json.dumps(flow), "deadline": repr(NOW + 900), "claimed": "0"},
    )
    raw.pexpireat(layout.flow("old-state"), int((NOW + 900 + 3600) * 1000) + 1)
    return layout


@pytest.fixture
def store(redis_url: str, prefix: str) -> Iterator[RedisTokenStore]:
    made = RedisTokenStore(redis_url, prefix=prefix)
    yield made
    made.close()


def test_a_read_adopts_version_1_tokens(
    raw: redis.Redis, v1: V1Layout, store: RedisTokenStore
) -> None:
    flow_expiry = raw.pexpiretime(v1.flow("old-state"))
    assert store.get(KEY) == StoredTokens(tokens=ADOPTED, version=3)
    # Moved, not copied: the new key holds a version 2 record for this app, the old one is gone.
    assert not raw.exists(v1.tokens())
    record = json.loads(raw.hget(v1.v2_tokens(), "record") or b"")
    assert (record["v"], record["client_id"]) == (SCHEMA_VERSION, APP)
    assert raw.get(v1.marker) == str(KEY_LAYOUT_VERSION).encode()
    # Version 1 flows are never read again; they go when their TTL says so.
    assert raw.pexpiretime(v1.flow("old-state")) == flow_expiry
    assert raw.hget(v1.flow("old-state"), "claimed") == b"0"
    # Adopted once, by the first app to ask; the tokens carry on from their version.
    assert store.get(attrs.evolve(KEY, client_id=OTHER_APP)) is None
    assert store.get(KEY) == StoredTokens(tokens=ADOPTED, version=3)
    assert store.put(ADOPTED, expected_version=3).version == 4


def test_a_write_adopts_version_1_tokens(
    raw: redis.Redis, v1: V1Layout, store: RedisTokenStore
) -> None:
    newer = attrs.evolve(ADOPTED, access_token="n" * 43)
    with pytest.raises(StaleTokenWrite, match="at version 3, not 0"):
        store.put(newer, expected_version=0)
    assert raw.exists(v1.tokens())  # a write that lost changes nothing
    assert store.put(newer, expected_version=3) == StoredTokens(tokens=newer, version=4)
    assert not raw.exists(v1.tokens())
    assert store.get(KEY) == StoredTokens(tokens=newer, version=4)


def test_an_unconditional_write_carries_the_version_on(
    v1: V1Layout, store: RedisTokenStore
) -> None:
    assert store.put(ADOPTED) == StoredTokens(tokens=ADOPTED, version=4)


def test_a_delete_also_deletes_version_1_tokens(
    raw: redis.Redis, v1: V1Layout, store: RedisTokenStore
) -> None:
    # Otherwise the next read would adopt the tokens just deleted.
    store.delete(KEY)
    assert not raw.exists(v1.tokens())
    assert store.get(KEY) is None


def test_a_corrupt_version_1_record_is_refused_and_kept(
    raw: redis.Redis, v1: V1Layout, store: RedisTokenStore
) -> None:
    raw.hset(v1.tokens(), "record", v1_record(scopes="boards:read"))
    with pytest.raises(RecordError, match="corrupt"):
        store.get(KEY)
    raw.hset(v1.tokens(), "record", v1_record(user_id="42"))
    with pytest.raises(RecordError, match="another user or team"):
        store.get(KEY)
    assert raw.exists(v1.tokens())
    assert not raw.exists(v1.v2_tokens())


def test_adoption_works_from_asyncio(raw: redis.Redis, v1: V1Layout, redis_url: str) -> None:
    async def get() -> StoredTokens | None:
        store = AsyncRedisTokenStore(redis_url, prefix=v1.prefix)
        try:
            return await store.get(KEY)
        finally:
            await store.aclose()

    assert asyncio.run(get()) == StoredTokens(tokens=ADOPTED, version=3)
    assert not raw.exists(v1.tokens())


# --- two adopters at once --------------------------------------------------------------------


class Interposing(redis.Redis):
    """A client that lets another worker act at the worst moment: ``action`` runs once, right
    before the first script call carrying ``marker`` among its arguments. Only the adoption
    carries a version 1 record: between the read that found it and the compare-and-set."""

    marker: bytes = b""
    action: Callable[[], None] | None = None
    fired = 0

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        action = self.action
        if action is not None and self.marker in keys_and_args:
            self.action, self.fired = None, self.fired + 1
            action()
        return super().evalsha(sha, numkeys, *keys_and_args)


@pytest.fixture
def interposing(redis_url: str) -> Iterator[Interposing]:
    client = cast(Interposing, Interposing.from_url(redis_url))
    client.marker = v1_record()
    yield client
    client.close()


def test_an_adopter_that_lost_reads_the_winners_tokens(
    v1: V1Layout, interposing: Interposing, redis_url: str
) -> None:
    # Another worker adopts the tokens and writes newer ones between our read and our
    # compare-and-set: ours must fail, and we must return theirs, not overwrite them.
    newer = attrs.evolve(ADOPTED, access_token="n" * 43)
    other = RedisTokenStore(redis_url, prefix=v1.prefix)

    def other_worker() -> None:
        assert other.get(KEY) == StoredTokens(tokens=ADOPTED, version=3)
        assert other.put(newer, expected_version=3).version == 4

    interposing.action = other_worker
    store = RedisTokenStore(interposing, prefix=v1.prefix)
    assert store.get(KEY) == StoredTokens(tokens=newer, version=4)
    assert interposing.fired == 1, "the interleaving never happened"
    assert other.get(KEY) == StoredTokens(tokens=newer, version=4)
    other.close()


def test_a_version_1_write_during_adoption_is_not_lost(
    raw: redis.Redis, v1: V1Layout, interposing: Interposing
) -> None:
    # A miroflow-redis 0.1 worker (still running) refreshes the tokens between our read and
    # our compare-and-set: ours fails, and we adopt its newer tokens instead.
    def old_worker() -> None:
        raw.hset(v1.tokens(), mapping={"record": v1_record(access_token="o" * 43), "version": 4})

    interposing.action = old_worker
    store = RedisTokenStore(interposing, prefix=v1.prefix)
    assert store.get(KEY) == StoredTokens(
        tokens=attrs.evolve(ADOPTED, access_token="o" * 43), version=4
    )
    assert interposing.fired == 1, "the interleaving never happened"
    assert not raw.exists(v1.tokens())


@pytest.mark.parametrize("round_", range(5))
def test_racing_readers_and_writers_adopt_once_and_lose_nothing(
    raw: redis.Redis, prefix: str, redis_url: str, round_: int
) -> None:
    # Workers on separate connections read and compare-and-set the same version 1 tokens at
    # once: exactly one write wins, and no late adoption ever overwrites it.
    v1 = V1Layout(prefix)
    raw.set(v1.marker, 1)
    raw.hset(v1.tokens(), mapping={"record": v1_record(), "version": 3})
    workers, stores = 16, [RedisTokenStore(redis_url, prefix=prefix) for _ in range(4)]
    gate, lock, results = threading.Barrier(workers), threading.Lock(), []

    def work(i: int) -> None:
        store = stores[i % len(stores)]
        gate.wait()
        try:
            if i % 2:
                mine = attrs.evolve(ADOPTED, access_token=f"{i:043d}")
                result: object = (mine, store.put(mine, expected_version=3))
            else:
                result = store.get(KEY)
        except StaleTokenWrite:
            result = "stale"
        with lock:
            results.append(result)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wins = [r for r in results if isinstance(r, tuple)]
    assert len(wins) == 1, results
    ((winner, written),) = wins
    assert written == StoredTokens(tokens=winner, version=4)
    assert results.count("stale") == workers // 2 - 1
    reads = [r for r in results if isinstance(r, StoredTokens)]
    assert set(reads) <= {StoredTokens(tokens=ADOPTED, version=3), written}
    assert stores[0].get(KEY) == written
    assert not raw.exists(v1.tokens())
    for store in stores:
        store.close()
