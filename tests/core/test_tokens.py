"""The token lifecycle through the public clients, against the simulator (which rotates on
refresh and kills the old pair at once): valid tokens, single flight across threads and
tasks, a crashed holder replaced after its lease, refusals, revoke and token context.

Time is the simulator's clock; a waiting caller's pauses advance it (``sleep=``), so no test
waits for real time except where real threads must wait for a real holder."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
from miroflow_simulator import FaultKind, Simulator

import miroflow
import miroflow.machine
from miroflow.simulator import PairState

CALLERS = 50


@attrs.define
class World:
    sim: Simulator
    config: miroflow.ClientConfig
    store: miroflow.MemoryTokenStore
    client: miroflow.Client
    tokens: miroflow.TokenSet
    seen: list[miroflow.Transition]

    def refreshes(self) -> int:
        return len(self.sim.token_requests("refresh_token"))

    def due(self) -> None:
        """Move the clock to within the refresh margin of the tokens' expiry."""
        assert self.tokens.expires_at is not None
        self.sim.advance(self.tokens.expires_at - self.config.refresh_margin - self.sim.now())

    def stored(self) -> miroflow.StoredTokens | None:
        return self.store.get(self.tokens.key)


def sign_in(client: miroflow.Client, sim: Simulator) -> miroflow.TokenSet:
    answer = client.start()
    assert answer.location is not None and answer.cookie is not None
    redirect = sim.dispatch(miroflow.HttpRequest(method="GET", url=answer.location))
    assert isinstance(redirect, miroflow.HttpResponse)
    location = redirect.header("Location")
    assert location is not None
    done = client.handle_callback(urlsplit(location).query, binding_cookie=answer.cookie.value)
    assert done.tokens is not None, done.error
    return done.tokens


def make_world(*, expiring: bool = True, **overrides: Any) -> World:
    sim = Simulator()
    app = sim.register_app(expiring=expiring)
    sim.auto_approve()
    config = sim.client_config(app, **overrides)
    store = miroflow.MemoryTokenStore()
    seen: list[miroflow.Transition] = []
    client = miroflow.Client(
        config,
        flows=miroflow.MemoryFlowStore(),
        tokens=store,
        transport=sim.transport,
        clock=sim.now,
        on_transition=seen.append,
        sleep=sim.advance,  # a waiting caller's pause moves the simulated clock
    )
    tokens = sign_in(client, sim)
    return World(sim=sim, config=config, store=store, client=client, tokens=tokens, seen=seen)


@pytest.fixture
def world() -> World:
    return make_world()


def test_fresh_tokens_are_used_as_stored(world: World) -> None:
    assert world.client.valid_tokens(world.tokens.user_id, world.tokens.team_id) == world.tokens
    assert world.client.access_token(world.tokens.user_id, world.tokens.team_id) == (
        world.tokens.access_token
    )
    assert world.refreshes() == 0


def test_tokens_within_the_margin_are_refreshed_once_with_rotation(world: World) -> None:
    world.due()
    new = world.client.valid_tokens(world.tokens.user_id, world.tokens.team_id)
    assert new.access_token != world.tokens.access_token
    assert new.refresh_token != world.tokens.refresh_token
    assert world.stored() == miroflow.StoredTokens(tokens=new, version=2)
    assert world.refreshes() == 1
    server = world.sim.server
    assert server.pair_state(world.tokens.access_token) is PairState.ROTATED
    assert server.pair_state(new.access_token) is PairState.ACTIVE
    # Used as stored from now on; and the lease was given back (a forced refresh takes it).
    assert world.client.valid_tokens(new.user_id, new.team_id) == new
    newer = world.client.refresh(new.user_id, new.team_id)
    assert newer.access_token != new.access_token
    assert world.refreshes() == 2
    machines = {transition.machine for transition in world.seen}
    assert machines == {"flow", "tokens"}


