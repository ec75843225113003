"""The procedures both clients run, written once.

Each procedure is a generator: it yields an operation for a port (the claim, or one of the
machine's effects), receives the port's answer, and returns the ``Answer`` for the browser. A
port's failure is thrown back into the generator as a ``MiroflowError``. ``Client`` runs them
with blocking ports, ``AsyncClient`` with awaitable ones; neither holds any protocol logic,
and neither does this module: the machine and ``claim_outcome`` decide everything.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import attrs

from ._answer import Answer
from ._callback import parse_callback, parse_login
from ._claim import ClaimOutcome, claim_error, claim_outcome, presented_binding
from ._config import ClientConfig
from ._errors import (
    CallbackError,
    InvalidTransition,
    MalformedLogin,
    StoreError,
    TransportError,
    UnknownState,
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
from ._lifecycle_events import TokenState
from ._machine import ENTROPY_BYTES, error_answer, start_redirected, step
from ._model import Flow, FlowState, hash_state, is_issued_token
from ._ports import Clock, Entropy
from ._wire import revoke_request

__all__ = [
    "ClaimFlow",
    "Driver",
    "Observer",
    "Operation",
    "Procedure",
    "Settings",
    "Transition",
]


@attrs.frozen(kw_only=True)
class ClaimFlow:
    """Operation: the flow store's compare-and-set claim."""

    state_hash: bytes
    binding_hash: bytes | None


Operation = ClaimFlow | SaveFlow | SendTokenRequest | StoreTokens | RevokeTokens
Procedure = Generator[Operation, Any, Answer]


@attrs.frozen(kw_only=True)
class Transition:
    """One step the machine took, as reported to an observer (for logs, traces, the demo).
    It names states, inputs and effects only: no secret."""

    now: float
    before: FlowState | TokenState | None
    input: str
    after: FlowState | TokenState
    effects: tuple[str, ...]
    #: The status of the step's reply, if it gave one.
    reply: int | None = None
    #: Which machine stepped: ``"flow"`` (a sign-in) or ``"tokens"`` (the token lifecycle).
    machine: str = "flow"

    @classmethod
    def of(
        cls,
        now: float,
        before: FlowState | TokenState | None,
        event: object,
        after: FlowState | TokenState,
        effects: tuple[object, ...],
        reply: int | None = None,
        machine: str = "flow",
    ) -> Transition:
        """The transition a machine's step made, named: its input's and effects' class names."""
        return cls(
            now=now,
            before=before,
            input=type(event).__name__,
            after=after,
            effects=tuple(type(effect).__name__ for effect in effects),
            reply=reply,
            machine=machine,
        )


Observer = Callable[[Transition], None]

_USER_REDIRECTED = UserRedirected()
_CLOCK_ADVANCED = ClockAdvanced()


def _tell(
    observe: Observer, now: float, before: FlowState | None, event: Input, result: Step
) -> None:
    """Report one step of the flow machine to ``observe``."""
    reply = None if result.reply is None else result.reply.status
    observe(Transition.of(now, before, event, result.flow.state, result.effects, reply))


def _answered(answer: Answer) -> Procedure:
    """A procedure with nothing for the ports to do: it answers at once."""
    yield from ()  # a generator, so the clients run it like any other procedure
    return answer


class Settings:
    """What every procedure runs with: the app's configuration, the clock, the entropy source
    and the observer of transitions (shared by the flow's and the tokens' drivers)."""

    def __init__(
        self, config: ClientConfig, *, clock: Clock, entropy: Entropy, observe: Observer | None
    ) -> None:
        self.config = config
        self._clock = clock
        self._entropy = entropy
        self._observe = observe


