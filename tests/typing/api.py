"""Exists only to be type-checked by `mypy --strict` (make typecheck): the public API as an
app uses it. A change that breaks these lines breaks users.

``miroflow`` is what an app needs; ``miroflow.machine`` is for those who drive the machine
themselves; ``miroflow.records`` is for store adapters."""

from __future__ import annotations

import os
import time

import miroflow
import miroflow.machine as machine
import miroflow.records as records


def log_transition(transition: miroflow.Transition) -> None:
    before: miroflow.FlowState | machine.TokenState | None = transition.before
    after: miroflow.FlowState | machine.TokenState = transition.after
    machine: str = transition.machine
    effects: tuple[str, ...] = transition.effects
    reply: int | None = transition.reply
    print(machine, transition.now, before, transition.input, after, effects, reply)


def sync_app(query: str, cookie: str | None) -> tuple[int, list[tuple[str, str]], str]:
    config = miroflow.ClientConfig.from_env(
        {
            "MIRO_CLIENT_ID": "1",
            "MIRO_CLIENT_SECRET": "s",
            "MIRO_REDIRECT_URL": "http://localhost/cb",
        }
    )
    observer: miroflow.Observer = log_transition
    # The clock and the entropy source default to time.time and os.urandom.
    client = miroflow.Client(
        config,
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=_NoNetwork(),
        on_transition=observer,
    )
    name: str = client.cookie_name
    started: miroflow.Answer = client.start(binding_cookie=cookie, team_id="1", return_path="/")
    header: str | None = started.set_cookie
    set_cookie: miroflow.SetCookie | None = started.cookie
    if set_cookie is not None:
        framework_cookie: tuple[str, str, int, str, bool, bool, str] = (
            set_cookie.name,
            set_cookie.value,
            set_cookie.max_age,
            set_cookie.path,
            set_cookie.secure,
            set_cookie.http_only,
            set_cookie.same_site,
        )
        assert framework_cookie[0] == name and header is not None
    answer = client.handle_callback(query, binding_cookie=cookie)
    if answer.tokens is not None:
        tokens: miroflow.TokenSet = answer.tokens
        key: miroflow.TokenKey = tokens.key
        client_id: str = key.client_id
        assert client_id == tokens.client_id == config.client_id
        stored: miroflow.StoredTokens | None = client.tokens.get(key)
        assert stored is not None
        client.tokens.put(tokens, expected_version=stored.version)
    location: str | None = answer.location
    content_type: str | None = answer.content_type
    for_the_person: str = answer.message
    for_the_operator: str | None = answer.detail
    flow: miroflow.Flow | None = answer.flow
    if flow is not None:
        print(flow.flow_id, flow.state.value, location, content_type, for_the_operator)
    error: miroflow.MiroflowError | None = answer.error
    status: int = error.status_code if error is not None else started.status
    if isinstance(error, (miroflow.BindingMismatch, miroflow.MissingBindingCookie)):
        assert error.code and error.message == for_the_person
    headers: list[tuple[str, str]] = answer.headers
    body: str = answer.body
    return status, headers, body


def with_the_simulators_clock(clock: miroflow.Clock, entropy: miroflow.Entropy) -> int:
    config = miroflow.ClientConfig(
        client_id="1", client_secret="s", redirect_uri="https://app.example/cb"
    )
    client = miroflow.Client(
        config,
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=_NoNetwork(),
        clock=clock,
        entropy=entropy,
    )
    return client.start().status


async def async_app(query: bytes) -> int:
    config = miroflow.ClientConfig(
        client_id="1", client_secret="s", redirect_uri="https://app.example/cb"
    )
    client = miroflow.AsyncClient(
        config,
        flows=miroflow.AsyncMemoryFlowStore(),
        tokens=miroflow.AsyncMemoryTokenStore(),
        transport=_AsyncNoNetwork(),
        clock=time.time,
        entropy=os.urandom,
    )
    started = await client.start()
    cookie = started.cookie
    answer = await client.handle_callback(
        query, binding_cookie=cookie.value if cookie is not None else None
    )
    return answer.status


