"""Real faults, not a wrapper's: a TCP proxy between the store and Redis loses one script call
on a live connection, either before it reaches Redis or by swallowing Redis's answer (the
script ran; the client never hears), then closes the connection.

A ``redis.Redis(host=..., port=...)`` replays a command whose connection dropped (redis-py's
default retry policy for clients it builds from arguments), and so does the client a store
makes from a URL (the store asks for retries: redis-py's ``from_url`` makes none). The claim,
token and lease scripts carry a nonce per call, so a replay of a write that was applied
answers as the write did: the rightful browser still wins its flow, once. A client that does
not retry raises ``StoreUnavailable``; the caller's retry then gets a definite answer, and a
flow is never claimed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis
import redis.asyncio
from miroflow_redis import AsyncRedisFlowStore, RedisFlowStore, RedisTokenStore
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from miroflow import (
    ClaimResult,
    Flow,
    FlowState,
    StoredTokens,
    StoreUnavailable,
    TokenKey,
    TokenSet,
)
from miroflow.machine import hash_binding, hash_state

NOW = 4_000_000_000.0
BINDING = hash_binding("b" * 43)
FLOW = Flow(
    state=FlowState.REDIRECTED,
    state_hash=hash_state("3074457363680401096", "s" * 43),
    binding_hash=BINDING,
    created_at=NOW,
    deadline=NOW + 600,
    code_verifier="v" * 43,
)


class LossyProxy:
    """Forwards TCP to Redis. ``lose_next("request")`` drops the next script call (EVALSHA)
    instead of forwarding it; ``lose_next("reply")`` forwards it and drops Redis's answer.
    Either way the connection is then closed, and ``lost`` is set."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._mode: str | None = None
        self._sockets: list[socket.socket] = []
        self.lost = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def lose_next(self, what: str) -> None:
        self._mode = what

    def close(self) -> None:
        self._listener.close()
        for sock in list(self._sockets):
            _shut(sock)

    def _take(self, what: str) -> bool:
        with self._lock:
            if self._mode != what:
                return False
            self._mode = None
            return True

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            self._sockets += [client, server]
            awaiting = threading.Event()  # a script call went up; its reply is due
            threading.Thread(target=self._up, args=(client, server, awaiting), daemon=True).start()
            threading.Thread(
                target=self._down, args=(server, client, awaiting), daemon=True
            ).start()

    def _up(self, client: socket.socket, server: socket.socket, awaiting: threading.Event) -> None:
        while chunk := _recv(client):
            if b"EVALSHA" in chunk:
                if self._take("request"):
                    self.lost.set()
                    return self._cut(client, server)
                if self._mode == "reply":
                    awaiting.set()  # before forwarding: the reply cannot overtake it
            server.sendall(chunk)
        self._cut(client, server)

    def _down(
        self, server: socket.socket, client: socket.socket, awaiting: threading.Event
    ) -> None:
        while chunk := _recv(server):
            if awaiting.is_set():
                awaiting.clear()
                # NOSCRIPT means the script did not run (redis-py loads it and calls again).
                if not chunk.startswith(b"-NOSCRIPT") and self._take("reply"):
                    self.lost.set()
                    return self._cut(client, server)
            client.sendall(chunk)
        self._cut(client, server)

    def _cut(self, client: socket.socket, server: socket.socket) -> None:
        _shut(client)
        _shut(server)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def proxy(redis_url: str) -> Iterator[LossyProxy]:
    parts = urlsplit(redis_url)
    made = LossyProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    yield made
    made.close()


@pytest.fixture
def proxied_url(proxy: LossyProxy, redis_url: str) -> str:
    return f"redis://127.0.0.1:{proxy.port}{urlsplit(redis_url).path}"


@pytest.fixture
def db(redis_url: str) -> int:
    return int(urlsplit(redis_url).path.strip("/") or 0)


@pytest.fixture
def direct(redis_url: str, prefix: str) -> Iterator[RedisFlowStore]:
    """The same store on a connection of its own, which never loses anything."""
    store = RedisFlowStore(redis_url, prefix=prefix)
    yield store
    store.close()


@pytest.mark.parametrize("lost", ["request", "reply"])
def test_a_replayed_claim_answers_as_the_claim_did(
    proxy: LossyProxy, db: int, prefix: str, direct: RedisFlowStore, lost: str
) -> None:
    client = redis.Redis(host="127.0.0.1", port=proxy.port, db=db)  # retries by default
    store = RedisFlowStore(client, prefix=prefix)
    store.save(FLOW)  # through the proxy, before anything is lost
    proxy.lose_next(lost)
    assert store.claim(FLOW.state_hash, BINDING) == (FLOW, True)
    assert proxy.lost.is_set(), "the proxy lost nothing"
    assert store.claim(FLOW.state_hash, BINDING) == (FLOW, False)
    assert direct.claim(FLOW.state_hash, BINDING) == (FLOW, False)
    client.close()


@pytest.mark.parametrize("lost", ["request", "reply"])
def test_a_replayed_claim_answers_as_the_claim_did_async(
    proxy: LossyProxy, db: int, prefix: str, direct: RedisFlowStore, lost: str
) -> None:
    async def claims() -> list[ClaimResult]:
        client = redis.asyncio.Redis(host="127.0.0.1", port=proxy.port, db=db)
        store = AsyncRedisFlowStore(client, prefix=prefix)
        try:
            await store.save(FLOW)
            proxy.lose_next(lost)
            return [await store.claim(FLOW.state_hash, BINDING) for _ in range(2)]
        finally:
            await client.aclose()

    assert asyncio.run(claims()) == [(FLOW, True), (FLOW, False)]
    assert proxy.lost.is_set(), "the proxy lost nothing"
    assert direct.claim(FLOW.state_hash, BINDING) == (FLOW, False)


