"""Every (state, input type) pair: it transitions as its table row says (targets, effects,
replies), or raises InvalidTransition and changes nothing. And the machine's guards."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import miroflow
from miroflow import FlowState
from miroflow import machine as m
from miroflow.testing.strategies import clock_moves, token_responses, tokens

CONFIG = miroflow.ClientConfig(
    client_id="3074457363680401096",
    client_secret="machine-test-secret",
    redirect_uri="https://app.example/callback",
)
STATES: list[FlowState | None] = [None, *FlowState]
INPUT_TYPES = [
    m.FlowStarted,
    m.UserRedirected,
    m.CallbackReceived,
    m.UnsolicitedCallbackReceived,
    m.TokenResponseReceived,
    m.TransportFailed,
    m.ClockAdvanced,
]
ENTROPY = bytes(range(96))


@st.composite
def situations(
    draw: st.DrawFn, state: FlowState | None, input_type: type
) -> tuple[miroflow.Flow | None, m.Input, float]:
    state_token, binding = draw(tokens), draw(tokens)
    created = 1.7e9
    flow = None
    if state is not None:
        pending = state is FlowState.PENDING and draw(st.booleans())
        flow = miroflow.Flow(
            state=state,
            state_hash=m.hash_state(CONFIG.client_id, state_token),
            binding_hash=m.hash_binding(binding),
            created_at=created,
            deadline=created + 900,
            requested_team_id=draw(st.none() | st.just("111")),
            state_token=state_token if pending else None,
            binding=binding if pending else None,
        )
    now = created + draw(clock_moves(2000))
    error = draw(st.none() | st.sampled_from(["access_denied", "server_error"]))
    # The callback's state is the flow's own, or (to exercise the guard) another one.
    own_state = draw(st.booleans())
    callback = m.Callback(
        code=None if error else "the-code",
        error=error,
        state=(state_token if own_state else draw(tokens))
        if input_type is m.CallbackReceived
        else None,
        client_id=draw(st.sampled_from([None, CONFIG.client_id, "42"])),
        team_id=draw(st.sampled_from([None, "111", "222"])),
    )
    event: m.Input
    if input_type is m.FlowStarted:
        event = m.FlowStarted(
            entropy=draw(st.binary(min_size=96, max_size=96)),
            binding_cookie=draw(st.none() | st.just(binding) | st.just("not-a-binding")),
            team_id=draw(st.none() | st.just("111")),
        )
    elif input_type is m.UserRedirected:
        event = m.UserRedirected()
    elif input_type is m.CallbackReceived:
        event = m.CallbackReceived(callback=callback)
    elif input_type is m.UnsolicitedCallbackReceived:
        event = m.UnsolicitedCallbackReceived(callback=callback)
    elif input_type is m.TokenResponseReceived:
        event = m.TokenResponseReceived(response=draw(token_responses()))
    elif input_type is m.TransportFailed:
        event = m.TransportFailed(
            error=draw(
                st.sampled_from(
                    [miroflow.TransportTimeout("slow"), miroflow.TransportError("reset")]
                )
            )
        )
    else:
        event = m.ClockAdvanced()
    return flow, event, now


def _reply_kind(answer: miroflow.Answer | None) -> str | None:
    if answer is None:
        return None
    return "redirect" if answer.location is not None else "error"


PAIRS = [(state, input_type) for state in STATES for input_type in INPUT_TYPES]


# Every (state, input) pair gets its own examples: drawn at random, a pair came up only about
# once in 56, and a breakage in one row could slip through a run.
@pytest.mark.parametrize(
    ("state", "input_type"),
    PAIRS,
    ids=[f"{s.value if s else 'none'}-{i.__name__}" for s, i in PAIRS],
)
@given(
    data=st.data(),
    team=st.sampled_from(["accept_any", "require_requested"]),
    unsolicited=st.sampled_from(["reject", "accept"]),
)
@settings(max_examples=25, suppress_health_check=[HealthCheck.differing_executors])
def test_every_pair_follows_its_row_or_raises(
    state: FlowState | None, input_type: type, data: st.DataObject, team: str, unsolicited: str
) -> None:
    flow, event, now = data.draw(situations(state, input_type))
    config = attrs.evolve(CONFIG, team_policy=team, unsolicited_policy=unsolicited)
    before = None if flow is None else attrs.asdict(flow)
    rule = m.TABLE.get((None if flow is None else flow.state, type(event)))
    if rule is None:
        with pytest.raises(miroflow.InvalidTransition):
            m.step(flow, event, config=config, now=now)
        assert (None if flow is None else attrs.asdict(flow)) == before
        return
    # The only misuse a listed pair can meet: a pending flow without its raw values (built
    # by hand, not by FlowStarted). (A callback is not checked against the flow's state
    # hash: CallbackReceived says the claim by that hash won this flow.)
    bare = isinstance(event, m.UserRedirected) and flow is not None and flow.binding is None
    if bare and flow is not None and not flow.state.is_terminal:
        with pytest.raises(miroflow.UsageError):
            m.step(flow, event, config=config, now=now)
        return
    result = m.step(flow, event, config=config, now=now)
    assert result.flow.state in rule.targets
    assert {type(effect) for effect in result.effects} <= set(rule.effects)
    kind = _reply_kind(result.reply)
    assert kind is None or kind in rule.replies
    if flow is not None and flow.state.is_terminal:
        assert result.flow == flow and result.effects == () and result.reply is None
    if result.reply is not None:
        assert result.reply.flow == result.flow
        if result.reply.error is not None:
            assert 400 <= result.reply.status < 600
            assert "machine-test-secret" not in result.reply.message + result.reply.body
    if result.flow.state is not FlowState.PENDING:
        # Raw values and the verifier never outlive the step that hands the link out.
        assert result.flow.state_token is None and result.flow.binding is None
    if result.flow.state.is_terminal:
        assert result.flow.code_verifier is None


@given(st.sampled_from(sorted(m.TABLE, key=repr)))
def test_every_row_can_answer_the_way_it_says(pair: tuple[FlowState | None, type]) -> None:
    rule = m.TABLE[pair]
    assert set(rule.replies) <= {"redirect", "error"}
    assert set(rule.targets) <= set(FlowState)


def test_a_callback_without_a_state_claims_no_flow() -> None:
    flow = _redirected().flow
    event = m.CallbackReceived(callback=m.Callback(code="c"))
    with pytest.raises(miroflow.UsageError, match="unsolicited"):
        m.step(flow, event, config=CONFIG, now=1001.0)


def test_table_covers_exactly_the_documented_pairs() -> None:
    for state in [s for s in FlowState if s.is_terminal]:
        for input_type in INPUT_TYPES:
            assert m.TABLE[(state, input_type)].targets == (state,)
    live = {pair for pair, rule in m.TABLE.items() if pair[0] is None or not pair[0].is_terminal}
    assert live == {
        (None, m.FlowStarted),
        (None, m.UnsolicitedCallbackReceived),
        (FlowState.PENDING, m.UserRedirected),
        (FlowState.REDIRECTED, m.CallbackReceived),
        (FlowState.REDIRECTED, m.ClockAdvanced),
        (FlowState.CODE_RECEIVED, m.TokenResponseReceived),
        (FlowState.CODE_RECEIVED, m.TransportFailed),
    }


def test_invalid_transition_message_names_the_pair() -> None:
    with pytest.raises(miroflow.InvalidTransition, match="TokenResponseReceived before any flow"):
        m.step(
            None,
            m.TokenResponseReceived(response=miroflow.HttpResponse(status=200)),
            config=CONFIG,
            now=0.0,
        )


def _started(now: float = 1000.0, **kwargs: object) -> m.Step:
    event = m.FlowStarted(entropy=ENTROPY, **kwargs)  # type: ignore[arg-type]
    return m.step(None, event, config=CONFIG, now=now)


def _redirected(now: float = 1000.0, **kwargs: object) -> m.Step:
    return m.step(_started(now, **kwargs).flow, m.UserRedirected(), config=CONFIG, now=now)


def test_a_start_is_made_in_memory_then_saved_when_the_browser_is_sent() -> None:
    started = _started()
    assert started.flow.state is FlowState.PENDING
    assert started.effects == () and started.reply is None
    sent = m.step(started.flow, m.UserRedirected(), config=CONFIG, now=1000.0)
    (save,) = sent.effects
    assert isinstance(save, m.SaveFlow) and save.flow == sent.flow
    assert sent.flow.state is FlowState.REDIRECTED
    assert sent.flow.state_token is None and sent.flow.binding is None
    reply = sent.reply
    assert reply is not None and reply.status == 302
    binding = m.b64url(ENTROPY[32:64])
    assert reply.set_cookie == (
        f"__Host-miroflow={binding}; Max-Age=900; Path=/; Secure; HttpOnly; SameSite=Lax"
    )
    state = m.b64url(ENTROPY[:32])
    assert reply.location == m.authorize_url(CONFIG, state)
    assert sent.flow.state_hash == m.hash_state(CONFIG.client_id, state)
    assert sent.flow.binding_hash == m.hash_binding(binding)
    assert state not in repr(sent) and binding not in repr(started)


def test_a_well_formed_binding_cookie_is_kept_and_anything_else_replaced() -> None:
    kept = _started(binding_cookie="K" * 43).flow
    assert kept.binding == "K" * 43
    for junk in ("short", "K" * 44, "K" * 42 + "!"):
        assert _started(binding_cookie=junk).flow.binding == m.b64url(ENTROPY[32:64])


def test_the_state_hash_is_per_app() -> None:
    other = attrs.evolve(CONFIG, client_id="3074457363680401097")
    mine = m.step(None, m.FlowStarted(entropy=ENTROPY), config=CONFIG, now=0.0).flow
    theirs = m.step(None, m.FlowStarted(entropy=ENTROPY), config=other, now=0.0).flow
    assert mine.state_token == theirs.state_token and mine.state_hash != theirs.state_hash


def test_a_pending_flow_without_its_raw_values_cannot_be_sent() -> None:
    flow = attrs.evolve(_started().flow, state_token=None)
    with pytest.raises(miroflow.UsageError, match="raw state and binding"):
        m.step(flow, m.UserRedirected(), config=CONFIG, now=1000.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"team_id": "12a"}, "team_id"),
        ({"return_path": "//evil.example"}, "same-site path"),
    ],
)
def test_start_refuses_bad_arguments(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(miroflow.UsageError, match=message):
        _started(**kwargs)


def test_start_refuses_too_little_entropy() -> None:
    with pytest.raises(miroflow.UsageError, match="96 are needed"):
        m.step(None, m.FlowStarted(entropy=b"x" * 95), config=CONFIG, now=0.0)


def test_pkce_cuts_the_verifier_from_the_entropy() -> None:
    config = attrs.evolve(CONFIG, pkce=True)
    flow = m.step(None, m.FlowStarted(entropy=ENTROPY), config=config, now=0.0).flow
    assert flow.code_verifier == m.b64url(ENTROPY[64:96])
    sent = m.step(flow, m.UserRedirected(), config=config, now=0.0)
    assert sent.reply is not None and sent.reply.location is not None
    assert m.code_challenge(flow.code_verifier) in sent.reply.location


def test_next_deadline_follows_the_state() -> None:
    flow = _redirected(now=1000.0).flow
    assert m.next_deadline(flow) == 1900.0
    for state in (FlowState.CODE_RECEIVED, *(s for s in FlowState if s.is_terminal)):
        assert m.next_deadline(attrs.evolve(flow, state=state)) is None


@pytest.mark.parametrize(
    ("offset", "state"), [(899.999, FlowState.REDIRECTED), (900.0, FlowState.EXPIRED)]
)
def test_a_flow_dies_exactly_at_its_deadline(offset: float, state: FlowState) -> None:
    after = m.step(_redirected().flow, m.ClockAdvanced(), config=CONFIG, now=1000.0 + offset)
    assert after.flow.state is state
    assert after.effects == ()
    if state is FlowState.EXPIRED:
        assert after.reply is not None and isinstance(after.reply.error, miroflow.FlowExpired)
        assert after.reply.error.expired_for == 0.0
    else:
        assert after.reply is None and after.flow == _redirected().flow


def test_a_hand_built_callback_with_neither_code_nor_error_is_a_usage_error() -> None:
    flow = _redirected().flow
    state = m.b64url(ENTROPY[:32])
    event = m.CallbackReceived(callback=m.Callback(state=state))
    with pytest.raises(miroflow.UsageError, match="needs a code or an error"):
        m.step(flow, event, config=CONFIG, now=1001.0)


def test_a_verified_callback_exchanges_the_code_once_with_a_303_after() -> None:
    flow = _redirected(return_path="/boards").flow
    state = m.b64url(ENTROPY[:32])
    received = m.step(
        flow,
        m.CallbackReceived(callback=m.Callback(code="c0de", state=state)),
        config=CONFIG,
        now=1001.0,
    )
    (send,) = received.effects
    assert isinstance(send, m.SendTokenRequest) and received.reply is None
    assert send.request.body == m.token_request(CONFIG, "c0de").body
    body = (
        b'{"user_id":"1","team_id":"2","access_token":"a","token_type":"bearer",'
        b'"scope":"boards:read"}'
    )
    done = m.step(
        received.flow,
        m.TokenResponseReceived(response=miroflow.HttpResponse(status=200, body=body)),
        config=CONFIG,
        now=1002.0,
    )
    (store,) = done.effects
    assert isinstance(store, m.StoreTokens) and store.tokens.client_id == CONFIG.client_id
    assert done.reply is not None and (done.reply.status, done.reply.location) == (303, "/boards")
    assert done.reply.tokens == store.tokens
