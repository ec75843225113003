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
    ConsentFormRejected,
    ConsentGranted,
    ConsentShown,
    ConsentSubmitted,
    ConsentTicket,
    ContextRequested,
    LegacyRevocationRequested,
    PairState,
    RefreshPresented,
    Respond,
    RevocationRequested,
    ServerStep,
    Session,
    SessionState,
    TicketState,
    TokenPair,
    UserSignedIn,
    UserSignedOut,
    default_registry,
    step,
)

CLIENT, SECRET, URI = "3074457363680401096", "app-secret-app-secret", "http://127.0.0.1:8000/cb"
REGISTRY = default_registry().with_app(
    App(client_id=CLIENT, client_secret=SECRET, redirect_uris=(URI,))
)
ADA, ALPHA = "3458764517517852417", "3458764517517819000"
T0 = 1_800_000_000.0
STATES: list[Any] = [None, *CodeState, *PairState, *SessionState, *TicketState]
INPUTS = [
    ConsentGranted,
    CodeRedeemed,
    RefreshPresented,
    RevocationRequested,
    LegacyRevocationRequested,
    ContextRequested,
    CodeReplayed,
    UserSignedIn,
    UserSignedOut,
    ConsentShown,
    ConsentSubmitted,
    ClockAdvanced,
]
REQUEST = AuthorizationRequest(client_id=CLIENT, redirect_uri=URI, state="s")
SESSION_HASH = "e" * 64
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
    if isinstance(state, SessionState):
        return Session(session_hash=SESSION_HASH, state=state, user_id=ADA, signed_in_at=now)
    if isinstance(state, TicketState):
        return ConsentTicket(
            ticket_hash="t" * 64,
            state=state,
            request=REQUEST,
            user_id=ADA,
            session_hash=SESSION_HASH,
            issued_at=now,
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
    if kind is UserSignedIn:
        return UserSignedIn(user_id=ADA, session_token=draw(TOKEN))
    if kind is ConsentShown:
        session = draw(st.sampled_from([SESSION_HASH, None]))
        return ConsentShown(request=REQUEST, user_id=ADA, session_hash=session, token=draw(TOKEN))
    if kind is ConsentSubmitted:
        return ConsentSubmitted(
            request=draw(
                st.sampled_from([REQUEST, AuthorizationRequest(client_id=CLIENT, redirect_uri=URI)])
            ),
            session_hash=draw(st.sampled_from([SESSION_HASH, None])),
            approve=draw(st.booleans()),
            team_id=draw(st.sampled_from([ALPHA, "3458764517517819001", None])),
            code=draw(TOKEN),
        )
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
        for input_type in (
            RefreshPresented,
            RevocationRequested,
            LegacyRevocationRequested,
            ContextRequested,
            CodeReplayed,
        ):
            assert (state, input_type) in TABLE
    for ticket_state in TicketState:
        assert (ticket_state, ClockAdvanced) in TABLE and (ticket_state, ConsentSubmitted) in TABLE
    for session_state in SessionState:
        assert (session_state, ClockAdvanced) in TABLE and (session_state, UserSignedOut) in TABLE


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
    try:
        result = step(record, event, registry=REGISTRY, now=T0 + age)
    except AuthorizationRequestRejected:
        # a refused consent form (or a team the user may not pick) changes nothing
        assert kind in (ConsentSubmitted, ConsentGranted)
        return
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


def _ticket(session: str | None = SESSION_HASH) -> ConsentTicket:
    return ConsentTicket(
        ticket_hash="t" * 64,
        state=TicketState.ISSUED,
        request=REQUEST,
        user_id=ADA,
        session_hash=session,
        issued_at=T0,
    )


def _submitted(**changes: Any) -> ConsentSubmitted:
    values: dict[str, Any] = {
        "request": REQUEST,
        "session_hash": SESSION_HASH,
        "approve": True,
        "team_id": ALPHA,
        "code": "c" * 43,
    }
    values.update(changes)
    return ConsentSubmitted(**values)


def test_a_consent_form_approved_in_its_session_issues_a_code_once() -> None:
    result = step(_ticket(), _submitted(), registry=REGISTRY, now=T0 + 1)
    assert result.record.state is TicketState.USED
    (code,) = [e.code for e in result.effects if hasattr(e, "code")]
    assert code.state is CodeState.ISSUED and code.user_id == ADA
    with pytest.raises(ConsentFormRejected):
        step(result.record, _submitted(), registry=REGISTRY, now=T0 + 2)


@pytest.mark.parametrize(
    "changes",
    [
        {"session_hash": None},  # posted without the session cookie it was shown in
        {"session_hash": "f" * 64},  # another sign-in's form
        {"request": AuthorizationRequest(client_id=CLIENT, redirect_uri=URI, state="other")},
        {"posted_user_id": "3458764517517852418"},  # the user is the signed-in one
    ],
)
def test_a_consent_form_from_elsewhere_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ConsentFormRejected) as caught:
        step(_ticket(), _submitted(**changes), registry=REGISTRY, now=T0 + 1)
    assert caught.value.status_code == 403


def test_a_consent_form_expires() -> None:
    with pytest.raises(ConsentFormRejected):
        step(_ticket(), _submitted(), registry=REGISTRY, now=T0 + 30 * 60)
    aged = step(_ticket(), ClockAdvanced(), registry=REGISTRY, now=T0 + 30 * 60).record
    assert aged.state is TicketState.EXPIRED


def test_v1_revoke_needs_no_credentials_and_kills_the_pair() -> None:
    pair = _record(PairState.ACTIVE, T0)
    result = step(pair, LegacyRevocationRequested(), registry=REGISTRY, now=T0)
    assert result.record.state is PairState.REVOKED
    (respond,) = [e for e in result.effects if isinstance(e, Respond)]
    assert respond.response.status == 204
    again = step(result.record, LegacyRevocationRequested(), registry=REGISTRY, now=T0)
    assert [e.response.status for e in again.effects if isinstance(e, Respond)] == [404]
