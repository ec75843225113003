"""Many concurrent flows, several browsers, a moving clock, a scripted token endpoint: the
Client must answer exactly what the reference model predicts, and the invariants hold."""

from __future__ import annotations

import hashlib
import json
import os
from urllib.parse import parse_qs, urlsplit

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import miroflow
import miroflow.machine
import miroflow.records
from miroflow.testing.model import FlowModel, TokenOutcome
from miroflow.testing.strategies import clock_moves

CLIENT_ID = "3074457363680401096"
OTHER_CLIENT_ID = "3074457363680401097"
TEAMS = ["111", "222", "333"]
BROWSERS = 3


class ScriptedTokenEndpoint:
    """A Transport whose next answer the test chooses; it logs every request."""

    def __init__(self) -> None:
        self.outcome = TokenOutcome.OK
        self.team = TEAMS[0]  # the team the tokens are issued for
        self.requests: list[miroflow.HttpRequest] = []

    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        self.requests.append(request)
        if self.outcome is TokenOutcome.TIMEOUT:
            raise miroflow.TransportTimeout("The token endpoint did not answer in time.")
        if self.outcome is TokenOutcome.TRANSPORT_ERROR:
            raise miroflow.TransportError("The connection was reset.")
        if self.outcome in (TokenOutcome.REJECTED, TokenOutcome.CODE_REJECTED):
            message = (
                "Invalid authorization code"
                if self.outcome is TokenOutcome.CODE_REJECTED
                else "Invalid client credentials"
            )
            body = {"status": 401, "code": "oauthError", "message": message, "type": "error"}
            return miroflow.HttpResponse(status=401, body=json.dumps(body).encode())
        if self.outcome is TokenOutcome.MALFORMED:
            return miroflow.HttpResponse(status=200, body=b"<html>not json</html>")
        body = {
            "user_id": "3458764517517852417",
            "refresh_token": "r" * 40,
            "access_token": "a" * 40,
            "expires_in": 3599,
            "team_id": int(self.team),
            "scope": "boards:read",
            "token_type": "bearer",
        }
        return miroflow.HttpResponse(status=200, body=json.dumps(body).encode())


class CountingEntropy:
    """Deterministic, never-repeating bytes (the test must be replayable)."""

    def __init__(self) -> None:
        self.counter = 0

    def __call__(self, size: int) -> bytes:
        out = b""
        while len(out) < size:
            self.counter += 1
            out += hashlib.sha256(self.counter.to_bytes(8, "big")).digest()
        return out[:size]


