"""Every (state, input type) pair: it transitions as its table row says, or raises
InvalidTransition and changes nothing."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import miroflow
from miroflow import FlowState
from miroflow.testing.strategies import clock_moves, token_responses, tokens

CONFIG = miroflow.ClientConfig(
    client_id="3074457363680401096",
    client_secret="machine-test-secret",
    redirect_uri="https://app.example/callback",
)
STATES: list[FlowState | None] = [None, *FlowState]
INPUT_TYPES = [
    miroflow.FlowStarted,
    miroflow.UserRedirected,
    miroflow.CallbackReceived,
    miroflow.UnsolicitedCallbackReceived,
    miroflow.TokenResponseReceived,
    miroflow.TransportFailed,
    miroflow.ClockAdvanced,
]


@st.composite
def situations(draw: st.DrawFn) -> tuple[miroflow.Flow | None, miroflow.Input, float]:
    state = draw(st.sampled_from(STATES))
    input_type = draw(st.sampled_from(INPUT_TYPES))
    state_token, binding = draw(tokens), draw(tokens)
    created = 1.7e9
    flow = None
    if state is not None:
        received = created + draw(st.floats(0, 300)) if state is FlowState.CODE_RECEIVED else None
        flow = miroflow.Flow(
            state=state,
            state_hash=miroflow.hash_secret(state_token),
            binding_hash=miroflow.hash_secret(binding),
            created_at=created,
            deadline=created + 900,
            requested_team_id=draw(st.none() | st.just("111")),
            code="the-code" if state is FlowState.CODE_RECEIVED else None,
            code_received_at=received,
        )
    now = created + draw(clock_moves(2000))
    error = draw(st.none() | st.sampled_from(["access_denied", "server_error"]))
    callback = miroflow.Callback(
        code=None if error else "the-code",
        error=error,
        state=state_token if input_type is miroflow.CallbackReceived else None,
        client_id=draw(st.sampled_from([None, CONFIG.client_id, "42"])),
        team_id=draw(st.sampled_from([None, "111", "222"])),
    )
    presented = draw(st.sampled_from([None, binding, draw(tokens)]))
    event: miroflow.Input
    if input_type is miroflow.FlowStarted:
        event = miroflow.FlowStarted(
            state_token=state_token, binding=binding, team_id=draw(st.none() | st.just("111"))
        )
    elif input_type is miroflow.UserRedirected:
        event = miroflow.UserRedirected()
    elif input_type is miroflow.CallbackReceived:
        event = miroflow.CallbackReceived(callback=callback, binding=presented)
    elif input_type is miroflow.UnsolicitedCallbackReceived:
        event = miroflow.UnsolicitedCallbackReceived(callback=callback)
    elif input_type is miroflow.TokenResponseReceived:
        event = miroflow.TokenResponseReceived(response=draw(token_responses()))
    elif input_type is miroflow.TransportFailed:
        event = miroflow.TransportFailed(
            error=draw(
                st.sampled_from(
                    [miroflow.TransportTimeout("slow"), miroflow.TransportError("reset")]
                )
            )
        )
    else:
        event = miroflow.ClockAdvanced()
    return flow, event, now


@given(
    situations(),
    st.sampled_from(["accept_any", "require_requested"]),
    st.sampled_from(["reject", "accept"]),
)
def test_every_pair_follows_its_row_or_raises(
    situation: tuple[miroflow.Flow | None, miroflow.Input, float], team: str, unsolicited: str
) -> None:
    flow, event, now = situation
    config = attrs.evolve(CONFIG, team_policy=team, unsolicited_policy=unsolicited)
    before = None if flow is None else miroflow.flow_to_record(flow)
    rule = miroflow.TABLE.get((None if flow is None else flow.state, type(event)))
    if rule is None:
        with pytest.raises(miroflow.InvalidTransition):
            miroflow.step(flow, event, config=config, now=now)
        assert (None if flow is None else miroflow.flow_to_record(flow)) == before
        return
    result = miroflow.step(flow, event, config=config, now=now)
    assert result.flow.state in rule.targets
    assert {type(effect) for effect in result.effects} <= set(rule.effects)
    if flow is not None and flow.state.is_terminal:
        assert result.flow == flow and result.effects == ()
    entered = flow is None or not flow.state.is_terminal
    if entered and result.flow.state.is_terminal and result.flow.state is not FlowState.CONSUMED:
        # The outside world ended it: the flow says why, and holds no secret any more.
        assert result.flow.failure is not None and result.flow.code is None
    errors = [e.error for e in result.effects if isinstance(e, miroflow.RespondWithError)]
    for error in errors:
        assert 400 <= error.status_code < 600 and error.code == result.flow.failure
        assert "machine-test-secret" not in error.message


def test_table_covers_exactly_the_documented_pairs() -> None:
    terminal = [s for s in FlowState if s.is_terminal]
    for state in terminal:
        for input_type in INPUT_TYPES:
            assert miroflow.TABLE[(state, input_type)].targets == (state,)
    assert (FlowState.PENDING, miroflow.TokenResponseReceived) not in miroflow.TABLE
    assert (FlowState.CODE_RECEIVED, miroflow.CallbackReceived) not in miroflow.TABLE
    assert (None, miroflow.CallbackReceived) not in miroflow.TABLE


def test_invalid_transition_message_names_the_pair() -> None:
    with pytest.raises(miroflow.InvalidTransition, match="TokenResponseReceived before any flow"):
        miroflow.step(
            None,
            miroflow.TokenResponseReceived(response=miroflow.HttpResponse(status=200)),
            config=CONFIG,
            now=0.0,
        )


def _started(now: float = 1000.0, **kwargs: object) -> miroflow.Step:
    event = miroflow.FlowStarted(state_token="s" * 43, binding="b" * 43, **kwargs)  # type: ignore[arg-type]
    return miroflow.step(None, event, config=CONFIG, now=now)


def test_start_saves_then_redirects_with_a_lax_http_only_cookie() -> None:
    started = _started()
    save, redirect = started.effects
    assert isinstance(save, miroflow.SaveFlow) and save.flow == started.flow
    assert isinstance(redirect, miroflow.RedirectBrowser) and redirect.cookie is not None
    assert redirect.cookie.header_value() == (
        f"__Host-miroflow={'b' * 43}; Max-Age=900; Path=/; Secure; HttpOnly; SameSite=Lax"
    )
    assert started.flow.state_hash == miroflow.hash_secret("s" * 43)
    assert "s" * 43 not in repr(started)


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


def test_start_refuses_short_tokens() -> None:
    with pytest.raises(miroflow.UsageError, match="256 bits"):
        miroflow.step(
            None,
            miroflow.FlowStarted(state_token="short", binding="b" * 43),
            config=CONFIG,
            now=0.0,
        )


def test_next_deadline_follows_the_state() -> None:
    flow = _started(now=1000.0).flow
    assert miroflow.next_deadline(flow) == 1900.0
    received = attrs.evolve(flow, state=FlowState.CODE_RECEIVED, code_received_at=1100.0)
    assert miroflow.next_deadline(received) == 1100.0 + miroflow.CODE_LIFETIME
    assert miroflow.next_deadline(attrs.evolve(flow, state=FlowState.CONSUMED)) is None


@pytest.mark.parametrize(
    ("offset", "state"), [(599.999, FlowState.CODE_RECEIVED), (600.0, FlowState.EXPIRED)]
)
def test_a_received_code_dies_exactly_ten_minutes_after_receipt(
    offset: float, state: FlowState
) -> None:
    flow = attrs.evolve(
        _started().flow, state=FlowState.CODE_RECEIVED, code="c", code_received_at=1000.0
    )
    after = miroflow.step(flow, miroflow.ClockAdvanced(), config=CONFIG, now=1000.0 + offset)
    assert after.flow.state is state
    assert all(not isinstance(e, miroflow.SendTokenRequest) for e in after.effects)


@pytest.mark.parametrize(
    ("offset", "state"), [(899.999, FlowState.PENDING), (900.0, FlowState.EXPIRED)]
)
def test_a_flow_dies_exactly_at_its_deadline(offset: float, state: FlowState) -> None:
    after = miroflow.step(
        _started().flow, miroflow.ClockAdvanced(), config=CONFIG, now=1000.0 + offset
    )
    assert after.flow.state is state


def test_a_hand_built_callback_with_neither_code_nor_error_is_a_usage_error() -> None:
    flow = _started().flow
    event = miroflow.CallbackReceived(callback=miroflow.Callback(state="s" * 43), binding="b" * 43)
    with pytest.raises(miroflow.UsageError, match="needs a code or an error"):
        miroflow.step(flow, event, config=CONFIG, now=1001.0)
