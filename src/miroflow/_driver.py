"""The effect-driving loop, written once.

Each procedure is a generator: it yields an *operation* (claim a flow, or one of the
machine's effects that touch a store or the transport), receives its result, and
finally returns an ``Answer`` for the browser. A failed port operation is thrown back into the
generator as a ``MiroflowError``. ``Client`` runs these generators with blocking ports and
``AsyncClient`` with awaitable ones; neither holds any protocol logic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from typing import Any

import attrs

from ._callback import Callback, parse_callback
from ._config import ClientConfig
from ._errors import (
    CallbackError,
    MiroflowError,
    StateAlreadyUsed,
    StoreError,
    TransportError,
    UnknownState,
    UsageError,
)
from ._events import (
    CallbackReceived,
    DeleteFlow,
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
)
from ._http import HttpResponse
from ._machine import step
from ._model import Claim, ClaimOutcome, Flow, FlowState, TokenSet, hash_secret
from ._ports import Clock, Entropy
from ._wire import b64url

__all__ = ["Answer", "ClaimFlow", "Observer", "Operation", "Transition"]

_TOKEN_BYTES = 32


@attrs.frozen
class ClaimFlow:
    """Operation: atomically claim the flow with this state hash."""

    state_hash: str
    now: float


_BINDING = re.compile(r"[A-Za-z0-9_-]{43}")


@attrs.frozen(kw_only=True)
class Transition:
    """One step the machine took, as reported to an observer (for logs, traces, the demo).
    It names states, inputs and effects only: no secret."""

    now: float
    before: FlowState | None
    input: str
    after: FlowState
    effects: tuple[str, ...]


Observer = Callable[[Transition], None]


def _advance(
    config: ClientConfig, flow: Flow | None, event: Input, now: float, observe: Observer | None
) -> Step:
    result = step(flow, event, config=config, now=now)
    if observe is not None:
        observe(
            Transition(
                now=now,
                before=None if flow is None else flow.state,
                input=type(event).__name__,
                after=result.flow.state,
                effects=tuple(type(effect).__name__ for effect in result.effects),
            )
        )
    return result


Operation = ClaimFlow | SaveFlow | DeleteFlow | SendTokenRequest | StoreTokens
Procedure = Generator[Operation, Any, "Answer"]


@attrs.frozen(kw_only=True)
class Answer:
    """What the adapter answers the browser: a redirect or an error page.

    ``tokens`` is set when a flow was consumed; ``error`` when it ended otherwise. ``flow`` is
    the final snapshot, for logging (it holds no secret in its repr).
    """

    status: int
    #: Kept out of ``repr``: a redirect to Miro carries the flow's state.
    location: str | None = attrs.field(default=None, repr=False)
    cookies: tuple[SetCookie, ...] = ()
    error: MiroflowError | None = None
    tokens: TokenSet | None = None
    flow: Flow | None = None

    @property
    def body(self) -> str:
        """Plain text for an error page (empty for a redirect)."""
        return self.error.message if self.error is not None else ""

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Headers for the answer; tokens, codes and flows are never cached."""
        headers: list[tuple[str, str]] = [("Cache-Control", "no-store")]
        if self.location is not None:
            headers.append(("Location", self.location))
        else:
            headers.append(("Content-Type", "text/plain; charset=utf-8"))
        headers.extend(("Set-Cookie", cookie.header_value()) for cookie in self.cookies)
        return tuple(headers)


def error_answer(error: MiroflowError, flow: Flow | None = None) -> Answer:
    return Answer(status=error.status_code, error=error, flow=flow)


def _valid_binding(value: str | None) -> bool:
    # A binding we issued is 43 base64url characters; anything else is replaced.
    return value is not None and _BINDING.fullmatch(value) is not None


