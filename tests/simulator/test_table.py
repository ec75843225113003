"""The transition table: every (state, input) pair either moves as its row says (a target
the row names, effects the row names) or raises InvalidTransition and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from miroflow import InvalidTransition, UsageError
from miroflow.simulator import (
    TABLE,
    App,
    AuthorizationCode,
    AuthorizationRequest,
    AuthorizationRequestRejected,
    ClockAdvanced,
    CodeRedeemed,
    CodeReplayed,
    CodeState,
    ConsentGranted,
    ContextRequested,
    PairState,
    RefreshPresented,
    Respond,
    RevocationRequested,
    ServerStep,
    TokenPair,
    default_registry,
    step,
)

CLIENT, SECRET, URI = "3074457363680401096", "app-secret-app-secret", "http://127.0.0.1:8000/cb"
REGISTRY = default_registry().with_app(
    App(client_id=CLIENT, client_secret=SECRET, redirect_uris=(URI,))
)
ADA, ALPHA = "3458764517517852417", "3458764517517819000"
T0 = 1_800_000_000.0
STATES: list[Any] = [None, *CodeState, *PairState]
INPUTS = [
    ConsentGranted,
    CodeRedeemed,
    RefreshPresented,
    RevocationRequested,
    ContextRequested,
    CodeReplayed,
    ClockAdvanced,
]
TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=22, max_size=40)


def _record(state: Any, now: float) -> Any:
    if isinstance(state, CodeState):
        return AuthorizationCode(
            code_hash="c" * 64,
            state=state,
            client_id=CLIENT,
            redirect_uri=URI,
            user_id=ADA,
            team_id=ALPHA,
            issued_at=now,
        )
    if isinstance(state, PairState):
        return TokenPair(
            access_hash="a" * 64,
            refresh_hash="r" * 64,
            state=state,
            client_id=CLIENT,
            user_id=ADA,
            team_id=ALPHA,
            scopes=("boards:read",),
            issued_at=now,
            access_expires_at=now + 3599,
            refresh_expires_at=now + 60 * 86400,
            origin_code_hash="c" * 64,
        )
    return None


@st.composite
def _inputs(draw: st.DrawFn, kind: type[Any]) -> Any:
    secret = draw(st.sampled_from([SECRET, "wrong"]))
    if kind is ConsentGranted:
        request = AuthorizationRequest(client_id=CLIENT, redirect_uri=URI, state="s")
        return ConsentGranted(request=request, user_id=ADA, team_id=ALPHA, code=draw(TOKEN))
    if kind is CodeRedeemed:
        return CodeRedeemed(
            client_id=CLIENT,
            client_secret=secret,
            redirect_uri=draw(st.sampled_from([URI, URI + "/"])),
            new_access_token=draw(TOKEN),
            new_refresh_token=draw(TOKEN),
        )
    if kind is RefreshPresented:
        return RefreshPresented(
            client_id=CLIENT,
            client_secret=secret,
            new_access_token=draw(TOKEN),
            new_refresh_token=draw(TOKEN),
        )
    if kind is RevocationRequested:
        return RevocationRequested(client_id=CLIENT, client_secret=secret)
    return kind()


def test_table_rows_name_real_states_and_effects() -> None:
    for (state, input_type), rule in TABLE.items():
        assert input_type in INPUTS
        assert rule.targets and rule.why
        kinds = {type(target) for target in rule.targets}
        assert len(kinds) == 1, "a row never moves a record to another machine"
        if state is not None:
            assert isinstance(state, next(iter(kinds)))


def test_every_live_state_handles_time_and_its_own_inputs() -> None:
    for code_state in CodeState:
        assert (code_state, ClockAdvanced) in TABLE and (code_state, CodeRedeemed) in TABLE
    for state in PairState:
        for input_type in (RefreshPresented, RevocationRequested, ContextRequested, CodeReplayed):
            assert (state, input_type) in TABLE


@given(
    state=st.sampled_from(STATES),
    data=st.data(),
    age=st.sampled_from([0.0, 1.0, 599.999, 600.0, 3599.0, 60 * 86400.0]),
)
def test_every_pair_moves_per_the_table_or_raises(state: Any, data: Any, age: float) -> None:
    kind = data.draw(st.sampled_from(INPUTS))
    event = data.draw(_inputs(kind))
    record = _record(state, T0)
    rule = TABLE.get((state, kind))
    if rule is None:
        with pytest.raises(InvalidTransition):
            step(record, event, registry=REGISTRY, now=T0 + age)
        return
    result = step(record, event, registry=REGISTRY, now=T0 + age)
    assert isinstance(result, ServerStep)
    assert result.record.state in rule.targets
    for effect in result.effects:
        assert type(effect) in rule.effects
    responses = [e for e in result.effects if isinstance(e, Respond)]
    assert len(responses) <= 1
    if rule.targets == (state,):
        assert result.record == record


def test_consent_checks_team_and_code_strength() -> None:
    request = AuthorizationRequest(client_id=CLIENT, redirect_uri=URI)
    with pytest.raises(AuthorizationRequestRejected):
        step(
            None,
            ConsentGranted(
                request=request,
                user_id="3458764517517852418",
                team_id="3458764517517819001",
                code="x" * 43,
            ),
            registry=REGISTRY,
            now=T0,
        )
    with pytest.raises(UsageError):
        step(
            None,
            ConsentGranted(request=request, user_id=ADA, team_id=ALPHA, code="short"),
            registry=REGISTRY,
            now=T0,
        )
    foreign = AuthorizationRequest(client_id=CLIENT, redirect_uri=URI + "/")
    with pytest.raises(AuthorizationRequestRejected):
        step(
            None,
            ConsentGranted(request=foreign, user_id=ADA, team_id=ALPHA, code="x" * 43),
            registry=REGISTRY,
            now=T0,
        )


def test_secrets_never_in_repr() -> None:
    event = CodeRedeemed(
        client_id=CLIENT,
        client_secret=SECRET,
        redirect_uri=URI,
        code_verifier="verifier-verifier",
        new_access_token="access-access-access-access",
        new_refresh_token="refresh-refresh-refresh-refresh",
    )
    text = repr(event) + repr(REGISTRY)
    for secret in (SECRET, "verifier-verifier", "access-access", "refresh-refresh"):
        assert secret not in text
