"""The client flow machine.

Theory of operation
-------------------
A flow spans two HTTP requests, often on two processes, so the machine is not a long-lived
object: ``step(flow, input, config=..., now=...)`` takes a frozen snapshot and a fact, and
returns a ``Step``: the next snapshot, the effects (orders to a port) a driver carries out in
order, and the reply to give the browser once they are done.

Every transition lives in ``TABLE``: a map from (state, input type) to a ``Rule`` naming the
states it may lead to, the effects and replies it may give, why it exists, and the handler
that picks among those targets by checking guards (Miro's answer, the policies). A pair
missing from the table raises ``InvalidTransition`` and changes nothing. ``specs/flow.json``
holds the same table; a test keeps them equal in both directions, and the diagram in
``specs/flow.md`` is drawn from it.

A flow's life: ``FlowStarted`` makes it (``pending``, in memory); ``UserRedirected`` saves it
and sends the browser to Miro (``redirected``); Miro's callback claims it in the store (one
atomic compare-and-set; ``claim_outcome`` says what a lost claim means) and
``CallbackReceived`` exchanges the code (``code_received``); the token endpoint's answer ends
it (``consumed`` or ``failed``). A claimed flow past its deadline is expired by
``ClockAdvanced``, the same input a terminal login's countdown feeds, guided by
``next_deadline``.

Two kinds of failure: the caller misusing the API raises a ``UsageError``; the browser, Miro
or the network misbehaving is a legal transition to a terminal state whose reply is an error
answer. Terminal states absorb every input: no effect, no reply.

The machine never reads the clock or a random source: ``now`` and the random bytes (inside
``FlowStarted``) are inputs, so every run can be replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ._answer import Answer
from ._callback import Callback
from ._config import ClientConfig, TeamPolicy, UnsolicitedPolicy, check_return_path
from ._errors import (
    AuthorizationDenied,
    ClientIdMismatch,
    FlowExpired,
    InvalidTransition,
    MiroflowError,
    TeamMismatch,
    TokenEndpointError,
    UnsolicitedCallback,
    UsageError,
)
from ._events import (
    CallbackReceived,
    ClockAdvanced,
    FlowStarted,
    Input,
    RevokeTokens,
    SaveFlow,
    SendTokenRequest,
    Step,
    StoreTokens,
    TokenResponseReceived,
    TransportFailed,
    UnsolicitedCallbackReceived,
    UserRedirected,
)
from ._model import CODE_LIFETIME, Flow, FlowState, hash_binding, hash_state, is_issued_token
from ._token_response import parse_token_response
from ._wire import authorize_url, b64url, revoke_request, token_request

__all__ = [
    "ENTROPY_BYTES",
    "TABLE",
    "Rule",
    "error_answer",
    "next_deadline",
    "overdue",
    "step",
]

#: What ``FlowStarted.entropy`` must hold: 256 bits each for the state, a new binding and a
#: PKCE verifier.
ENTROPY_BYTES = 96
_TOKEN = 32

Handler = Callable[[Any, Any, ClientConfig, float], Step]

PENDING = FlowState.PENDING
REDIRECTED = FlowState.REDIRECTED
CODE_RECEIVED = FlowState.CODE_RECEIVED
CONSUMED = FlowState.CONSUMED
EXPIRED = FlowState.EXPIRED
DENIED = FlowState.DENIED
FAILED = FlowState.FAILED

#: The states whose flow has a deadline (``next_deadline``).
_LIVE = frozenset({PENDING, REDIRECTED})

#: Reply kinds, as the spec names them.
REDIRECT = "redirect"
ERROR = "error"


@attrs.frozen(kw_only=True)
class Rule:
    """One row of the table."""

    targets: tuple[FlowState, ...]
    effects: tuple[type[Any], ...]
    #: What the browser may be answered: ``"redirect"``, ``"error"``, both or neither.
    replies: tuple[str, ...]
    why: str
    handler: Handler = attrs.field(repr=False, eq=False)


# --- deadlines: the one rule every expiry decision uses ---------------------------------------


def next_deadline(flow: Flow) -> float | None:
    """When the flow expires unless its callback claims it first: the instant a countdown
    waits for before feeding ``ClockAdvanced``. None once nothing can expire."""
    return flow.deadline if flow.state in _LIVE else None


def overdue(flow: Flow, now: float) -> float | None:
    """Seconds since the flow's deadline passed, or None while it is still live (or can no
    longer expire): ``now`` against ``next_deadline``."""
    if flow.state in _LIVE and now >= flow.deadline:
        return now - flow.deadline
    return None


def error_answer(
    error: MiroflowError, flow: Flow | None = None, *, continue_to: str | None = None
) -> Answer:
    """The answer that tells the browser ``error`` (its status, its short message)."""
    return Answer(status=error.status_code, error=error, flow=flow, continue_to=continue_to)


def _moved(flow: Flow, state: FlowState) -> Flow:
    # Spelled out rather than attrs.evolve (which inspects the class on every call): this is
    # on the path of every request. Raw values and the verifier never leave ``redirected``.
    return Flow(
        state=state,
        state_hash=flow.state_hash,
        binding_hash=flow.binding_hash,
        created_at=flow.created_at,
        deadline=flow.deadline,
        return_path=flow.return_path,
        requested_team_id=flow.requested_team_id,
        team_id=flow.team_id,
    )


def _end(flow: Flow, state: FlowState, error: MiroflowError) -> Step:
    """A terminal transition caused by the outside world: answer with the error."""
    ended = _moved(flow, state)
    return Step(flow=ended, reply=error_answer(error, ended))


# --- handlers: each picks one of its row's targets --------------------------------------------


def _start(flow: None, event: FlowStarted, config: ClientConfig, now: float) -> Step:
    return Step(flow=_new_flow(event, config, now, PENDING)[0])


def _new_flow(
    event: FlowStarted, config: ClientConfig, now: float, state: FlowState
) -> tuple[Flow, str, str]:
    """A new flow in ``state`` (``pending`` keeps its raw values, ``redirected`` never does),
    with its raw state and binding: cut from the entropy input once the event's values are
    checked. The one place that says what a new flow holds."""
    entropy = event.entropy
    if len(entropy) < ENTROPY_BYTES:
        raise UsageError(
            f"FlowStarted.entropy holds {len(entropy)} bytes; {ENTROPY_BYTES} are needed "
            "(256 bits each for the state, the binding and the PKCE verifier)."
        )
    team_id = event.team_id
    if team_id is not None and not (team_id.isascii() and team_id.isdigit()):
        raise UsageError("FlowStarted.team_id must be a decimal Miro team ID.")
    if event.return_path is not None:
        check_return_path(event.return_path)
    presented = event.binding_cookie
    # A binding this machine issued is kept (several tabs of one browser share it); anything
    # else is replaced.
    if presented is not None and is_issued_token(presented):
        binding = presented
    else:
        binding = b64url(entropy[_TOKEN : 2 * _TOKEN])
    state_token = b64url(entropy[:_TOKEN])
    pending = state is PENDING
    flow = Flow(
        state=state,
        state_hash=hash_state(config.client_id, state_token),
        binding_hash=hash_binding(binding),
        created_at=now,
        deadline=now + config.flow_lifetime,
        return_path=event.return_path,
        requested_team_id=team_id,
        code_verifier=b64url(entropy[2 * _TOKEN : 3 * _TOKEN]) if config.pkce else None,
        state_token=state_token if pending else None,
        binding=binding if pending else None,
    )
    return flow, state_token, binding


def _redirect(flow: Flow, event: UserRedirected, config: ClientConfig, now: float) -> Step:
    state_token, binding = flow.state_token, flow.binding
    if state_token is None or binding is None:
        raise UsageError(
            "This pending flow lacks its raw state and binding: pass the flow FlowStarted "
            "made (a pending flow is never stored)."
        )
    return _sent(
        config,
        state_token,
        binding,
        Flow(
            state=REDIRECTED,
            state_hash=flow.state_hash,
            binding_hash=flow.binding_hash,
            created_at=flow.created_at,
            deadline=flow.deadline,
            return_path=flow.return_path,
            requested_team_id=flow.requested_team_id,
            code_verifier=flow.code_verifier,
        ),
    )


def _sent(config: ClientConfig, state_token: str, binding: str, sent: Flow) -> Step:
    """The redirected flow saved, and the browser sent to Miro with its binding cookie."""
    location = authorize_url(
        config, state_token, team_id=sent.requested_team_id, code_verifier=sent.code_verifier
    )
    reply = Answer(
        status=302,
        location=location,
        set_cookie=config._cookie_prefix + binding + config._cookie_suffix,
        flow=sent,
    )
    return Step(flow=sent, effects=(SaveFlow(flow=sent),), reply=reply)


def start_redirected(event: FlowStarted, *, config: ClientConfig, now: float) -> Step:
    """``FlowStarted`` and then ``UserRedirected``, the start of every sign-in, in one call:
    exactly the second step of ``step(step(None, event).flow, UserRedirected())`` (a property
    test holds the two equal), without making the pending snapshot in between. The clients
    start flows with it; an observer still hears of both transitions."""
    sent, state_token, binding = _new_flow(event, config, now, REDIRECTED)
    return _sent(config, state_token, binding, sent)


def _callback(flow: Flow, event: CallbackReceived, config: ClientConfig, now: float) -> Step:
    # The driver claimed this flow by the callback's state (hash_state), in the one store
    # operation that matched its binding too: the state is not hashed again here.
    callback = event.callback
    if callback.state is None:
        raise UsageError("A callback without a state claims no flow: it is unsolicited.")
    return _accept_callback(flow, callback, config)


def _accept_callback(flow: Flow, callback: Callback, config: ClientConfig) -> Step:
    """The checks shared by solicited and unsolicited callbacks, then the exchange."""
    if callback.error is not None:
        return _end(flow, DENIED, AuthorizationDenied(callback.error, callback.error_description))
    code = callback.code
    if code is None:  # parse_callback never makes one; a hand-built Callback might
        raise UsageError("A Callback needs a code or an error.")
    if callback.client_id is not None and callback.client_id != config.client_id:
        return _end(
            flow,
            FAILED,
            ClientIdMismatch(
                f"Miro sent the browser back for client {callback.client_id}, but this app is "
                f"client {config.client_id}: check MIRO_CLIENT_ID and the redirect URI."
            ),
        )
    if (
        config.team_policy is TeamPolicy.REQUIRE_REQUESTED
        and flow.requested_team_id is not None
        and callback.team_id is not None
        and callback.team_id != flow.requested_team_id
    ):
        return _end(
            flow,
            FAILED,
            TeamMismatch(
                f"The app was installed into team {callback.team_id}, not the requested team "
                f"{flow.requested_team_id}, and this app only accepts the requested team."
            ),
        )
    request = token_request(config, code, code_verifier=flow.code_verifier)
    received = Flow(
        state=CODE_RECEIVED,
        state_hash=flow.state_hash,
        binding_hash=flow.binding_hash,
        created_at=flow.created_at,
        deadline=flow.deadline,
        return_path=flow.return_path,
        requested_team_id=flow.requested_team_id,
        team_id=callback.team_id,
    )
    return Step(flow=received, effects=(SendTokenRequest(request=request),))


def _unsolicited(
    flow: None, event: UnsolicitedCallbackReceived, config: ClientConfig, now: float
) -> Step:
    callback = event.callback
    if callback.state is not None:
        raise UsageError("A callback with a state is not unsolicited; claim its flow instead.")
    anchor = Flow(
        state=PENDING,
        # No state was sent; the code (single use at Miro) names this one-off flow.
        state_hash=hash_state(config.client_id, callback.code or callback.error or ""),
        binding_hash=None,
        created_at=now,
        deadline=now + CODE_LIFETIME,
    )
    if callback.error is None and config.unsolicited_policy is UnsolicitedPolicy.REJECT:
        return _end(anchor, FAILED, UnsolicitedCallback())
    return _accept_callback(anchor, callback, config)


def _token_response(
    flow: Flow, event: TokenResponseReceived, config: ClientConfig, now: float
) -> Step:
    try:
        tokens = parse_token_response(event.response, now=now, client_id=config.client_id)
    except TokenEndpointError as error:
        return _end(flow, FAILED, error)
    # The token response's team is the truth: the callback's team_id is the browser's word.
    wrong = None
    if flow.team_id is not None and tokens.team_id != flow.team_id:
        wrong = f"Miro's callback named team {flow.team_id}, but the tokens are for team "
    elif (
        config.team_policy is TeamPolicy.REQUIRE_REQUESTED
        and flow.requested_team_id is not None
        and tokens.team_id != flow.requested_team_id
    ):
        wrong = f"The app only accepts team {flow.requested_team_id}, but the tokens are for team "
    if wrong is not None:
        ended = _end(flow, FAILED, TeamMismatch(f"{wrong}{tokens.team_id}; they were revoked."))
        revoke = RevokeTokens(request=revoke_request(config, tokens.access_token))
        return Step(flow=ended.flow, effects=(revoke,), reply=ended.reply)
    consumed = _moved(flow, CONSUMED)
    # 303: the browser GETs the app's page, with a clean URL (no code, no state).
    reply = Answer(
        status=303,
        location=flow.return_path or config.success_path,
        tokens=tokens,
        flow=consumed,
    )
    return Step(flow=consumed, effects=(StoreTokens(tokens=tokens),), reply=reply)


def _transport_failed(flow: Flow, event: TransportFailed, config: ClientConfig, now: float) -> Step:
    return _end(flow, FAILED, event.error)


def _clock(flow: Flow, event: ClockAdvanced, config: ClientConfig, now: float) -> Step:
    late = overdue(flow, now)
    if late is None:
        return Step(flow=flow)
    return _end(flow, EXPIRED, FlowExpired(late))


def _absorb(flow: Flow, event: Any, config: ClientConfig, now: float) -> Step:
    return Step(flow=flow)


# --- the table --------------------------------------------------------------------------------

_INPUT_TYPES: tuple[type[Any], ...] = (
    FlowStarted,
    UserRedirected,
    CallbackReceived,
    UnsolicitedCallbackReceived,
    TokenResponseReceived,
    TransportFailed,
    ClockAdvanced,
)

TABLE: Mapping[tuple[FlowState | None, type[Any]], Rule] = {
    (None, FlowStarted): Rule(
        targets=(PENDING,),
        effects=(),
        replies=(),
        why=(
            "A new flow, in memory: the state, the binding (a well-formed one the browser "
            "presented is kept) and the PKCE verifier are cut from the entropy input; the "
            "deadline is now + flow_lifetime. Nothing is saved until the link is handed out."
        ),
        handler=_start,
    ),
    (None, UnsolicitedCallbackReceived): Rule(
        targets=(CODE_RECEIVED, DENIED, FAILED),
        effects=(SendTokenRequest,),
        replies=(ERROR,),
        why=(
            "A callback with no state (an install started on Miro's side). Rejected unless the "
            "unsolicited policy accepts it; an error callback is a denial."
        ),
        handler=_unsolicited,
    ),
    (PENDING, UserRedirected): Rule(
        targets=(REDIRECTED,),
        effects=(SaveFlow,),
        replies=(REDIRECT,),
        why=(
            "The browser is sent to Miro's authorization link: the flow is saved under its "
            "state hash (never the raw state) first, then the browser gets the binding cookie "
            "(HttpOnly, SameSite=Lax) and a 302 to Miro."
        ),
        handler=_redirect,
    ),
    (REDIRECTED, CallbackReceived): Rule(
        targets=(CODE_RECEIVED, DENIED, FAILED),
        effects=(SendTokenRequest,),
        replies=(ERROR,),
        why=(
            "The callback's claim won this live flow (right state, right browser). An error "
            "callback is a denial (RFC 6749 §4.1.2.1); a foreign client_id or (by policy) team "
            "fails; otherwise the code is exchanged at once, within its 10-minute life."
        ),
        handler=_callback,
    ),
    (REDIRECTED, ClockAdvanced): Rule(
        targets=(REDIRECTED, EXPIRED),
        effects=(),
        replies=(ERROR,),
        why=(
            "Before the deadline nothing happens (a countdown's tick); at or after it the "
            "flow expires, and a waiting browser hears how long ago. The record stays until "
            "its retention ends, so later callbacks hear it too."
        ),
        handler=_clock,
    ),
    (CODE_RECEIVED, TokenResponseReceived): Rule(
        targets=(CONSUMED, FAILED),
        effects=(StoreTokens, RevokeTokens),
        replies=(REDIRECT, ERROR),
        why=(
            "Valid tokens are stored and the browser goes back to the app (303, clean URL); a "
            "rejection (Miro's or RFC 6749 §5.2 shape) or a malformed answer fails the flow. "
            "Tokens for a team other than the callback named (or, by policy, than requested) "
            "fail it too, and are revoked: the token response's team is the truth."
        ),
        handler=_token_response,
    ),
    (CODE_RECEIVED, TransportFailed): Rule(
        targets=(FAILED,),
        effects=(),
        replies=(ERROR,),
        why=(
            "The token request did not complete. It is never retried: Miro may have redeemed "
            "the single-use code, and a second try would revoke what it issued."
        ),
        handler=_transport_failed,
    ),
    **{
        (terminal, input_type): Rule(
            targets=(terminal,),
            effects=(),
            replies=(),
            why="Terminal states absorb every input: no effect, no reply.",
            handler=_absorb,
        )
        for terminal in (CONSUMED, EXPIRED, DENIED, FAILED)
        for input_type in _INPUT_TYPES
    },
}


def step(flow: Flow | None, event: Input, *, config: ClientConfig, now: float) -> Step:
    """Apply ``event`` to ``flow`` at time ``now``; ``flow`` is None before ``FlowStarted``
    (or for an unsolicited callback). Raises ``InvalidTransition`` for a pair not in the
    table, leaving everything unchanged."""
    rule = TABLE.get((None if flow is None else flow.state, type(event)))
    if rule is None:
        where = "before any flow exists" if flow is None else f"in state {flow.state.value}"
        raise InvalidTransition(f"Can't handle {type(event).__name__} {where}.")
    return rule.handler(flow, event, config, now)