def test_tokens_that_never_expire_are_used_as_they_are() -> None:
    world = make_world(expiring=False)
    assert world.tokens.expires_at is None
    assert world.tokens.refresh_token is None
    world.sim.advance(10 * 365 * 86400)
    assert world.client.valid_tokens(world.tokens.user_id, world.tokens.team_id) == world.tokens
    with pytest.raises(miroflow.UsageError):
        world.client.refresh(world.tokens.user_id, world.tokens.team_id)
    assert world.refreshes() == 0


def test_nothing_stored_means_sign_in(world: World) -> None:
    with pytest.raises(miroflow.SignInRequired) as caught:
        world.client.valid_tokens(world.tokens.user_id, "42")
    error = caught.value
    assert error.code == "sign_in_required"
    assert error.status_code == 401
    assert error.login_url == "/miro/login?team_id=42"
    assert error.key == miroflow.TokenKey(
        client_id=world.config.client_id, user_id=world.tokens.user_id, team_id="42"
    )


def test_ids_must_be_decimal(world: World) -> None:
    with pytest.raises(miroflow.UsageError):
        world.client.valid_tokens("../1", world.tokens.team_id)


@pytest.mark.parametrize("how", ["revoked", "refresh token past 60 days"])
def test_a_refused_refresh_deletes_the_set_and_asks_for_sign_in_once(
    world: World, how: str
) -> None:
    if how == "revoked":
        world.sim.server.handle(
            miroflow.machine.revoke_request(world.config, world.tokens.access_token),
            now=world.sim.now(),
        )
        world.due()
    else:
        world.sim.advance(61 * 86400)
    with pytest.raises(miroflow.SignInRequired) as caught:
        world.client.valid_tokens(world.tokens.user_id, world.tokens.team_id)
    assert "Invalid refresh token" in caught.value.detail
    assert world.stored() is None
    assert world.refreshes() == 1
    # No loop: the next caller hears the same without asking Miro again.
    with pytest.raises(miroflow.SignInRequired):
        world.client.valid_tokens(world.tokens.user_id, world.tokens.team_id)
    assert world.refreshes() == 1
    # The lease was given back.
    assert world.store.lease(world.tokens.key, "next", now=world.sim.now(), ttl=1.0)


def test_a_wrong_client_secret_keeps_the_set(world: World) -> None:
    wrong = attrs.evolve(world.config, client_secret="not-the-secret")
    client = miroflow.Client(
        wrong,
        flows=miroflow.MemoryFlowStore(),
        tokens=world.store,
        transport=world.sim.transport,
        clock=world.sim.now,
    )
    world.due()
    with pytest.raises(miroflow.TokenRequestRejected) as caught:
        client.valid_tokens(world.tokens.user_id, world.tokens.team_id)
    assert not isinstance(caught.value, miroflow.SignInRequired)
    assert world.stored() is not None


@pytest.mark.parametrize("fault", [FaultKind.SERVER_ERROR, FaultKind.STALL, FaultKind.NOT_JSON])
def test_passing_failures_keep_the_set_and_release_the_lease(
    world: World, fault: FaultKind
) -> None:
    world.due()
    world.sim.inject_fault(fault)
    with pytest.raises(miroflow.MiroflowError) as caught:
        world.client.valid_tokens(world.tokens.user_id, world.tokens.team_id)
    assert not isinstance(caught.value, miroflow.SignInRequired)
    assert world.stored() == miroflow.StoredTokens(tokens=world.tokens, version=1)
    # The next call refreshes at once: nobody holds the lease.
    new = world.client.valid_tokens(world.tokens.user_id, world.tokens.team_id)
    assert new.access_token != world.tokens.access_token