class Driver(Settings):
    """The procedures; a client subclasses it and runs them against its ports."""

    def _advance(self, flow: Flow | None, event: Input, now: float) -> Step:
        result = step(flow, event, config=self.config, now=now)
        observe = self._observe
        if observe is not None:
            _tell(observe, now, None if flow is None else flow.state, event, result)
        return result

    def _start(
        self, binding_cookie: str | None, team_id: str | None, return_path: str | None
    ) -> Procedure:
        """Make a flow, then send the browser to Miro (which saves it). Not a generator
        itself: it makes the flow at once and hands back the procedure that sends it."""
        now = self._clock()
        entropy = self._entropy(ENTROPY_BYTES)
        if len(entropy) != ENTROPY_BYTES:
            raise UsageError(
                f"The entropy source returned {len(entropy)} bytes; {ENTROPY_BYTES} were asked."
            )
        started = FlowStarted(
            entropy=entropy, binding_cookie=binding_cookie, team_id=team_id, return_path=return_path
        )
        # Both steps of a start in one call (the pending snapshot between them is never made);
        # an observer hears of both.
        result = start_redirected(started, config=self.config, now=now)
        observe = self._observe
        if observe is not None:
            observe(Transition.of(now, None, started, FlowState.PENDING, ()))
            _tell(observe, now, FlowState.PENDING, _USER_REDIRECTED, result)
        return self._carry_out(result, _USER_REDIRECTED, now)

    def _login(self, query: str | bytes, binding_cookie: str | None) -> Procedure:
        """An app's login route: read what it was asked (strictly), then start a flow."""
        try:
            login = parse_login(query)
        except MalformedLogin as error:
            return _answered(error_answer(error))
        return self._start(binding_cookie, login.team_id, login.return_path)

    def _callback(self, query: str | bytes, binding_cookie: str | None) -> Procedure:
        """Parse Miro's redirect back, claim its flow, and let the machine take it from there."""
        now = self._clock()
        try:
            callback = parse_callback(query)
        except CallbackError as error:
            return error_answer(error)
        if callback.state is None:
            unsolicited = UnsolicitedCallbackReceived(callback=callback)
            first = self._advance(None, unsolicited, now)
            return (yield from self._carry_out(first, unsolicited, now))
        if not is_issued_token(callback.state):
            # Not a state this app could have issued (too long, another alphabet): no flow
            # can match, so no store is asked.
            return error_answer(UnknownState())
        presented = presented_binding(binding_cookie)
        claim = ClaimFlow(
            state_hash=hash_state(self.config.client_id, callback.state), binding_hash=presented
        )
        try:
            flow, won = yield claim
        except StoreError as error:
            return error_answer(error)
        outcome = claim_outcome(flow, won, presented, now)
        event: Input
        if outcome is ClaimOutcome.CLAIMED:
            event = CallbackReceived(callback=callback)
        elif outcome is ClaimOutcome.EXPIRED and won:
            event = _CLOCK_ADVANCED  # ours, but past its deadline: the machine expires it
        elif outcome is ClaimOutcome.ALREADY_USED and flow is not None:
            # The browser that started this flow, again: a signed-in user may go on.
            onward = flow.return_path or self.config.success_path
            return error_answer(claim_error(outcome, flow, now), continue_to=onward)
        else:
            # Nothing was claimed, so no flow moved: the answer names none.
            return error_answer(claim_error(outcome, flow, now))
        return (yield from self._carry_out(self._advance(flow, event, now), event, now))

    def _carry_out(self, result: Step, event: Input, now: float) -> Procedure:
        """Carry out a step's effects in order and answer with its reply; a step without one
        awaits its token request, whose answer is the next input (``event``: what led to
        ``result``)."""
        while True:
            flow = result.flow
            awaited: Input | None = None
            for effect in result.effects:
                try:
                    answered = yield effect
                except TransportError as error:
                    if type(effect) is RevokeTokens:
                        continue  # best effort: the reply already says what happened
                    awaited = TransportFailed(error=error)
                except StoreError as error:
                    if type(effect) is StoreTokens:
                        # Tokens Miro issued are never left live and unowned.
                        error = yield from self._revoke(effect, error)
                    return error_answer(error, flow)
                else:
                    if type(effect) is SendTokenRequest:
                        awaited = TokenResponseReceived(response=answered)
            if result.reply is not None:
                return result.reply
            if awaited is None:
                # A flow in a state no callback reaches (a store that returned a record it
                # never saved, say): the machine absorbed the input; nothing more can happen.
                raise InvalidTransition(
                    f"{type(event).__name__} left the flow {flow.state.value} with no reply."
                )
            event, now = awaited, self._clock()
            result = self._advance(flow, event, now)

    def _revoke(
        self, effect: StoreTokens, error: StoreError
    ) -> Generator[Operation, Any, StoreError]:
        """Revoke tokens that could not be stored; the operator's detail says how it went."""
        request = revoke_request(self.config, effect.tokens.access_token)
        try:
            yield RevokeTokens(request=request)
        except TransportError as failure:
            outcome = f"Revoking them failed too ({failure.detail}): they stay live at Miro."
        else:
            outcome = "The tokens Miro issued were revoked."
        return type(error)(f"{error.detail} {outcome}")
