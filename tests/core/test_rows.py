"""Every row of the table happens in real use: driven here through public entry points only
(the clients, and for a countdown's tick, ``miroflow.machine.step``), each row is seen."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import miroflow
from miroflow import machine as m

CONFIG = miroflow.ClientConfig(
    client_id="3074457363680401096",
    client_secret="rows-secret",
    redirect_uri="http://localhost:8000/callback",
    unsolicited_policy="accept",
)
TOKENS = json.dumps(
    {"user_id": "1", "team_id": "2", "access_token": "a" * 40, "token_type": "bearer"}
).encode()


class Endpoint:
    def __init__(self) -> None:
        self.fail = False
        self.reject = False

    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        if self.fail:
            raise miroflow.TransportError("The connection was reset.")
        if self.reject:
            return miroflow.HttpResponse(status=401, body=b'{"code":"oauthError"}')
        return miroflow.HttpResponse(status=200, body=TOKENS)


def test_every_row_is_reached_through_public_entry_points() -> None:
    seen: set[tuple[miroflow.FlowState | None, str, miroflow.FlowState]] = set()
    now = [1000.0]
    endpoint = Endpoint()
    client = miroflow.Client(
        CONFIG,
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=endpoint,
        clock=lambda: now[0],
        on_transition=lambda t: seen.add((t.before, t.input, t.after)),
    )

    def start() -> tuple[str, str]:
        answer = client.start()
        assert answer.location is not None and answer.cookie is not None
        return parse_qs(urlsplit(answer.location).query)["state"][0], answer.cookie.value

    state, binding = start()
    client.handle_callback(f"code=c&state={state}", binding_cookie=binding)  # consumed
    state, binding = start()
    client.handle_callback(f"error=access_denied&state={state}", binding_cookie=binding)
    state, binding = start()
    client.handle_callback(f"code=c&state={state}&client_id=42", binding_cookie=binding)
    state, binding = start()
    endpoint.fail = True
    client.handle_callback(f"code=c&state={state}", binding_cookie=binding)  # transport
    endpoint.fail = False
    state, binding = start()
    endpoint.reject = True
    client.handle_callback(f"code=c&state={state}", binding_cookie=binding)  # rejected
    endpoint.reject = False
    state, binding = start()
    now[0] += CONFIG.flow_lifetime
    client.handle_callback(f"code=c&state={state}", binding_cookie=binding)  # expired
    client.handle_callback("code=u", binding_cookie=None)  # unsolicited, accepted
    client.handle_callback("error=access_denied", binding_cookie=None)
    client.handle_callback("code=u&client_id=42", binding_cookie=None)
    # A terminal login's countdown ticks before the deadline (next_deadline says when).
    pending = m.step(None, m.FlowStarted(entropy=bytes(96)), config=CONFIG, now=0.0).flow
    redirected = m.step(pending, m.UserRedirected(), config=CONFIG, now=0.0).flow
    deadline = m.next_deadline(redirected)
    assert deadline is not None
    tick = m.step(redirected, m.ClockAdvanced(), config=CONFIG, now=deadline - 1)
    seen.add((redirected.state, "ClockAdvanced", tick.flow.state))

    FS = miroflow.FlowState
    live_targets = {
        (state, input_type.__name__, target)
        for (state, input_type), rule in m.TABLE.items()
        if state is None or not state.is_terminal
        for target in rule.targets
    }
    assert live_targets - seen == set()
    assert (FS.REDIRECTED, "ClockAdvanced", FS.EXPIRED) in seen
