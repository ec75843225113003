"""Client and AsyncClient: the driver's behaviour through the public API, and their parity."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

import miroflow

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


def make_client(
    endpoint: Endpoint | None = None,
    config: miroflow.ClientConfig = CONFIG,
    flows: object = None,
    tokens: object = None,
) -> miroflow.Client:
    return miroflow.Client(
        config,
        flows=miroflow.MemoryFlowStore() if flows is None else flows,  # type: ignore[arg-type]
        tokens=miroflow.MemoryTokenStore() if tokens is None else tokens,  # type: ignore[arg-type]
        transport=endpoint or Endpoint(),
        clock=lambda: 1000.0,
        entropy=os.urandom,
    )


def state_of(answer: miroflow.Answer) -> str:
    assert answer.location is not None
    return parse_qs(urlsplit(answer.location).query)["state"][0]


def test_a_whole_flow_stores_tokens_and_redirects_to_the_return_path() -> None:
    endpoint = Endpoint()
    client = make_client(endpoint)
    started = client.start(return_path="/boards")
    cookie = started.cookies[0]
    assert cookie.name == client.cookie_name == "miroflow_binding" and not cookie.secure
    done = client.handle_callback(
        f"code=c0de&state={state_of(started)}", binding_cookie=cookie.value
    )
    assert (done.status, done.location, done.error) == (302, "/boards", None)
    assert done.tokens is not None and done.tokens.team_id == "3458764517517819000"
    assert client.tokens.get(done.tokens.key).tokens == done.tokens  # type: ignore[attr-defined]
    (request,) = endpoint.requests
    assert parse_qs(request.body.decode())["code"] == ["c0de"]
    assert ("Cache-Control", "no-store") in done.headers


def test_answer_headers_for_a_redirect_and_an_error() -> None:
    started = make_client().start()
    names = [name for name, _ in started.headers]
    assert names == ["Cache-Control", "Location", "Set-Cookie"]
    failed = make_client().handle_callback("code=x&state=" + "z" * 43, binding_cookie=None)
    assert failed.status == 400 and failed.body == failed.error.message  # type: ignore[union-attr]
    assert ("Content-Type", "text/plain; charset=utf-8") in failed.headers


def test_a_valid_binding_cookie_is_reused_and_a_bad_one_replaced() -> None:
    client = make_client()
    first = client.start().cookies[0].value
    assert client.start(binding_cookie=first).cookies[0].value == first
    replaced = client.start(binding_cookie="not-ours").cookies[0].value
    assert replaced != "not-ours" and len(replaced) == 43


def test_pkce_sends_the_challenge_and_then_the_verifier() -> None:
    endpoint = Endpoint()
    client = make_client(
        endpoint,
        config=CONFIG.__class__(
            client_id=CONFIG.client_id,
            client_secret="s",
            redirect_uri=CONFIG.redirect_uri,
            pkce=True,
        ),
    )
    started = client.start()
    query = parse_qs(urlsplit(started.location or "").query)
    assert query["code_challenge_method"] == ["S256"]
    client.handle_callback(
        f"code=c&state={state_of(started)}", binding_cookie=started.cookies[0].value
    )
    verifier = parse_qs(endpoint.requests[0].body.decode())["code_verifier"][0]
    assert miroflow.code_challenge(verifier) == query["code_challenge"][0]


def test_a_transport_timeout_answers_504_and_is_never_retried() -> None:
    endpoint = Endpoint(miroflow.TransportTimeout("The token endpoint did not answer in 10 s."))
    client = make_client(endpoint)
    started = client.start()
    query = f"code=c&state={state_of(started)}"
    answer = client.handle_callback(query, binding_cookie=started.cookies[0].value)
    assert answer.status == 504 and isinstance(answer.error, miroflow.TransportTimeout)
    assert answer.flow is not None and answer.flow.state is miroflow.FlowState.FAILED
    again = client.handle_callback(query, binding_cookie=started.cookies[0].value)
    assert again.status == 409 and len(endpoint.requests) == 1


class BrokenFlowStore(miroflow.MemoryFlowStore):
    def __init__(self, fail: str) -> None:
        super().__init__()
        self.fail = fail

    def save(self, flow: miroflow.Flow) -> None:
        if self.fail == "save":
            raise miroflow.StoreUnavailable("The flow store at redis://127.0.0.1 is unreachable.")
        super().save(flow)

    def claim(self, state_hash: str, now: float) -> miroflow.Claim:
        if self.fail == "claim":
            raise miroflow.StoreUnavailable("The flow store is unreachable.")
        return super().claim(state_hash, now)


class BrokenTokenStore(miroflow.MemoryTokenStore):
    def put(
        self, tokens: miroflow.TokenSet, *, expected_version: int | None = None
    ) -> miroflow.StoredTokens:
        raise miroflow.StoreUnavailable("The token store is unreachable.")


@pytest.mark.parametrize("where", ["save", "claim", "tokens"])
def test_a_failing_store_answers_503_instead_of_raising(where: str) -> None:
    flows = BrokenFlowStore(where if where != "tokens" else "")
    tokens = BrokenTokenStore() if where == "tokens" else None
    client = make_client(flows=flows, tokens=tokens)
    started = client.start()
    if where == "save":
        assert started.status == 503 and isinstance(started.error, miroflow.StoreUnavailable)
        return
    answer = client.handle_callback(
        f"code=c&state={state_of(started)}", binding_cookie=started.cookies[0].value
    )
    assert answer.status == 503 and answer.tokens is None


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


def run_both(script: list[tuple[str, int]]) -> tuple[list[object], list[object]]:
    """Run one script of starts and callbacks through Client and AsyncClient."""

    def entropy_factory() -> object:
        counter = iter(range(10**6))
        return lambda n: bytes([next(counter) % 256]) * n

    sync = miroflow.Client(
        CONFIG,
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=Endpoint(),
        clock=lambda: 1000.0,
        entropy=entropy_factory(),
    )  # type: ignore[arg-type]
    asynchronous = miroflow.AsyncClient(
        CONFIG,
        flows=miroflow.AsyncMemoryFlowStore(),
        tokens=miroflow.AsyncMemoryTokenStore(),
        transport=AsyncEndpoint(),
        clock=lambda: 1000.0,
        entropy=entropy_factory(),
    )  # type: ignore[arg-type]

    def observe(answer: miroflow.Answer) -> object:
        return (
            answer.status,
            answer.location,
            answer.cookies,
            answer.error and answer.error.code,
            answer.tokens,
            answer.flow,
        )

    def play(
        begin: Callable[[], miroflow.Answer], finish: Callable[[str, str], miroflow.Answer]
    ) -> list[object]:
        out: list[object] = []
        started: list[miroflow.Answer] = []
        for action, index in script:
            if action == "start" or not started:
                answer = begin()
                started.append(answer)
            else:
                flow = started[index % len(started)]
                answer = finish(f"code=c&state={state_of(flow)}", flow.cookies[0].value)
            out.append(observe(answer))
        return out

    return (
        play(sync.start, lambda q, c: sync.handle_callback(q, binding_cookie=c)),
        play(
            lambda: asyncio.run(asynchronous.start()),
            lambda q, c: asyncio.run(asynchronous.handle_callback(q, binding_cookie=c)),
        ),
    )


@given(st.lists(st.tuples(st.sampled_from(["start", "callback"]), st.integers(0, 5)), max_size=12))
def test_sync_and_async_clients_answer_identically(script: list[tuple[str, int]]) -> None:
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
    client.handle_callback(
        f"code=c&state={state_of(started)}", binding_cookie=started.cookies[0].value
    )
    assert [(t.before, t.input, t.after, t.effects) for t in seen] == [
        (None, "FlowStarted", miroflow.FlowState.PENDING, ("SaveFlow", "RedirectBrowser")),
        (
            miroflow.FlowState.PENDING,
            "CallbackReceived",
            miroflow.FlowState.CODE_RECEIVED,
            ("SendTokenRequest",),
        ),
        (
            miroflow.FlowState.CODE_RECEIVED,
            "TokenResponseReceived",
            miroflow.FlowState.CONSUMED,
            ("StoreTokens", "RedirectBrowser"),
        ),
    ]
    assert state_of(started) not in repr(seen)