def test_a_failed_write_revokes_the_new_tokens(world: World) -> None:
    class FailingPut(miroflow.MemoryTokenStore):
        def put(
            self, tokens: miroflow.TokenSet, *, expected_version: int | None = None
        ) -> miroflow.StoredTokens:
            raise miroflow.StoreUnavailable("The store is down.")

    store = FailingPut()
    store._records = world.store._records  # the same records, a store that cannot write
    client = miroflow.Client(
        world.config,
        flows=miroflow.MemoryFlowStore(),
        tokens=store,
        transport=world.sim.transport,
        clock=world.sim.now,
    )
    world.due()
    with pytest.raises(miroflow.StoreUnavailable):
        client.valid_tokens(world.tokens.user_id, world.tokens.team_id)
    revokes = [entry for entry in world.sim.log if entry.endpoint == "revoke"]
    assert [entry.status for entry in revokes] == [204]
    assert world.store.lease(world.tokens.key, "next", now=world.sim.now(), ttl=1.0)


def test_fifty_threads_refresh_once_and_all_get_the_new_token(world: World) -> None:
    # Real threads and real pauses: the waiters wait for a real holder.
    client = miroflow.Client(
        world.config,
        flows=miroflow.MemoryFlowStore(),
        tokens=world.store,
        transport=world.sim.transport,
        clock=world.sim.now,
    )
    world.due()
    gate = threading.Barrier(CALLERS)
    got: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        gate.wait()
        token = client.access_token(world.tokens.user_id, world.tokens.team_id)
        with lock:
            got.append(token)

    threads = [threading.Thread(target=one) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = world.stored()
    assert stored is not None and stored.version == 2
    assert world.refreshes() == 1
    assert got == [stored.tokens.access_token] * CALLERS


def test_fifty_tasks_refresh_once_and_all_get_the_new_token(world: World) -> None:
    client = miroflow.AsyncClient(
        world.config,
        flows=miroflow.AsyncMemoryFlowStore(),
        tokens=miroflow.AsyncMemoryTokenStore(world.store),
        transport=world.sim.async_transport,
        clock=world.sim.now,
    )
    world.due()

    async def main() -> list[str]:
        calls = [
            client.access_token(world.tokens.user_id, world.tokens.team_id) for _ in range(CALLERS)
        ]
        return list(await asyncio.gather(*calls))

    got = asyncio.run(main())
    stored = world.stored()
    assert stored is not None
    assert world.refreshes() == 1
    assert got == [stored.tokens.access_token] * CALLERS


def test_a_holder_that_died_mid_refresh_is_replaced_after_its_lease(world: World) -> None:
    world.due()
    now = world.sim.now()
    assert world.store.lease(world.tokens.key, "crashed", now=now, ttl=world.config.refresh_wait)
    # The waiter polls; each pause moves the simulated clock; once the dead holder's lease
    # lapsed, the waiter takes it over and refreshes.
    new = world.client.valid_tokens(world.tokens.user_id, world.tokens.team_id)
    assert new.access_token != world.tokens.access_token
    assert world.refreshes() == 1
    assert world.sim.now() >= now + world.config.refresh_wait
    states = [t.after.value for t in world.seen if t.machine == "tokens"]
    assert states[:3] == ["due", "waiting", "due"]
    assert states[-4:] == ["leased", "refreshing", "storing", "fresh"]


def test_a_live_holder_that_takes_too_long_makes_waiters_give_up(world: World) -> None:
    world.due()
    # A holder whose lease outlives the waiter's patience (as if refresh_wait were longer
    # on its process): the waiter gives up after refresh_wait, the set untouched.
    world.store.lease(world.tokens.key, "slow", now=world.sim.now(), ttl=3600.0)
    with pytest.raises(miroflow.RefreshPending) as caught:
        world.client.valid_tokens(world.tokens.user_id, world.tokens.team_id)
    assert caught.value.status_code == 503
    assert world.refreshes() == 0
    assert world.stored() == miroflow.StoredTokens(tokens=world.tokens, version=1)


def test_revoke_uses_miros_v2_endpoint_then_deletes(world: World) -> None:
    world.client.revoke(world.tokens.user_id, world.tokens.team_id)
    assert world.stored() is None
    assert world.sim.server.pair_state(world.tokens.access_token) is PairState.REVOKED
    assert [entry.endpoint for entry in world.sim.log if entry.endpoint.startswith("revoke")] == [
        "revoke"
    ]
    world.client.revoke(world.tokens.user_id, world.tokens.team_id)  # nothing stored: no-op
    with pytest.raises(miroflow.SignInRequired):
        world.client.valid_tokens(world.tokens.user_id, world.tokens.team_id)


def test_revoke_deletes_a_set_miro_no_longer_knows(world: World) -> None:
    world.store.put(attrs.evolve(world.tokens, access_token="u" * 43))
    world.client.revoke(world.tokens.user_id, world.tokens.team_id)  # Miro answers 404
    assert world.stored() is None


def test_revoke_keeps_the_set_when_miro_refuses_the_client(world: World) -> None:
    wrong = attrs.evolve(world.config, client_secret="not-the-secret")
    client = miroflow.Client(
        wrong, flows=miroflow.MemoryFlowStore(), tokens=world.store, transport=world.sim.transport
    )
    with pytest.raises(miroflow.TokenRequestRejected):
        client.revoke(world.tokens.user_id, world.tokens.team_id)
    assert world.stored() is not None


def test_token_context_is_a_typed_value(world: World) -> None:
    world.sim.server.set_number_ids(["team_id", "user_id", "organization_id"])
    context = world.client.token_context(world.tokens.user_id, world.tokens.team_id)
    assert isinstance(context, miroflow.TokenContext)
    assert context.team.id == world.tokens.team_id
    assert context.user.id == context.created_by.id == world.tokens.user_id
    assert context.scopes == world.tokens.scopes
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        context.type = "other"  # type: ignore[misc]


def test_token_context_refreshes_once_on_a_401(world: World) -> None:
    # The access token stopped working before its expiry (rotated elsewhere): refresh, ask
    # again.
    world.sim.server.handle(
        miroflow.machine.refresh_request(world.config, world.tokens.refresh_token or ""),
        now=world.sim.now(),
    )
    with pytest.raises(miroflow.SignInRequired):  # the rotated-away pair cannot refresh
        world.client.token_context(world.tokens.user_id, world.tokens.team_id)
    assert world.stored() is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"type":"token","organization":{"type":"organization","id":1.5},"team":{},'
        b'"createdBy":{},"user":{},"scopes":[]}',
        b'{"type":"token"}',
        b"[]",
        b"not json",
        b'{"type":7,"organization":{"type":"o","id":"1"},"team":{"type":"t","id":"2"},'
        b'"createdBy":{"type":"u","id":"3"},"user":{"type":"u","id":"3"},"scopes":"a b"}',
    ],
)
def test_a_malformed_token_context_is_refused(body: bytes) -> None:
    with pytest.raises(miroflow.TokenResponseMalformed):
        miroflow.machine.parse_token_context(miroflow.HttpResponse(status=200, body=body))


def test_async_client_has_the_same_api(world: World) -> None:
    client = miroflow.AsyncClient(
        world.config,
        flows=miroflow.AsyncMemoryFlowStore(),
        tokens=miroflow.AsyncMemoryTokenStore(world.store),
        transport=world.sim.async_transport,
        clock=world.sim.now,
    )
    user, team = world.tokens.user_id, world.tokens.team_id

    async def main() -> tuple[Any, ...]:
        fresh = await client.valid_tokens(user, team)
        refreshed = await client.refresh(user, team)
        context = await client.token_context(user, team)
        token = await client.access_token(user, team)
        await client.revoke(user, team)
        return fresh, refreshed, context, token

    fresh, refreshed, context, token = asyncio.run(main())
    assert fresh == world.tokens
    assert token == refreshed.access_token != fresh.access_token
    assert context.team.id == team
    assert world.stored() is None
