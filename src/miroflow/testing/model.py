"""The flow machine's reference model: what a correct miroflow-based app answers.

It is written independently of the machine (plain mutable Python, no table) from
``specs/flow.md``, so that running it side by side with the real thing checks both. Use it to
check your own app or adapter: drive the app through HTTP, drive the model with the same facts,
and compare each ``Prediction`` with what the app answered (status, and the error code your
app exposes, e.g. in a header or the body).

    model = FlowModel(client_id="3074457363680401096", flow_lifetime=900)
    model.started(state="<state from the 302>", binding="<cookie>", now=t0)
    expected = model.callback(state=..., binding=..., now=t1, token_outcome=TokenOutcome.OK)
    assert (answer.status, answer.error_code) == (expected.status, expected.error)
"""

from __future__ import annotations

import enum

import attrs

from miroflow import FLOW_RETENTION, FlowState

__all__ = ["FlowModel", "ModelFlow", "Prediction", "TokenOutcome"]


class TokenOutcome(str, enum.Enum):
    """What the token endpoint (or the network) will do with the next exchange."""

    OK = "ok"
    REJECTED = "rejected"  # a Miro- or RFC-shaped error, or an HTTP error status
    CODE_REJECTED = "code_rejected"  # Miro refused the code: expired, or redeemed already
    MALFORMED = "malformed"  # a 200 that is not a usable token response, or a redirect
    TIMEOUT = "timeout"
    TRANSPORT_ERROR = "transport_error"


_TOKEN_ANSWERS = {
    TokenOutcome.OK: (303, None, FlowState.CONSUMED),
    TokenOutcome.REJECTED: (502, "token_request_rejected", FlowState.FAILED),
    TokenOutcome.CODE_REJECTED: (400, "code_rejected", FlowState.FAILED),
    TokenOutcome.MALFORMED: (502, "token_response_malformed", FlowState.FAILED),
    TokenOutcome.TIMEOUT: (504, "transport_timeout", FlowState.FAILED),
    TokenOutcome.TRANSPORT_ERROR: (502, "transport_error", FlowState.FAILED),
}


@attrs.frozen(kw_only=True)
class Prediction:
    """What the app must answer: the HTTP status, the error code (None on success), the
    flow's state afterwards (None when no flow was touched) and whether the code was sent to
    the token endpoint."""

    status: int
    error: str | None = None
    state: FlowState | None = None
    exchanged: bool = False


@attrs.define
class ModelFlow:
    binding: str
    deadline: float
    requested_team_id: str | None
    state: FlowState = FlowState.REDIRECTED
    claimed: bool = False


@attrs.define
class FlowModel:
    """Tracks flows by their raw state token and predicts every answer."""

    client_id: str
    flow_lifetime: float = 900.0
    require_requested_team: bool = False
    accept_unsolicited: bool = False
    flows: dict[str, ModelFlow] = attrs.field(factory=dict)

    def started(
        self, *, state: str, binding: str, now: float, team_id: str | None = None
    ) -> Prediction:
        self.flows[state] = ModelFlow(
            binding=binding, deadline=now + self.flow_lifetime, requested_team_id=team_id
        )
        return Prediction(status=302, state=FlowState.REDIRECTED)

    def callback(
        self,
        *,
        state: str | None,
        binding: str | None,
        now: float,
        error: str | None = None,
        client_id: str | None = None,
        team_id: str | None = None,
        token_outcome: TokenOutcome = TokenOutcome.OK,
        token_team_id: str | None = None,
    ) -> Prediction:
        """The answer to a well-formed callback (with ``code`` unless ``error`` is given).
        ``token_team_id`` is the team the token endpoint will name (None: the callback's)."""
        if state is None:
            return self._unsolicited(error, client_id, team_id, token_outcome, token_team_id)
        flow = self.flows.get(state)
        if flow is None or now >= flow.deadline + FLOW_RETENTION:
            return Prediction(status=400, error="unknown_state")
        # Only the browser that started the flow can claim it, and only once.
        wins = not flow.claimed and binding is not None and binding == flow.binding
        if wins:
            flow.claimed = True
        if now >= flow.deadline:
            # Kept until its retention ends: every late callback hears how long ago.
            if wins:
                return self._end(flow, 400, "flow_expired", FlowState.EXPIRED)
            return Prediction(status=400, error="flow_expired")
        if binding is None:
            return Prediction(status=400, error="missing_binding_cookie")
        if binding != flow.binding:
            return Prediction(status=400, error="binding_mismatch")
        if not wins:
            return Prediction(status=409, error="state_already_used")
        if error is not None:
            return self._denied(flow, error)
        if client_id is not None and client_id != self.client_id:
            return self._end(flow, 400, "client_id_mismatch", FlowState.FAILED)
        if (
            self.require_requested_team
            and flow.requested_team_id is not None
            and team_id is not None
            and team_id != flow.requested_team_id
        ):
            return self._end(flow, 400, "team_mismatch", FlowState.FAILED)
        status, code, final = _TOKEN_ANSWERS[token_outcome]
        if token_outcome is TokenOutcome.OK:
            # The token response's team is the truth: the callback's must agree, and so must
            # the requested one when the policy demands it.
            issued = team_id if token_team_id is None else token_team_id
            if (team_id is not None and issued != team_id) or (
                self.require_requested_team
                and flow.requested_team_id is not None
                and issued != flow.requested_team_id
            ):
                status, code, final = 400, "team_mismatch", FlowState.FAILED
        flow.state = final
        return Prediction(status=status, error=code, state=final, exchanged=True)

    def _unsolicited(
        self,
        error: str | None,
        client_id: str | None,
        team_id: str | None,
        token_outcome: TokenOutcome,
        token_team_id: str | None,
    ) -> Prediction:
        if error is not None:
            return Prediction(
                status=_denied_status(error), error="authorization_denied", state=FlowState.DENIED
            )
        if not self.accept_unsolicited:
            return Prediction(status=400, error="unsolicited_callback", state=FlowState.FAILED)
        if client_id is not None and client_id != self.client_id:
            return Prediction(status=400, error="client_id_mismatch", state=FlowState.FAILED)
        status, code, final = _TOKEN_ANSWERS[token_outcome]
        issued = team_id if token_team_id is None else token_team_id
        if token_outcome is TokenOutcome.OK and team_id is not None and issued != team_id:
            status, code, final = 400, "team_mismatch", FlowState.FAILED
        return Prediction(status=status, error=code, state=final, exchanged=True)

    def _denied(self, flow: ModelFlow, error: str) -> Prediction:
        return self._end(flow, _denied_status(error), "authorization_denied", FlowState.DENIED)

    @staticmethod
    def _end(flow: ModelFlow, status: int, error: str, state: FlowState) -> Prediction:
        flow.state = state
        return Prediction(status=status, error=error, state=state)


def _denied_status(error: str) -> int:
    return 502 if error in ("server_error", "temporarily_unavailable") else 403
