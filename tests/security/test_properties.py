"""Properties of ``Client.handle_callback`` under anything a browser or Miro can send (issue 11):
arbitrary query strings, binding cookies of any text (lone surrogates included) and any
token-endpoint answer give a typed answer (a 303, or a 4xx/5xx with a typed error), never an
exception; and a token request is sent only for a callback that names a live flow of the
browser that presents it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from hypothesis import event, given
from hypothesis import strategies as st

import miroflow
from miroflow.machine import hash_state
from miroflow.testing.strategies import callback_queries, junk_queries, token_responses

CONFIG = miroflow.ClientConfig(
    client_id="3074457363680401096",
    client_secret="property-test-secret",
    redirect_uri="http://localhost:8000/callback",
)
TOKEN = CONFIG.token_endpoint

#: Any text, lone surrogates (what a mis-decoded cookie header gives) mixed in.
any_text = st.lists(
    st.one_of(st.characters(), st.sampled_from(["\ud800", "\udcff", "\udfff", "\x00", ";"])),
    max_size=80,
).map("".join)


class Miro:
    """A token endpoint that answers every request with one drawn answer (or fails)."""

    def __init__(self, answer: miroflow.HttpResponse | None) -> None:
        self.answer = answer
        self.requests: list[miroflow.HttpRequest] = []

    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        self.requests.append(request)
        if request.url != TOKEN:
            return miroflow.HttpResponse(status=204)  # a revocation
        if self.answer is None:
            raise miroflow.TransportError("Miro is unreachable (a drawn failure).")
        return self.answer

    def token_requests(self) -> int:
        return sum(request.url == TOKEN for request in self.requests)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _start(client: miroflow.Client, binding: str | None = None) -> tuple[str, str]:
    answer = client.start(binding_cookie=binding)
    assert answer.status == 302 and answer.location is not None and answer.cookie is not None
    return parse_qs(urlsplit(answer.location).query)["state"][0], answer.cookie.value


def _typed(answer: Any) -> None:
    assert isinstance(answer, miroflow.Answer)
    if answer.status == 303:
        assert answer.tokens is not None and answer.error is None
    else:
        assert 400 <= answer.status <= 599, answer.status
        assert isinstance(answer.error, miroflow.MiroflowError)
        assert answer.tokens is None
        assert isinstance(answer.message, str) and isinstance(answer.detail, str)
    answer.headers  # noqa: B018 - rendering the headers must not raise either


@st.composite
def callbacks(draw: st.DrawFn, state: str, other_state: str) -> str | bytes:
    """Arbitrary queries; well-formed ones for the live flow, another flow or a made-up
    state; and the live state with arbitrary pairs around it."""
    kind = draw(st.sampled_from(["junk", "live", "other", "made_up", "live_in_junk"]))
    if kind == "junk":
        query: str | bytes = draw(junk_queries)
        return query
    if kind == "live_in_junk":
        before = draw(st.lists(st.tuples(any_text, any_text), max_size=3))
        after = draw(st.lists(st.tuples(any_text, any_text), max_size=3))
        pairs = [*before, ("state", state), *after]
        if draw(st.booleans()):
            pairs.append(("code", draw(any_text)))
        return "&".join(f"{quote(k, errors='replace')}={v}" for k, v in pairs)
    chosen = {"live": state, "other": other_state}.get(kind) or draw(any_text)
    return draw(callback_queries(state=chosen, client_id=CONFIG.client_id))


@given(data=st.data(), answer=st.none() | token_responses())
def test_any_callback_gets_a_typed_answer_and_only_a_live_flow_sends_a_token_request(
    data: st.DataObject, answer: miroflow.HttpResponse | None
) -> None:
    miro = Miro(answer)
    clock = Clock()
    client = miroflow.Client(
        CONFIG,
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=miro,
        clock=clock,
    )
    state, binding = _start(client)  # the person's browser
    other_state, other_binding = _start(client)  # another browser, another flow
    started = clock.now
    live = {(state, binding), (other_state, other_binding)}
    for _ in range(data.draw(st.integers(1, 3), label="callbacks")):
        if data.draw(st.booleans(), label="the owner's own callback"):
            query: str | bytes = data.draw(
                callback_queries(state=state, client_id=CONFIG.client_id)
            )
            cookie: str | None = binding
        else:
            query = data.draw(callbacks(state, other_state), label="query")
            cookie = data.draw(
                st.sampled_from([binding, other_binding, None])
                | any_text
                | st.sampled_from([binding + "\udcff", "\udcff" + binding]),
                label="cookie",
            )
        moves = st.sampled_from([0.0, 0.0, 0.0, 1.0, 899.0, 901.0, -120.0])
        clock.now += data.draw(moves, label="dt")
        before = miro.token_requests()
        result = client.handle_callback(query, binding_cookie=cookie)
        _typed(result)
        if miro.token_requests() > before:
            event("a token request was sent")
            assert miro.token_requests() == before + 1
            assert started - 60 <= clock.now < started + CONFIG.flow_lifetime
            text = query.decode("utf-8", "replace") if isinstance(query, bytes) else query
            claimed = {flow for flow in live if flow[1] == cookie and f"state={flow[0]}" in text}
            assert claimed, "a token request for a callback naming no live flow of its browser"
        if result.flow is not None and result.flow.state is not miroflow.FlowState.REDIRECTED:
            # this flow is claimed and over, whatever the answer: it is live no more
            live = {flow for flow in live if _hash(flow[0]) != result.flow.state_hash}


def _hash(state: str) -> bytes:
    return hash_state(CONFIG.client_id, state)
