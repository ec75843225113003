"""Client and AsyncClient: the driver's behaviour through the public API, and their parity."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import miroflow
import miroflow.machine

CONFIG = miroflow.ClientConfig(
    client_id="3074457363680401096",
    client_secret="client-test-secret",
    redirect_uri="http://localhost:8000/callback",
)
TOKENS = json.dumps(
    {
        "user_id": "3458764517517852417",
        "refresh_token": "r" * 40,
        "access_token": "a" * 40,
        "expires_in": 3599,
        "team_id": "3458764517517819000",
        "scope": "boards:read",
        "token_type": "bearer",
    }
).encode()


class Endpoint:
    def __init__(self, response: miroflow.HttpResponse | Exception | None = None) -> None:
        self.response = response or miroflow.HttpResponse(status=200, body=TOKENS)
        self.requests: list[miroflow.HttpRequest] = []

    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        self.requests.append(request)
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


class AsyncEndpoint(Endpoint):
    async def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:  # type: ignore[override]
        return Endpoint.send(self, request)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_client(
    endpoint: Endpoint | None = None,
    config: miroflow.ClientConfig = CONFIG,
    flows: object = None,
    tokens: object = None,
    clock: Callable[[], float] = lambda: 1000.0,
) -> miroflow.Client:
    return miroflow.Client(
        config,
        flows=miroflow.MemoryFlowStore() if flows is None else flows,  # type: ignore[arg-type]
        tokens=miroflow.MemoryTokenStore() if tokens is None else tokens,  # type: ignore[arg-type]
        transport=endpoint or Endpoint(),
        clock=clock,
    )


def state_of(answer: miroflow.Answer) -> str:
    assert answer.location is not None
    return parse_qs(urlsplit(answer.location).query)["state"][0]


def binding_of(answer: miroflow.Answer) -> str:
    assert answer.cookie is not None
    return answer.cookie.value


def test_a_whole_flow_stores_tokens_and_sends_the_browser_to_the_return_path() -> None:
    endpoint = Endpoint()
    client = make_client(endpoint)
    started = client.start(return_path="/boards")
    cookie = started.cookie
    assert cookie is not None and cookie.name == client.cookie_name == "miroflow_binding"
    assert not cookie.secure and cookie.http_only and cookie.same_site == "Lax"
    done = client.handle_callback(
        f"code=c0de&state={state_of(started)}", binding_cookie=cookie.value
    )
    assert (done.status, done.location, done.error) == (303, "/boards", None)
    assert done.tokens is not None and done.tokens.team_id == "3458764517517819000"
    assert done.tokens.client_id == CONFIG.client_id
    stored = client.tokens.get(done.tokens.key)  # type: ignore[attr-defined]
    assert stored.tokens == done.tokens
    (request,) = endpoint.requests
    assert parse_qs(request.body.decode())["code"] == ["c0de"]
    assert ("Cache-Control", "no-store") in done.headers


def test_answers_hand_any_framework_what_it_needs() -> None:
    started = make_client().start()
    assert [name for name, _ in started.headers] == [
        "Cache-Control",
        "Referrer-Policy",
        "Location",
        "Set-Cookie",
    ]
    assert started.content_type is None and started.body == "" and started.detail is None
    assert dict(started.headers)["Set-Cookie"] == started.set_cookie
    failed = make_client().handle_callback("code=x&state=" + "z" * 43, binding_cookie=None)
    assert failed.status == 400 and failed.body == failed.message == failed.error.message  # type: ignore[union-attr]
    assert failed.content_type == "text/plain; charset=utf-8"
    assert ("X-Content-Type-Options", "nosniff") in failed.headers
    assert failed.cookie is None and "Set-Cookie" not in dict(failed.headers)


def test_a_valid_binding_cookie_is_reused_and_a_bad_one_replaced() -> None:
    client = make_client()
    first = binding_of(client.start())
    assert binding_of(client.start(binding_cookie=first)) == first
    replaced = binding_of(client.start(binding_cookie="not-ours"))
    assert replaced != "not-ours" and len(replaced) == 43


def test_clock_and_entropy_default_to_the_system_ones() -> None:
    client = miroflow.Client(
        CONFIG,
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=Endpoint(),
    )
    first, second = client.start(), client.start()
    assert state_of(first) != state_of(second)
    assert first.flow is not None and abs(first.flow.deadline - first.flow.created_at - 900) < 1e-6


def test_pkce_sends_the_challenge_and_then_the_verifier() -> None:
    endpoint = Endpoint()
    client = make_client(
        endpoint,
        config=miroflow.ClientConfig(
            client_id=CONFIG.client_id,
            client_secret="s",
            redirect_uri=CONFIG.redirect_uri,
            pkce=True,
        ),
    )
    started = client.start()
    query = parse_qs(urlsplit(started.location or "").query)
    assert query["code_challenge_method"] == ["S256"]
    client.handle_callback(f"code=c&state={state_of(started)}", binding_cookie=binding_of(started))
    verifier = parse_qs(endpoint.requests[0].body.decode())["code_verifier"][0]
    assert miroflow.machine.code_challenge(verifier) == query["code_challenge"][0]


def test_a_transport_timeout_answers_504_and_is_never_retried() -> None:
    endpoint = Endpoint(miroflow.TransportTimeout("The token endpoint did not answer in 10 s."))
    client = make_client(endpoint)
    started = client.start()
    query = f"code=c&state={state_of(started)}"
    answer = client.handle_callback(query, binding_cookie=binding_of(started))
    assert answer.status == 504 and isinstance(answer.error, miroflow.TransportTimeout)
    assert answer.flow is not None and answer.flow.state is miroflow.FlowState.FAILED
    again = client.handle_callback(query, binding_cookie=binding_of(started))
    assert again.status == 409 and len(endpoint.requests) == 1


# --- the claim: only the browser that started a flow can use it ------------------------------


@pytest.mark.parametrize("presented", [None, "O" * 43], ids=["no cookie", "another browser"])
def test_a_callback_from_another_browser_claims_nothing_and_the_owner_finishes(
    presented: str | None,
) -> None:
    endpoint = Endpoint()
    client = make_client(endpoint)
    started = client.start()
    query = f"code=c&state={state_of(started)}"
    stranger = client.handle_callback(query, binding_cookie=presented)
    expected = miroflow.MissingBindingCookie if presented is None else miroflow.BindingMismatch
    assert isinstance(stranger.error, expected) and stranger.status == 400
    assert stranger.flow is None and endpoint.requests == []
    owner = client.handle_callback(query, binding_cookie=binding_of(started))
    assert owner.status == 303 and owner.tokens is not None


def test_every_late_callback_hears_how_long_ago_the_flow_expired() -> None:
    # The bug this redesign fixed: the first late callback deleted the flow, so a second one
    # was told "unknown" instead of "expired".
    clock = Clock()
    seen: list[miroflow.Transition] = []
    client = miroflow.Client(
        CONFIG,
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=Endpoint(),
        clock=clock,
        on_transition=seen.append,
    )
    started = client.start()
    query = f"code=c&state={state_of(started)}"
    clock.now = 1000.0 + 900 + 30
    first = client.handle_callback(query, binding_cookie=binding_of(started))
    clock.now += 60
    second = client.handle_callback(query, binding_cookie=binding_of(started))
    stranger = client.handle_callback(query, binding_cookie="O" * 43)
    for answer, ago in ((first, 30), (second, 90), (stranger, 90)):
        assert isinstance(answer.error, miroflow.FlowExpired), answer
        assert answer.error.expired_for == ago and f"{ago} seconds ago" in answer.message
    # The owner's first late callback won the claim: ClockAdvanced expired the flow.
    assert first.flow is not None and first.flow.state is miroflow.FlowState.EXPIRED
    assert (seen[-1].before, seen[-1].input, seen[-1].after, seen[-1].reply) == (
        miroflow.FlowState.REDIRECTED,
        "ClockAdvanced",
        miroflow.FlowState.EXPIRED,
        400,
    )
    clock.now = 1000.0 + 900 + miroflow.FLOW_RETENTION
    forgotten = client.handle_callback(query, binding_cookie=binding_of(started))
    assert isinstance(forgotten.error, miroflow.UnknownState)


def test_a_state_that_was_never_issued_is_unknown() -> None:
    answer = make_client().handle_callback("code=c&state=" + "u" * 43, binding_cookie="b" * 43)
    assert isinstance(answer.error, miroflow.UnknownState) and answer.status == 400


def test_apps_sharing_stores_never_touch_each_others_flows_or_tokens() -> None:
    flows, tokens = miroflow.MemoryFlowStore(), miroflow.MemoryTokenStore()
    other_config = miroflow.ClientConfig(
        client_id="3074457363680401097",
        client_secret="other-secret",
        redirect_uri=CONFIG.redirect_uri,
    )
    mine = make_client(flows=flows, tokens=tokens)
    theirs = make_client(config=other_config, flows=flows, tokens=tokens)
    started = mine.start()
    query = f"code=c&state={state_of(started)}"
    # The other app's callback route gets this app's state: unknown there, and not burned.
    assert isinstance(
        theirs.handle_callback(query, binding_cookie=binding_of(started)).error,
        miroflow.UnknownState,
    )
    done = mine.handle_callback(query, binding_cookie=binding_of(started))
    assert done.tokens is not None
    other_start = theirs.start()
    other = theirs.handle_callback(
        f"code=d&state={state_of(other_start)}", binding_cookie=binding_of(other_start)
    )
    assert other.tokens is not None and other.tokens.key != done.tokens.key
    assert tokens.get(done.tokens.key).tokens == done.tokens  # type: ignore[union-attr]
    assert tokens.get(other.tokens.key).tokens == other.tokens  # type: ignore[union-attr]


# --- failures: a short message for the person, the detail for the operator -------------------


class BrokenFlowStore(miroflow.MemoryFlowStore):
    def __init__(self, fail: str) -> None:
        super().__init__()
        self.fail = fail

    def save(self, flow: miroflow.Flow) -> None:
        if self.fail == "save":
            raise miroflow.StoreUnavailable("Redis at 10.1.2.3:6390/0 is not reachable.")
        super().save(flow)

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> miroflow.ClaimResult:
        if self.fail == "claim":
            raise miroflow.StoreUnavailable("Redis at 10.1.2.3:6390/0 is not reachable.")
        return super().claim(state_hash, binding_hash)


class BrokenTokenStore(miroflow.MemoryTokenStore):
    def put(
        self, tokens: miroflow.TokenSet, *, expected_version: int | None = None
    ) -> miroflow.StoredTokens:
        raise miroflow.StoreUnavailable("Redis at 10.1.2.3:6390/0 is not reachable.")


@pytest.mark.parametrize("where", ["save", "claim", "tokens"])
def test_a_failing_store_answers_503_and_logs_the_detail_for_the_operator(
    where: str, caplog: pytest.LogCaptureFixture
) -> None:
    flows = BrokenFlowStore(where if where != "tokens" else "")
    tokens = BrokenTokenStore() if where == "tokens" else None
    client = make_client(flows=flows, tokens=tokens)
    with caplog.at_level(logging.INFO, logger="miroflow"):
        started = client.start()
        answer = started
        if where != "save":
            query = f"code=c&state={state_of(started)}"
            answer = client.handle_callback(query, binding_cookie=binding_of(started))
    assert answer.status == 503 and isinstance(answer.error, miroflow.StoreUnavailable)
    assert answer.tokens is None
    assert "10.1.2.3" not in answer.body and "10.1.2.3" in (answer.detail or "")
    (record,) = [r for r in caplog.records if r.name == "miroflow"]
    assert record.levelno == logging.ERROR
    assert "store_unavailable" in record.getMessage() and "10.1.2.3" in record.getMessage()


def test_a_wrong_client_secret_is_logged_and_the_person_reads_no_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rejection = {"status": 401, "code": "oauthError", "message": "Invalid client secret."}
    endpoint = Endpoint(miroflow.HttpResponse(status=401, body=json.dumps(rejection).encode()))
    client = make_client(endpoint)
    started = client.start()
    with caplog.at_level(logging.INFO, logger="miroflow"):
        answer = client.handle_callback(
            f"code=c&state={state_of(started)}", binding_cookie=binding_of(started)
        )
    assert answer.status == 502 and "Invalid client secret" not in answer.body
    assert answer.flow is not None
    (record,) = caplog.records
    message = record.getMessage()
    assert record.levelno == logging.ERROR and "token_request_rejected" in message
    assert "Invalid client secret" in message and answer.flow.flow_id in message
    assert "client-test-secret" not in message and state_of(started) not in message


def test_a_usage_error_in_a_port_is_raised_not_answered() -> None:
    client = miroflow.Client(
        CONFIG,
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=Endpoint(),
        clock=lambda: 0.0,
        entropy=lambda n: b"x",
    )
    with pytest.raises(miroflow.UsageError, match="entropy source returned 1 bytes"):
        client.start()


class StoresTheWrongThing(miroflow.MemoryFlowStore):
    """A broken store: hands back a flow in a state no callback can reach."""

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> miroflow.ClaimResult:
        flow, won = super().claim(state_hash, binding_hash)
        if flow is None:
            return flow, won
        return attrs.evolve(flow, state=miroflow.FlowState.CONSUMED), won


def test_a_store_that_returns_what_it_never_saved_is_a_usage_error() -> None:
    client = make_client(flows=StoresTheWrongThing())
    started = client.start()
    with pytest.raises(miroflow.InvalidTransition, match="no reply"):
        client.handle_callback(
            f"code=c&state={state_of(started)}", binding_cookie=binding_of(started)
        )


# --- sync and async are one implementation -------------------------------------------------


def run_both(script: list[tuple[str, int, bool]]) -> tuple[list[object], list[object]]:
    """Run one script of starts and callbacks through Client and AsyncClient."""

    def entropy_factory() -> Callable[[int], bytes]:
        counter = iter(range(10**6))
        return lambda n: bytes([next(counter) % 256]) * n

    sync = miroflow.Client(
        CONFIG,
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=Endpoint(),
        clock=lambda: 1000.0,
        entropy=entropy_factory(),
    )
    asynchronous = miroflow.AsyncClient(
        CONFIG,
        flows=miroflow.AsyncMemoryFlowStore(),
        tokens=miroflow.AsyncMemoryTokenStore(),
        transport=AsyncEndpoint(),
        clock=lambda: 1000.0,
        entropy=entropy_factory(),
    )

    def observe(answer: miroflow.Answer) -> object:
        return (
            answer.status,
            answer.headers,
            answer.error and answer.error.code,
            answer.tokens,
            answer.flow,
        )

    def play(
        begin: Callable[[], miroflow.Answer],
        finish: Callable[[str, str | None], miroflow.Answer],
    ) -> list[object]:
        out: list[object] = []
        started: list[miroflow.Answer] = []
        for action, index, keep_cookie in script:
            if action == "start" or not started:
                answer = begin()
                started.append(answer)
            else:
                flow = started[index % len(started)]
                cookie = binding_of(flow) if keep_cookie else None
                answer = finish(f"code=c&state={state_of(flow)}", cookie)
            out.append(observe(answer))
        return out

    return (
        play(sync.start, lambda q, c: sync.handle_callback(q, binding_cookie=c)),
        play(
            lambda: asyncio.run(asynchronous.start()),
            lambda q, c: asyncio.run(asynchronous.handle_callback(q, binding_cookie=c)),
        ),
    )


@given(
    st.lists(
        st.tuples(st.sampled_from(["start", "callback"]), st.integers(0, 5), st.booleans()),
        max_size=12,
    )
)
def test_sync_and_async_clients_answer_identically(script: list[tuple[str, int, bool]]) -> None:
    sync, asynchronous = run_both(script)
    assert sync == asynchronous


def test_on_transition_reports_every_step_without_secrets() -> None:
    seen: list[miroflow.Transition] = []
    client = miroflow.Client(
        CONFIG,
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=Endpoint(),
        clock=lambda: 1000.0,
        entropy=os.urandom,
        on_transition=seen.append,
    )
    started = client.start()
    client.handle_callback(f"code=c&state={state_of(started)}", binding_cookie=binding_of(started))
    pending, redirected = miroflow.FlowState.PENDING, miroflow.FlowState.REDIRECTED
    received, consumed = miroflow.FlowState.CODE_RECEIVED, miroflow.FlowState.CONSUMED
    assert [(t.before, t.input, t.after, t.effects, t.reply) for t in seen] == [
        (None, "FlowStarted", pending, (), None),
        (pending, "UserRedirected", redirected, ("SaveFlow",), 302),
        (redirected, "CallbackReceived", received, ("SendTokenRequest",), None),
        (received, "TokenResponseReceived", consumed, ("StoreTokens",), 303),
    ]
    assert state_of(started) not in repr(seen) and binding_of(started) not in repr(seen)
