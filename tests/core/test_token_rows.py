"""Every row (and target) of the token table happens in real use: driven here through the
public clients, with stores and transports that do what another process would do at the
worst moment; plus hypothesis over every (state, input) pair of the token machine."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import attrs
from hypothesis import given
from hypothesis import strategies as st
from miroflow_simulator import FaultKind, Simulator

import miroflow
import miroflow.machine as m

S = m.TokenState


class Hooked(miroflow.MemoryTokenStore):
    """A memory store that lets a test act right after a lease is answered."""

    after_lease: Callable[[], None] | None = None
    grant: bool | None = None  # force the lease's answer

    def lease(self, key: miroflow.TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        taken = super().lease(key, holder, now=now, ttl=ttl) if self.grant is None else self.grant
        hook, self.after_lease = self.after_lease, None
        if hook is not None:
            hook()
        return taken


class Relay:
    """A transport into the simulator that runs a hook just before a refresh is answered."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.before_refresh: Callable[[], None] | None = None
        self.fail = False

    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        if b"grant_type=refresh_token" in request.body:
            hook, self.before_refresh = self.before_refresh, None
            if hook is not None:
                hook()
            if self.fail:
                self.fail = False
                raise miroflow.TransportError("The connection was reset.")
        return self.sim.transport.send(request)


def test_every_token_row_is_reached_through_public_entry_points() -> None:
    seen: set[tuple[S | None, str, S]] = set()
    sim = Simulator()
    app = sim.register_app()
    sim.auto_approve()
    config = sim.client_config(app)
    store = Hooked()
    relay = Relay(sim)
    pauses: list[Callable[[], None]] = []

    def sleep(seconds: float) -> None:
        sim.advance(seconds)
        if pauses:
            pauses.pop(0)()

    def observe(t: miroflow.Transition) -> None:
        if t.machine == "tokens":
            assert isinstance(t.after, S)
            assert t.before is None or isinstance(t.before, S)
            seen.add((t.before, t.input, t.after))

    client = miroflow.Client(
        config,
        flows=miroflow.MemoryFlowStore(),
        tokens=store,
        transport=relay,
        clock=sim.now,
        on_transition=observe,
        sleep=sleep,
    )

    def sign_in() -> miroflow.TokenSet:
        answer = client.start()
        assert answer.location is not None and answer.cookie is not None
        redirect = sim.dispatch(miroflow.HttpRequest(method="GET", url=answer.location))
        assert isinstance(redirect, miroflow.HttpResponse)
        query = urlsplit(redirect.header("Location") or "").query
        done = client.handle_callback(query, binding_cookie=answer.cookie.value)
        assert done.tokens is not None
        return done.tokens

    def attempt(call: Callable[[], Any]) -> None:
        with contextlib.suppress(miroflow.MiroflowError):
            call()

    tokens = sign_in()
    user, team, key = tokens.user_id, tokens.team_id, tokens.key
    valid = lambda: client.valid_tokens(user, team)  # noqa: E731
    refresh = lambda: client.refresh(user, team)  # noqa: E731

    def rewrite() -> None:  # another caller stored new tokens
        current = store.get(key)
        assert current is not None
        miroflow.MemoryTokenStore.put(store, current.tokens)

    valid()  # fresh
    refresh()  # due, leased, refreshing, storing, fresh
    store.after_lease = rewrite
    refresh()  # leased -> fresh: refreshed by another between the read and the lease
    store.grant, pauses[:] = False, [rewrite]
    refresh()  # waiting -> fresh
    store.grant = None
    store.lease(key, "other", now=sim.now(), ttl=config.refresh_wait)
    refresh()  # waiting -> due (the same version), later leased: a dead holder replaced
    store.grant = False
    store.lease(key, "slow", now=sim.now(), ttl=3600)
    attempt(refresh)  # due -> failed (RefreshPending)
    store.grant = None
    store.release(key, "slow")
    relay.fail = True
    attempt(refresh)  # refreshing -> failed (transport)
    sim.inject_fault(FaultKind.SERVER_ERROR)
    attempt(refresh)  # refreshing -> failed (RefreshAnswered)

    class Broken(miroflow.StoreUnavailable):
        pass

    def failing_put(*args: Any, **kwargs: Any) -> miroflow.StoredTokens:
        raise Broken("The store is down.")

    store.put = failing_put  # type: ignore[method-assign]
    attempt(refresh)  # storing -> failed
    del store.put
    tokens = sign_in()  # the failed write revoked the new pair, and the old one was rotated
    # A refusal after another caller stored new tokens: rejected -> fresh.
    current = store.get(key)
    assert current is not None

    def rotate_elsewhere() -> None:
        other = miroflow.Client(
            config,
            flows=miroflow.MemoryFlowStore(),
            tokens=miroflow.MemoryTokenStore(),
            transport=sim.transport,
            clock=sim.now,
        )
        other.tokens.put(current.tokens)
        newer = other.refresh(user, team)
        miroflow.MemoryTokenStore.put(store, newer)

    relay.before_refresh = rotate_elsewhere
    refresh()
    # Deleted while waiting: waiting -> dead.
    store.grant, pauses[:] = False, [lambda: store.delete(key)]
    attempt(refresh)
    store.grant = None
    tokens = sign_in()
    # Deleted between the read and the lease: leased -> dead.
    store.after_lease = lambda: store.delete(key)
    attempt(refresh)
    tokens = sign_in()
    # Refused for good: rejected -> dead.
    sim.server.handle(m.revoke_request(config, tokens.access_token), now=sim.now())
    attempt(refresh)
    attempt(valid)  # nothing stored: dead at once
    # An expired set without a refresh token: dead at once.
    store.put(attrs.evolve(tokens, refresh_token=None, expires_at=sim.now() - 1))
    attempt(valid)
    # Not yet expired, no refresh token, within the margin: fresh.
    store.put(attrs.evolve(tokens, refresh_token=None, expires_at=sim.now() + 5))
    valid()

    live = {
        (state, input_type.__name__, target)
        for (state, input_type), rule in m.TOKEN_TABLE.items()
        if state is None or not state.is_terminal
        for target in rule.targets
    }
    assert live - seen == set()


