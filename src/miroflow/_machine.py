"""The client flow machine.

Theory of operation
-------------------
A flow spans two HTTP requests, often on two processes, so the machine is not a long-lived
object: ``step(flow, input, config=..., now=...)`` takes a frozen snapshot and a fact, and
returns the next snapshot plus the effects (orders) a driver must carry out, in order.

Every transition lives in ``TABLE``: a map from (state, input type) to a ``Rule`` naming the
states it may lead to, the effects it may emit, why it exists, and the handler that picks
among those targets by checking guards (deadlines, the browser binding, Miro's answer). A pair
missing from the table raises ``InvalidTransition`` and changes nothing. ``specs/flow.json``
holds the same table; a test keeps them equal in both directions, and the diagram in
``specs/flow.md`` is drawn from it.

Two kinds of failure: the caller misusing the API raises a ``UsageError``; the browser, Miro
or the network misbehaving is a legal transition to a terminal state with a
``RespondWithError`` effect. Terminal states absorb every input and emit nothing.

The machine never reads the clock or a random source: ``now`` and the random values (inside
``FlowStarted``) are inputs, so every run can be replayed.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ._callback import Callback
from ._config import ClientConfig, TeamPolicy, UnsolicitedPolicy, check_return_path
from ._errors import (
    AuthorizationDenied,
    BindingMismatch,
    ClientIdMismatch,
    CodeExpired,
    FlowExpired,
    InvalidTransition,
    MiroflowError,
    MissingBindingCookie,
    TeamMismatch,
    TokenEndpointError,
    UnsolicitedCallback,
    UsageError,
)
from ._events import (
    CallbackReceived,
    ClockAdvanced,
    DeleteFlow,
    Effect,
    FlowStarted,
    Input,
    RedirectBrowser,
    RespondWithError,
    SaveFlow,
    SendTokenRequest,
    SetCookie,
    Step,
    StoreTokens,
    TokenResponseReceived,
    TransportFailed,
    UnsolicitedCallbackReceived,
    UserRedirected,
)
from ._model import CODE_LIFETIME, Flow, FlowState, hash_secret
from ._token_response import parse_token_response
from ._wire import authorize_url, token_request

__all__ = ["TABLE", "Rule", "next_deadline", "step"]

#: 256 bits in unpadded base64url.
MIN_TOKEN_LENGTH = 43

Handler = Callable[[Any, Any, ClientConfig, float], Step]

PENDING = FlowState.PENDING
REDIRECTED = FlowState.REDIRECTED
CODE_RECEIVED = FlowState.CODE_RECEIVED
CONSUMED = FlowState.CONSUMED
EXPIRED = FlowState.EXPIRED
DENIED = FlowState.DENIED
FAILED = FlowState.FAILED


@attrs.frozen(kw_only=True)
class Rule:
    """One row of the table."""

    targets: tuple[FlowState, ...]
    effects: tuple[type[Effect], ...]
    why: str
    handler: Handler = attrs.field(repr=False, eq=False)


def _end(flow: Flow, state: FlowState, error: MiroflowError, *extra: Effect) -> Step:
    """A terminal transition caused by the outside world: answer with the error."""
    ended = attrs.evolve(flow, state=state, failure=error.code, code=None, code_verifier=None)
    return Step(flow=ended, effects=(*extra, RespondWithError(error=error)))


# --- handlers: each picks one of its row's targets ------------------------------------------


def _start(flow: None, event: FlowStarted, config: ClientConfig, now: float) -> Step:
    if len(event.state_token) < MIN_TOKEN_LENGTH or len(event.binding) < MIN_TOKEN_LENGTH:
        raise UsageError(
            "FlowStarted's state_token and binding must carry at least 256 bits "
            "(43 base64url characters)."
        )
    if event.team_id is not None and not (event.team_id.isascii() and event.team_id.isdigit()):
        raise UsageError("FlowStarted.team_id must be a decimal Miro team ID.")
    if event.return_path is not None:
        check_return_path(event.return_path)
    if config.pkce and event.code_verifier is None:
        raise UsageError("PKCE is on, so FlowStarted needs a code_verifier.")
    verifier = event.code_verifier if config.pkce else None
    started = Flow(
        state=PENDING,
        state_hash=hash_secret(event.state_token),
        binding_hash=hash_secret(event.binding),
        created_at=now,
        deadline=now + config.flow_lifetime,
        requested_team_id=event.team_id,
        return_path=event.return_path,
        code_verifier=verifier,
    )
    cookie = SetCookie(
        name=config.binding_cookie_name,
        value=event.binding,
        max_age=int(config.flow_lifetime),
        secure=config.secure_cookies,
    )
    location = authorize_url(
        config, event.state_token, team_id=event.team_id, code_verifier=verifier
    )
    return Step(
        flow=started,
        effects=(SaveFlow(flow=started), RedirectBrowser(location=location, cookie=cookie)),
    )


def _redirected(flow: Flow, event: UserRedirected, config: ClientConfig, now: float) -> Step:
    moved = attrs.evolve(flow, state=REDIRECTED)
    return Step(flow=moved, effects=(SaveFlow(flow=moved),))


def _callback(flow: Flow, event: CallbackReceived, config: ClientConfig, now: float) -> Step:
    callback = event.callback
    if callback.state is None or not hmac.compare_digest(
        hash_secret(callback.state), flow.state_hash
    ):
        raise UsageError("The callback's state does not belong to this flow.")
    if now >= flow.deadline:
        return _end(
            flow, EXPIRED, FlowExpired(now - flow.deadline), DeleteFlow(state_hash=flow.state_hash)
        )
    if event.binding is None:
        return _end(flow, FAILED, MissingBindingCookie())
    if flow.binding_hash is None or not hmac.compare_digest(
        hash_secret(event.binding), flow.binding_hash
    ):
        return _end(flow, FAILED, BindingMismatch())
    return _accept_callback(flow, callback, config, now)


def _accept_callback(flow: Flow, callback: Callback, config: ClientConfig, now: float) -> Step:
    """The checks shared by solicited and unsolicited callbacks, then the exchange."""
    if callback.error is not None:
        return _end(flow, DENIED, AuthorizationDenied(callback.error, callback.error_description))
    if callback.code is None:  # parse_callback never makes one; a hand-built Callback might
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
    received = attrs.evolve(
        flow,
        state=CODE_RECEIVED,
        code=callback.code,
        code_received_at=now,
        team_id=callback.team_id,
    )
    request = token_request(config, callback.code, code_verifier=flow.code_verifier)
    return Step(flow=received, effects=(SendTokenRequest(request=request),))


def _unsolicited(
    flow: None, event: UnsolicitedCallbackReceived, config: ClientConfig, now: float
) -> Step:
    callback = event.callback
    if callback.state is not None:
        raise UsageError("A callback with a state is not unsolicited; claim its flow instead.")
    anchor = Flow(
        state=PENDING,
        # No state was sent; the code (single use at Miro) identifies this one-off flow.
        state_hash=hash_secret(callback.code or callback.error or ""),
        binding_hash=None,
        created_at=now,
        deadline=now + CODE_LIFETIME,
    )
    if callback.error is None and config.unsolicited_policy is UnsolicitedPolicy.REJECT:
        return _end(anchor, FAILED, UnsolicitedCallback())
    return _accept_callback(anchor, callback, config, now)


def _token_response(
    flow: Flow, event: TokenResponseReceived, config: ClientConfig, now: float
) -> Step:
    try:
        tokens = parse_token_response(event.response, now=now)
    except TokenEndpointError as error:
        return _end(flow, FAILED, error)
    consumed = attrs.evolve(flow, state=CONSUMED, code=None, code_verifier=None)
    location = flow.return_path or config.success_path
    return Step(
        flow=consumed,
        effects=(StoreTokens(tokens=tokens), RedirectBrowser(location=location)),
    )


def _transport_failed(flow: Flow, event: TransportFailed, config: ClientConfig, now: float) -> Step:
    return _end(flow, FAILED, event.error)


def _clock_waiting(flow: Flow, event: ClockAdvanced, config: ClientConfig, now: float) -> Step:
    if now < flow.deadline:
        return Step(flow=flow)
    expired = attrs.evolve(
        flow, state=EXPIRED, failure=FlowExpired.code, code=None, code_verifier=None
    )
    return Step(flow=expired, effects=(DeleteFlow(state_hash=flow.state_hash),))


def _clock_code(flow: Flow, event: ClockAdvanced, config: ClientConfig, now: float) -> Step:
    deadline = flow.code_deadline
    if deadline is None or now < deadline:
        return Step(flow=flow)
    expired = attrs.evolve(
        flow, state=EXPIRED, failure=CodeExpired.code, code=None, code_verifier=None
    )
    return Step(flow=expired)


def _absorb(flow: Flow, event: Any, config: ClientConfig, now: float) -> Step:
    return Step(flow=flow)


# --- the table ------------------------------------------------------------------------------

_INPUT_TYPES: tuple[type[Any], ...] = (
    FlowStarted,
    UserRedirected,
    CallbackReceived,
    UnsolicitedCallbackReceived,
    TokenResponseReceived,
    TransportFailed,
    ClockAdvanced,
)

_CALLBACK_RULE = Rule(
    targets=(CODE_RECEIVED, DENIED, EXPIRED, FAILED),
    effects=(SendTokenRequest, DeleteFlow, RespondWithError),
    why=(
        "The flow was claimed by the callback's state. Past its deadline it expires; without "
        "the binding cookie, or with another browser's, it fails (RFC 9700 §4.7); an error "
        "callback is a denial (RFC 6749 §4.1.2.1); a foreign client_id or (by policy) team "
        "fails; otherwise the code is exchanged at once, within its 10-minute life."
    ),
    handler=_callback,
)

_WAITING_CLOCK_WHY = (
    "Before the flow's deadline nothing happens; at or after it the flow expires and is "
    "deleted, so it can never be claimed."
)

TABLE: Mapping[tuple[FlowState | None, type[Any]], Rule] = {
    (None, FlowStarted): Rule(
        targets=(PENDING,),
        effects=(SaveFlow, RedirectBrowser),
        why=(
            "A new flow: its state hash is saved with a deadline, the browser gets the binding "
            "cookie and is sent to Miro's authorization link."
        ),
        handler=_start,
    ),
    (None, UnsolicitedCallbackReceived): Rule(
        targets=(CODE_RECEIVED, DENIED, FAILED),
        effects=(SendTokenRequest, RespondWithError),
        why=(
            "A callback with no state (an install started on Miro's side). Rejected unless the "
            "unsolicited policy accepts it; an error callback is a denial."
        ),
        handler=_unsolicited,
    ),
    (PENDING, UserRedirected): Rule(
        targets=(REDIRECTED,),
        effects=(SaveFlow,),
        why="For adapters that show the link before sending the browser: record that it left.",
        handler=_redirected,
    ),
    (PENDING, CallbackReceived): _CALLBACK_RULE,
    (REDIRECTED, CallbackReceived): _CALLBACK_RULE,
    (PENDING, ClockAdvanced): Rule(
        targets=(PENDING, EXPIRED),
        effects=(DeleteFlow,),
        why=_WAITING_CLOCK_WHY,
        handler=_clock_waiting,
    ),
    (REDIRECTED, ClockAdvanced): Rule(
        targets=(REDIRECTED, EXPIRED),
        effects=(DeleteFlow,),
        why=_WAITING_CLOCK_WHY,
        handler=_clock_waiting,
    ),
    (CODE_RECEIVED, TokenResponseReceived): Rule(
        targets=(CONSUMED, FAILED),
        effects=(StoreTokens, RedirectBrowser, RespondWithError),
        why=(
            "Valid tokens are stored and the browser goes back to the app; a rejection "
            "(Miro's or RFC 6749 §5.2 shape) or a malformed answer fails the flow."
        ),
        handler=_token_response,
    ),
    (CODE_RECEIVED, TransportFailed): Rule(
        targets=(FAILED,),
        effects=(RespondWithError,),
        why=(
            "The token request did not complete. It is never retried: Miro may have redeemed "
            "the single-use code, and a second try would revoke what it issued."
        ),
        handler=_transport_failed,
    ),
    (CODE_RECEIVED, ClockAdvanced): Rule(
        targets=(CODE_RECEIVED, EXPIRED),
        effects=(),
        why=(
            "A code not exchanged within 10 minutes of its receipt is dead at Miro: the flow "
            "expires and the code is never sent."
        ),
        handler=_clock_code,
    ),
    **{
        (terminal, input_type): Rule(
            targets=(terminal,),
            effects=(),
            why="Terminal states absorb every input and emit nothing.",
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
    state = None if flow is None else flow.state
    rule = TABLE.get((state, type(event)))
    if rule is None:
        where = "before any flow exists" if state is None else f"in state {state.value}"
        raise InvalidTransition(f"Can't handle {type(event).__name__} {where}.")
    return rule.handler(flow, event, config, now)


def next_deadline(flow: Flow) -> float | None:
    """When the driver should feed ``ClockAdvanced`` next, or None for a terminal flow."""
    if flow.state in (PENDING, REDIRECTED):
        return flow.deadline
    if flow.state is CODE_RECEIVED:
        return flow.code_deadline
    return None