def start(
    config: ClientConfig,
    clock: Clock,
    entropy: Entropy,
    *,
    binding_cookie: str | None,
    team_id: str | None,
    return_path: str | None,
    observe: Observer | None = None,
) -> Procedure:
    """Start a flow: draw the state (and binding, and verifier), save, redirect to Miro."""
    # The clock and the entropy source are plain callables in sync and async code alike, so
    # they are called here rather than sent to the runner as operations.
    now = clock()
    reuse = _valid_binding(binding_cookie)
    count = 1 + (not reuse) + config.pkce
    random = entropy(_TOKEN_BYTES * count)
    if len(random) != _TOKEN_BYTES * count:
        raise UsageError(
            f"The entropy source returned {len(random)} bytes; {_TOKEN_BYTES * count} were asked."
        )
    parts = [b64url(random[i : i + _TOKEN_BYTES]) for i in range(0, len(random), _TOKEN_BYTES)]
    started = FlowStarted(
        state_token=parts[0],
        binding=binding_cookie if reuse and binding_cookie else parts[1],
        code_verifier=parts[-1] if config.pkce else None,
        team_id=team_id,
        return_path=return_path,
    )
    first = _advance(config, None, started, now, observe)
    return (yield from _carry_out(config, clock, first, observe))


def handle_callback(
    config: ClientConfig,
    clock: Clock,
    query: str | bytes,
    *,
    binding_cookie: str | None,
    observe: Observer | None = None,
) -> Procedure:
    """Handle Miro's redirect back: parse, claim the flow, verify, exchange, store."""
    now = clock()
    try:
        callback = parse_callback(query)
    except CallbackError as error:
        return error_answer(error)
    if callback.state is None:
        event: Input = UnsolicitedCallbackReceived(callback=callback)
        first = _advance(config, None, event, now, observe)
        return (yield from _carry_out(config, clock, first, observe))
    claim = yield from _claim(callback, now)
    if isinstance(claim, Answer):
        return claim
    event = CallbackReceived(callback=callback, binding=binding_cookie)
    first = _advance(config, claim, event, now, observe)
    return (yield from _carry_out(config, clock, first, observe))


def _claim(callback: Callback, now: float) -> Generator[Operation, Any, Flow | Answer]:
    assert callback.state is not None
    try:
        claim: Claim = yield ClaimFlow(hash_secret(callback.state), now)
    except StoreError as error:
        return error_answer(error)
    if claim.outcome is ClaimOutcome.UNKNOWN:
        return error_answer(UnknownState())
    if claim.outcome is ClaimOutcome.ALREADY_CLAIMED:
        return error_answer(StateAlreadyUsed())
    assert claim.flow is not None  # CLAIMED and EXPIRED carry the flow
    return claim.flow


def _carry_out(
    config: ClientConfig, clock: Clock, current: Step, observe: Observer | None
) -> Procedure:
    """Execute a step's effects in order; a token answer becomes the next input."""
    cookies: tuple[SetCookie, ...] = ()
    tokens: TokenSet | None = None
    while True:
        next_input: Input | None = None
        for effect in current.effects:
            if isinstance(effect, RedirectBrowser):
                if effect.cookie is not None:
                    cookies = (effect.cookie,)
                return Answer(
                    status=302,
                    location=effect.location,
                    cookies=cookies,
                    tokens=tokens,
                    flow=current.flow,
                )
            if isinstance(effect, RespondWithError):
                return error_answer(effect.error, current.flow)
            if isinstance(effect, SendTokenRequest):
                next_input = yield from _send(effect)
                break
            try:
                yield effect
            except StoreError as error:
                return error_answer(error, current.flow)
            if isinstance(effect, StoreTokens):
                tokens = effect.tokens
        if next_input is None:
            return _silent(current)
        current = _advance(config, current.flow, next_input, clock(), observe)


def _send(effect: SendTokenRequest) -> Generator[Operation, Any, Input]:
    try:
        response: HttpResponse = yield effect
    except TransportError as error:
        return TransportFailed(error=error)
    return TokenResponseReceived(response=response)


def _silent(current: Step) -> Answer:
    # Every path through a request ends in a redirect or an error; reaching here means a
    # table row emitted neither, which the table's own tests forbid.
    raise MiroflowError(f"The flow stopped in {current.flow.state.value} without an answer.")