def pure_machine(now: float, query: str) -> list[machine.Effect]:
    """Driving the machine by hand, as the clients do: start, redirect, claim, callback."""
    config = miroflow.ClientConfig(
        client_id="1", client_secret="s", redirect_uri="https://app.example/cb"
    )
    started: machine.Step = machine.step(
        None,
        machine.FlowStarted(entropy=os.urandom(machine.ENTROPY_BYTES), return_path="/boards"),
        config=config,
        now=now,
    )
    pending: miroflow.Flow = started.flow
    assert pending.state is miroflow.FlowState.PENDING
    redirected = machine.step(pending, machine.UserRedirected(), config=config, now=now)
    effects: list[machine.Effect] = list(redirected.effects)
    for effect in effects:
        if isinstance(effect, machine.SaveFlow):
            saved: miroflow.Flow = effect.flow
            assert saved.binding_hash is not None and saved.forget_at > saved.deadline
    reply: miroflow.Answer | None = redirected.reply
    assert reply is not None and reply.location is not None
    deadline: float | None = machine.next_deadline(redirected.flow)
    late: float | None = machine.overdue(redirected.flow, now)
    assert deadline is not None and late is None

    callback: machine.Callback = machine.parse_callback(query)
    assert callback.state is not None
    state_hash: bytes = machine.hash_state(config.client_id, callback.state)
    presented: bytes = machine.hash_binding("b" * 43)
    store: miroflow.FlowStore = miroflow.MemoryFlowStore()
    store.save(redirected.flow)
    claimed: miroflow.ClaimResult = store.claim(state_hash, presented)
    flow, won = claimed
    outcome: machine.ClaimOutcome = machine.claim_outcome(flow, won, presented, now)
    if outcome is machine.ClaimOutcome.CLAIMED and flow is not None:
        received = machine.step(
            flow, machine.CallbackReceived(callback=callback), config=config, now=now
        )
        for effect in received.effects:
            if isinstance(effect, machine.SendTokenRequest):
                request: miroflow.HttpRequest = effect.request
                response = _NoNetwork().send(request)
                answered = machine.step(
                    received.flow,
                    machine.TokenResponseReceived(response=response),
                    config=config,
                    now=now,
                )
                effects.extend(answered.effects)
    elif outcome is not machine.ClaimOutcome.EXPIRED:
        error: miroflow.CallbackError = machine.claim_error(outcome, flow, now)
        effects.clear()
        print(error.code)
    rule: machine.Rule | None = machine.TABLE.get((None, machine.FlowStarted))
    assert rule is not None
    return effects


def store_records(flow: miroflow.Flow, tokens: miroflow.TokenSet) -> miroflow.TokenSet:
    """What a store adapter writes and reads back."""
    version: int = records.SCHEMA_VERSION
    record = records.flow_to_record(flow)
    assert record and version >= 2
    again: miroflow.Flow = records.flow_from_record(record)
    assert records.loads_flow(records.dumps_flow(again)) == flow
    data: bytes = records.dumps_tokens(tokens)
    # A version-1 token record has no client id: the app adopts it for itself.
    adopted = records.tokens_from_record(records.tokens_to_record(tokens), client_id="1")
    return records.loads_tokens(data, client_id=adopted.client_id)


class _NoNetwork:
    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        return miroflow.HttpResponse(status=503, body=b"")


class _AsyncNoNetwork:
    async def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        return miroflow.HttpResponse(status=503, body=b"")


class _DictFlowStore:
    """A store adapter's shape: it compares and sets, and decides nothing."""

    def __init__(self) -> None:
        self._flows: dict[bytes, tuple[miroflow.Flow, bool]] = {}

    def save(self, flow: miroflow.Flow) -> None:
        self._flows[flow.state_hash] = (flow, False)

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> miroflow.ClaimResult:
        stored = self._flows.get(state_hash)
        if stored is None:
            return None, False
        flow, claimed = stored
        if claimed or binding_hash is None or binding_hash != flow.binding_hash:
            return flow, False
        self._flows[state_hash] = (flow, True)
        return flow, True


_flow_store: miroflow.FlowStore = miroflow.MemoryFlowStore()
_own_flow_store: miroflow.FlowStore = _DictFlowStore()
_token_store: miroflow.TokenStore = miroflow.MemoryTokenStore()
_async_flow_store: miroflow.AsyncFlowStore = miroflow.AsyncMemoryFlowStore()
_async_token_store: miroflow.AsyncTokenStore = miroflow.AsyncMemoryTokenStore()
_transport: miroflow.Transport = _NoNetwork()
_async_transport: miroflow.AsyncTransport = _AsyncNoNetwork()