class ManyFlows(RuleBasedStateMachine):
    states = Bundle("states")

    def __init__(self) -> None:
        super().__init__()
        self.now = 1.7e9
        self.endpoint = ScriptedTokenEndpoint()
        self.jars: list[str | None] = [None] * BROWSERS
        self.exchanges: dict[str, int] = {}  # state token -> exchanges sent
        self.codes = 0

    @initialize(
        require_team=st.booleans(),
        accept_unsolicited=st.booleans(),
        lifetime=st.sampled_from([60.0, 900.0]),
    )
    def configure(self, require_team: bool, accept_unsolicited: bool, lifetime: float) -> None:
        config = miroflow.ClientConfig(
            client_id=CLIENT_ID,
            client_secret="the-client-secret",
            redirect_uri="http://localhost:8000/callback",
            flow_lifetime=lifetime,
            team_policy="require_requested" if require_team else "accept_any",
            unsolicited_policy="accept" if accept_unsolicited else "reject",
        )
        self.flow_store = miroflow.MemoryFlowStore()
        self.token_store = miroflow.MemoryTokenStore()
        self.client = miroflow.Client(
            config,
            flows=self.flow_store,
            tokens=self.token_store,
            transport=self.endpoint,
            clock=lambda: self.now,
            entropy=CountingEntropy(),
        )
        self.model = FlowModel(
            client_id=CLIENT_ID,
            flow_lifetime=lifetime,
            require_requested_team=require_team,
            accept_unsolicited=accept_unsolicited,
        )

    @rule(
        target=states, browser=st.integers(0, BROWSERS - 1), team=st.none() | st.sampled_from(TEAMS)
    )
    def start(self, browser: int, team: str | None) -> str:
        answer = self.client.start(binding_cookie=self.jars[browser], team_id=team)
        assert answer.status == 302 and answer.location is not None
        query = parse_qs(urlsplit(answer.location).query)
        (state,) = query["state"]
        assert query.get("team_id") == ([team] if team else None)
        cookie = answer.cookie
        assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
        if self.jars[browser] is not None:
            assert cookie.value == self.jars[browser]  # one binding per browser, reused
        self.jars[browser] = cookie.value
        self.model.started(state=state, binding=cookie.value, now=self.now, team_id=team)
        self._check_snapshot(answer)
        return state

    @rule(
        state=states,
        browser=st.integers(0, BROWSERS - 1),
        drop_cookie=st.booleans(),
        error=st.none() | st.sampled_from(["access_denied", "server_error"]),
        foreign_client=st.booleans(),
        team=st.none() | st.sampled_from(TEAMS),
        outcome=st.sampled_from(TokenOutcome),
        issued_team=st.sampled_from(TEAMS),
    )
    def callback(
        self,
        state: str,
        browser: int,
        drop_cookie: bool,
        error: str | None,
        foreign_client: bool,
        team: str | None,
        outcome: TokenOutcome,
        issued_team: str,
    ) -> None:
        self.endpoint.team = issued_team
        binding = None if drop_cookie else self.jars[browser]
        client_id = OTHER_CLIENT_ID if foreign_client else CLIENT_ID
        query = self._query(state, error, client_id, team)
        expected = self.model.callback(
            state=state,
            binding=binding,
            now=self.now,
            error=error,
            client_id=client_id,
            team_id=team,
            token_outcome=outcome,
            token_team_id=issued_team,
        )
        self._send(query, binding, outcome, expected, state)

    @rule(
        error=st.none() | st.just("access_denied"),
        outcome=st.sampled_from(TokenOutcome),
        foreign_client=st.booleans(),
    )
    def unsolicited_callback(
        self, error: str | None, outcome: TokenOutcome, foreign_client: bool
    ) -> None:
        client_id = OTHER_CLIENT_ID if foreign_client else CLIENT_ID
        self.endpoint.team = TEAMS[0]
        expected = self.model.callback(
            state=None,
            binding=None,
            now=self.now,
            error=error,
            client_id=client_id,
            team_id="111",
            token_outcome=outcome,
            token_team_id=TEAMS[0],
        )
        self._send(self._query(None, error, client_id, "111"), None, outcome, expected, None)

    @rule(browser=st.integers(0, BROWSERS - 1))
    def callback_with_unknown_state(self, browser: int) -> None:
        expected = self.model.callback(state="u" * 43, binding=self.jars[browser], now=self.now)
        assert expected.error == "unknown_state"
        self._send(
            self._query("u" * 43, None, CLIENT_ID, None),
            self.jars[browser],
            TokenOutcome.OK,
            expected,
            None,
        )

    @rule(state=states)
    def malformed_callback(self, state: str) -> None:
        before = len(self.endpoint.requests)
        answer = self.client.handle_callback(
            f"code=x&state={state}&state={state}", binding_cookie=None
        )
        assert (answer.status, answer.error and answer.error.code) == (400, "malformed_callback")
        assert len(self.endpoint.requests) == before

    @rule(step=clock_moves())
    def advance_clock(self, step: float) -> None:
        self.now += step

    @precondition(lambda self: hasattr(self, "model"))
    @rule()
    def sweep(self) -> None:
        self.flow_store.sweep(self.now)  # forgetting only what is past retention changes nothing

    @invariant()
    def at_most_one_exchange_per_flow(self) -> None:
        assert all(count <= 1 for count in self.exchanges.values())

    # --- helpers ---------------------------------------------------------------------------

    def _query(self, state: str | None, error: str | None, client_id: str, team: str | None) -> str:
        self.codes += 1
        parts = [f"error={error}" if error else f"code=code-{self.codes}"]
        if state is not None:
            parts.append(f"state={state}")
        parts.append(f"client_id={client_id}")
        if team is not None:
            parts.append(f"team_id={team}")
        return "&".join(parts)

    def _send(
        self,
        query: str,
        binding: str | None,
        outcome: TokenOutcome,
        expected: object,
        state: str | None,
    ) -> None:
        self.endpoint.outcome = outcome
        before = len(self.endpoint.requests)
        answer = self.client.handle_callback(query, binding_cookie=binding)
        new = self.endpoint.requests[before:]
        exchanges = [r for r in new if r.url == miroflow.machine.MIRO_TOKEN_ENDPOINT]
        revocations = [r for r in new if r.url == miroflow.machine.MIRO_REVOKE_ENDPOINT]
        sent = len(exchanges)
        # Tokens issued for a team the flow may not have are revoked, and only those.
        issued_but_refused = answer.error is not None and answer.error.code == "team_mismatch"
        assert len(revocations) == (1 if issued_but_refused and sent else 0)
        got = (
            answer.status,
            answer.error.code if answer.error else None,
            answer.flow.state if answer.flow else None,
            sent == 1,
        )
        want = (expected.status, expected.error, expected.state, expected.exchanged)  # type: ignore[attr-defined]
        assert got == want, (query, got, want)
        assert sent <= 1
        if sent and state is not None:
            self.exchanges[state] = self.exchanges.get(state, 0) + 1
            flow = self.model.flows[state]
            assert self.now < flow.deadline  # nothing is exchanged after its deadline
            assert binding == flow.binding  # no exchange without a verified, bound state
            body = parse_qs(exchanges[0].body.decode())
            assert body["code"] == [query.split("&")[0].removeprefix("code=")]
        if answer.tokens is not None:
            assert answer.status == 303
            stored = self.token_store.get(answer.tokens.key)
            assert stored is not None and stored.tokens == answer.tokens
        self._check_snapshot(answer)

    @staticmethod
    def _check_snapshot(answer: miroflow.Answer) -> None:
        if answer.flow is not None:
            record = miroflow.records.flow_to_record(answer.flow)
            assert miroflow.records.flow_from_record(record) == answer.flow
            assert miroflow.records.loads_flow(miroflow.records.dumps_flow(answer.flow)) == (
                answer.flow
            )
        # No secret ever reaches a repr.
        text = repr(answer)
        assert "the-client-secret" not in text and "a" * 40 not in text


_THOROUGH = bool(os.environ.get("CI"))
ManyFlows.TestCase.settings = settings(
    max_examples=2000 if _THOROUGH else 150,
    stateful_step_count=25,
    deadline=None,
)
TestManyFlows = ManyFlows.TestCase