# --- every (state, input) pair --------------------------------------------------------------

CONFIG = miroflow.ClientConfig(
    client_id="3074457363680401096",
    client_secret="rows-secret",
    redirect_uri="http://localhost:8000/callback",
)
KEY = miroflow.TokenKey(client_id=CONFIG.client_id, user_id="1", team_id="2")


def _tokens(expires_at: float | None, refresh: bool = True) -> miroflow.TokenSet:
    return miroflow.TokenSet(
        client_id=KEY.client_id,
        access_token="a" * 40,
        refresh_token="r" * 40 if refresh else None,
        user_id=KEY.user_id,
        team_id=KEY.team_id,
        obtained_at=0.0,
        expires_at=expires_at,
    )


stored_tokens = st.one_of(
    st.none(),
    st.builds(
        miroflow.StoredTokens,
        tokens=st.builds(_tokens, st.one_of(st.none(), st.floats(-1e4, 1e4)), st.booleans()),
        version=st.integers(1, 4),
    ),
)
TOKEN_BODY = (
    b'{"user_id":"1","team_id":"2","access_token":"n","refresh_token":"m",'
    b'"expires_in":3599,"token_type":"bearer"}'
)
responses = st.builds(
    miroflow.HttpResponse,
    status=st.sampled_from([200, 400, 401, 500]),
    body=st.sampled_from(
        [
            TOKEN_BODY,
            b"{}",
            b'{"status":401,"code":"oauthError","message":"Invalid refresh token"}',
            b'{"error":"invalid_client"}',
            b"<html>",
        ]
    ),
)
inputs = st.one_of(
    st.builds(
        m.TokensLoaded,
        key=st.just(KEY),
        holder=st.just("h"),
        stored=stored_tokens,
        force=st.booleans(),
    ),
    st.builds(m.LeaseAnswered, taken=st.booleans()),
    st.builds(m.TokensPolled, stored=stored_tokens),
    st.builds(m.RefreshAnswered, response=responses),
    st.just(m.RefreshFailed(error=miroflow.TransportError("reset"))),
    st.builds(m.TokensStored, stored=stored_tokens.filter(lambda s: s is not None)),
    st.just(m.StoreFailed(error=miroflow.StoreUnavailable("down"))),
)
calls = st.one_of(
    st.none(),
    st.builds(
        m.TokenCall,
        state=st.sampled_from(list(S)),
        key=st.just(KEY),
        holder=st.just("h"),
        version=st.integers(0, 4),
        tokens=st.builds(_tokens, st.floats(-1e4, 1e4)),
        force=st.booleans(),
        started_at=st.just(0.0),
        give_up_at=st.just(10.0),
        polls=st.integers(0, 30),
    ),
)


@given(call=calls, event=inputs, now=st.floats(-1e4, 1e4))
def test_every_pair_stays_inside_its_row_or_changes_nothing(
    call: m.TokenCall | None, event: Any, now: float
) -> None:
    rule = m.TOKEN_TABLE.get((None if call is None else call.state, type(event)))
    try:
        result = m.step_tokens(call, event, config=CONFIG, now=now)
    except miroflow.UsageError:
        # A pair not in the table, or a forced refresh of tokens without a refresh token.
        assert rule is None or (
            isinstance(event, m.TokensLoaded) and event.force and event.stored is not None
        )
        return
    assert rule is not None
    assert result.call.state in rule.targets
    assert {type(effect) for effect in result.effects} <= set(rule.effects)
    if call is not None and call.state.is_terminal:
        assert result.call == call and result.effects == () and result.error is None
        return
    if result.call.state is S.DEAD:
        assert isinstance(result.error, miroflow.SignInRequired)
        assert result.error.login_url == "/miro/login?team_id=2"
    elif result.call.state is S.FAILED:
        assert result.error is not None
    elif result.call.state is S.FRESH:
        assert result.error is None and result.call.tokens is not None
    for effect in result.effects:
        if isinstance(effect, m.ReadTokens):
            assert 0 <= effect.delay <= m.poll_delay(99, 10.0)