@pytest.mark.parametrize("lost", ["request", "reply"])
def test_a_store_made_from_a_url_replays_a_lost_claim(
    proxy: LossyProxy, proxied_url: str, prefix: str, direct: RedisFlowStore, lost: str
) -> None:
    store = RedisFlowStore(proxied_url, prefix=prefix)
    store.save(FLOW)
    proxy.lose_next(lost)
    assert store.claim(FLOW.state_hash, BINDING) == (FLOW, True)
    assert proxy.lost.is_set(), "the proxy lost nothing"
    assert direct.claim(FLOW.state_hash, BINDING) == (FLOW, False)
    store.close()


def _no_retries(port: int, db: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, db=db, retry=Retry(NoBackoff(), 0))


@pytest.mark.parametrize("lost", ["request", "reply"])
def test_without_retries_a_lost_claim_is_unavailable_then_definite(
    proxy: LossyProxy, db: int, prefix: str, direct: RedisFlowStore, lost: str
) -> None:
    client = _no_retries(proxy.port, db)
    store = RedisFlowStore(client, prefix=prefix)
    store.save(FLOW)
    proxy.lose_next(lost)
    with pytest.raises(StoreUnavailable, match="not reachable"):
        store.claim(FLOW.state_hash, BINDING)
    assert proxy.lost.is_set(), "the proxy lost nothing"
    # The caller's retry is a new claim. If the lost one never reached Redis, the retry wins;
    # if it ran, the flow is claimed already and stays so: it is never won twice.
    ran = lost == "reply"
    assert store.claim(FLOW.state_hash, BINDING) == (FLOW, not ran)
    assert direct.claim(FLOW.state_hash, BINDING) == (FLOW, False)
    client.close()


def test_a_store_made_from_a_url_replays_a_lost_claim_async(
    proxy: LossyProxy, proxied_url: str, prefix: str, direct: RedisFlowStore
) -> None:
    async def claim() -> ClaimResult:
        store = AsyncRedisFlowStore(proxied_url, prefix=prefix)
        try:
            await store.save(FLOW)
            proxy.lose_next("reply")
            return await store.claim(FLOW.state_hash, BINDING)
        finally:
            await store.aclose()

    assert asyncio.run(claim()) == (FLOW, True)
    assert proxy.lost.is_set(), "the proxy lost nothing"
    assert direct.claim(FLOW.state_hash, BINDING) == (FLOW, False)


def test_without_retries_a_lost_claim_is_unavailable_then_definite_async(
    proxy: LossyProxy, db: int, prefix: str, direct: RedisFlowStore
) -> None:
    async def claim() -> ClaimResult:
        client = redis.asyncio.Redis(
            host="127.0.0.1", port=proxy.port, db=db, retry=AsyncRetry(NoBackoff(), 0)
        )
        store = AsyncRedisFlowStore(client, prefix=prefix)
        try:
            await store.save(FLOW)
            proxy.lose_next("reply")
            with pytest.raises(StoreUnavailable):
                await store.claim(FLOW.state_hash, BINDING)
            return await store.claim(FLOW.state_hash, BINDING)
        finally:
            await client.aclose()

    assert asyncio.run(claim()) == (FLOW, False)
    assert proxy.lost.is_set(), "the proxy lost nothing"
    assert direct.claim(FLOW.state_hash, BINDING) == (FLOW, False)


def test_a_replayed_token_write_answers_as_the_write_did(
    proxy: LossyProxy, db: int, prefix: str, redis_url: str
) -> None:
    # Without the nonce, the replay of an applied compare-and-set would find its own write
    # and report it stale.
    old = TokenSet(
        client_id="3074457363680401096",
        access_token="a" * 43,
        user_id="3458764513820540928",
        team_id="3458764513820541000",
        obtained_at=NOW,
    )
    new = TokenSet(
        client_id=old.client_id,
        access_token="n" * 43,
        user_id=old.user_id,
        team_id=old.team_id,
        obtained_at=NOW + 60,
    )
    client = redis.Redis(host="127.0.0.1", port=proxy.port, db=db)  # retries by default
    store = RedisTokenStore(client, prefix=prefix)
    store.put(old, expected_version=0)
    proxy.lose_next("reply")
    assert store.put(new, expected_version=1) == StoredTokens(tokens=new, version=2)
    assert proxy.lost.is_set(), "the proxy lost nothing"
    other = RedisTokenStore(redis_url, prefix=prefix)
    assert other.get(new.key) == StoredTokens(tokens=new, version=2)
    other.close()
    client.close()


@pytest.mark.parametrize("lost", ["request", "reply"])
def test_a_replayed_lease_answers_as_the_lease_did(
    proxy: LossyProxy, db: int, prefix: str, redis_url: str, lost: str
) -> None:
    # A holder asking again while its lease runs is refused: without the nonce, the replay
    # of a lease that was taken would be refused to the very call that took it.
    key = TokenKey(client_id="3074457363680401096", user_id="1", team_id="2")
    client = redis.Redis(host="127.0.0.1", port=proxy.port, db=db)  # retries by default
    store = RedisTokenStore(client, prefix=prefix)
    store.get(key)  # the layout check goes through the proxy before anything is lost
    proxy.lose_next(lost)
    assert store.lease(key, "holder-1", now=NOW, ttl=30.0)
    assert proxy.lost.is_set(), "the proxy lost nothing"
    assert not store.lease(key, "holder-1", now=NOW + 1, ttl=30.0)
    other = RedisTokenStore(redis_url, prefix=prefix)
    assert not other.lease(key, "holder-2", now=NOW + 29.5, ttl=30.0)
    assert other.lease(key, "holder-2", now=NOW + 30.0, ttl=30.0)
    other.close()
    client.close()
