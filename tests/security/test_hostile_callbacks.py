"""Attacks that got through before (issue 11), each through the public API: the typed error,
the status, whether the flow is kept, whether a token request (or a revocation) was sent, and
that nothing was stored that should not be."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest

import miroflow

CONFIG = miroflow.ClientConfig(
    client_id="3074457363680401096",
    client_secret="hostile-test-secret",
    redirect_uri="http://localhost:8000/callback",
)
REVOKE = CONFIG.revoke_endpoint


class Miro:
    """A scripted token endpoint that issues tokens for ``team`` and logs every request."""

    def __init__(self, team: str = "222", answer: miroflow.HttpResponse | None = None) -> None:
        self.team, self.answer = team, answer
        self.requests: list[miroflow.HttpRequest] = []

    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        self.requests.append(request)
        if request.url == REVOKE:
            return miroflow.HttpResponse(status=204)
        if self.answer is not None:
            return self.answer
        body = {"user_id": "1", "team_id": self.team, "access_token": "A" * 40}
        body["token_type"] = "bearer"
        return miroflow.HttpResponse(status=200, body=json.dumps(body).encode())

    def sent(self, url: str) -> int:
        return sum(request.url == url for request in self.requests)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def client(
    miro: Miro,
    config: miroflow.ClientConfig = CONFIG,
    tokens: miroflow.TokenStore | None = None,
    flows: miroflow.FlowStore | None = None,
    clock: Clock | None = None,
) -> miroflow.Client:
    return miroflow.Client(
        config,
        flows=flows or miroflow.MemoryFlowStore(),
        tokens=tokens or miroflow.MemoryTokenStore(),
        transport=miro,
        clock=clock or Clock(),
    )


def start(app: miroflow.Client, **kwargs: str) -> tuple[str, str]:
    answer = app.start(**kwargs)
    assert answer.location is not None and answer.cookie is not None
    return parse_qs(urlsplit(answer.location).query)["state"][0], answer.cookie.value


# --- 1. the token response's team is the truth ------------------------------------------------


@pytest.mark.parametrize("policy", ["require_requested", "accept_any"])
def test_a_forged_team_in_the_callback_fails_and_the_tokens_are_revoked(policy: str) -> None:
    miro = Miro(team="222")  # the person picked team 222 on the consent page
    tokens = miroflow.MemoryTokenStore()
    app = client(miro, attrs.evolve(CONFIG, team_policy=policy), tokens)
    state, binding = start(app, team_id="111")
    # ...and edited the callback to say 111.
    answer = app.handle_callback(f"code=c&state={state}&team_id=111", binding_cookie=binding)
    assert isinstance(answer.error, miroflow.TeamMismatch) and answer.status == 400
    assert answer.tokens is None and answer.flow is not None
    assert answer.flow.state is miroflow.FlowState.FAILED
    assert "222" in answer.detail and "revoked" in answer.detail  # type: ignore[operator]
    assert miro.sent(REVOKE) == 1
    revoked = json.loads(miro.requests[-1].body)
    assert revoked["accessToken"] == "A" * 40
    key = miroflow.TokenKey(client_id=CONFIG.client_id, user_id="1", team_id="222")
    assert tokens.get(key) is None


def test_the_policy_is_checked_against_the_tokens_team() -> None:
    miro = Miro(team="222")
    app = client(miro, attrs.evolve(CONFIG, team_policy="require_requested"))
    state, binding = start(app, team_id="111")
    # No team_id in the callback at all: the token response still decides.
    answer = app.handle_callback(f"code=c&state={state}", binding_cookie=binding)
    assert isinstance(answer.error, miroflow.TeamMismatch) and miro.sent(REVOKE) == 1


def test_by_default_another_team_than_requested_is_fine_when_callback_and_tokens_agree() -> None:
    miro = Miro(team="222")
    app = client(miro)
    state, binding = start(app, team_id="111")
    answer = app.handle_callback(f"code=c&state={state}&team_id=222", binding_cookie=binding)
    assert answer.status == 303 and answer.tokens is not None
    assert answer.tokens.team_id == "222" and miro.sent(REVOKE) == 0


# --- 2. tokens are never left live and unowned -------------------------------------------------


class BrokenTokens(miroflow.MemoryTokenStore):
    def put(
        self, tokens: miroflow.TokenSet, *, expected_version: int | None = None
    ) -> miroflow.StoredTokens:
        raise miroflow.StoreUnavailable("PostgreSQL at db.internal:5432/app is not reachable.")


def test_tokens_that_cannot_be_stored_are_revoked_before_answering(
    caplog: pytest.LogCaptureFixture,
) -> None:
    miro = Miro()
    app = client(miro, tokens=BrokenTokens())
    state, binding = start(app)
    with caplog.at_level(logging.INFO, logger="miroflow"):
        answer = app.handle_callback(f"code=c&state={state}", binding_cookie=binding)
    assert answer.status == 503 and isinstance(answer.error, miroflow.StoreUnavailable)
    assert answer.tokens is None and miro.sent(REVOKE) == 1
    assert "revoked" in (answer.detail or "") and "db.internal" not in answer.body
    assert "revoked" in caplog.text and "A" * 40 not in caplog.text


class UnreachableRevoke(Miro):
    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        if request.url == REVOKE:
            self.requests.append(request)
            raise miroflow.TransportError("The connection to api.miro.com was reset.")
        return super().send(request)


def test_a_revocation_that_fails_is_said_in_the_log_and_answered_all_the_same() -> None:
    miro = UnreachableRevoke()
    app = client(miro, tokens=BrokenTokens())
    state, binding = start(app)
    answer = app.handle_callback(f"code=c&state={state}", binding_cookie=binding)
    assert answer.status == 503 and miro.sent(REVOKE) == 1
    assert "stay live" in (answer.detail or "")


# --- 3. a dead code ends the person's sign-in: a 4xx, not "Miro is down" -----------------------


@pytest.mark.parametrize(
    "body",
    [
        {"status": 401, "code": "oauthError", "message": "Invalid authorization code"},
        {"error": "invalid_grant", "error_description": "The code has expired."},
    ],
)
def test_an_expired_or_used_code_is_a_400_that_says_start_again(body: dict[str, object]) -> None:
    status = 401 if "status" in body else 400
    miro = Miro(answer=miroflow.HttpResponse(status=status, body=json.dumps(body).encode()))
    app = client(miro)
    state, binding = start(app)
    answer = app.handle_callback(f"code=c&state={state}", binding_cookie=binding)
    assert isinstance(answer.error, miroflow.CodeRejected) and answer.status == 400
    assert "expired or was already used" in answer.body


def test_bad_client_credentials_are_still_a_502() -> None:
    body = {"status": 401, "code": "oauthError", "message": "Invalid client credentials"}
    miro = Miro(answer=miroflow.HttpResponse(status=401, body=json.dumps(body).encode()))
    app = client(miro)
    state, binding = start(app)
    answer = app.handle_callback(f"code=c&state={state}", binding_cookie=binding)
    assert answer.status == 502 and not isinstance(answer.error, miroflow.CodeRejected)


# --- 4, 5, 7: what is not ours is refused before any I/O, and never raises ---------------------


class CountingFlows(miroflow.MemoryFlowStore):
    def __init__(self) -> None:
        super().__init__()
        self.claims = 0

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> miroflow.ClaimResult:
        self.claims += 1
        return super().claim(state_hash, binding_hash)


@pytest.mark.parametrize("code", ["%", "ab%zz", "a%2"])
def test_an_invalid_percent_escape_is_malformed_and_never_sent(code: str) -> None:
    miro = Miro()
    app = client(miro)
    state, binding = start(app)
    answer = app.handle_callback(f"code={code}&state={state}", binding_cookie=binding)
    assert isinstance(answer.error, miroflow.MalformedCallback) and miro.requests == []


@pytest.mark.parametrize("state", ["S" * 2000, "S" * 42, "S" * 44, "S" * 42 + "=", "S" * 42 + "é"])
def test_a_state_of_another_form_than_ours_reaches_no_store(state: str) -> None:
    flows = CountingFlows()
    app = client(Miro(), flows=flows)
    answer = app.handle_callback(f"code=c&state={state}", binding_cookie="B" * 43)
    assert answer.status == 400 and flows.claims == 0
    assert isinstance(answer.error, miroflow.UnknownState | miroflow.MalformedCallback)


@pytest.mark.parametrize("cookie", ["\udcff", "x" * 5000, "B" * 42 + "\udcff", "=" * 43])
def test_a_malformed_cookie_never_raises_and_never_burns_the_flow(cookie: str) -> None:
    miro = Miro()
    app = client(miro)
    state, binding = start(app)
    answer = app.handle_callback(f"code=c&state={state}", binding_cookie=cookie)
    assert isinstance(answer.error, miroflow.BindingMismatch) and miro.requests == []
    owner = app.handle_callback(f"code=c&state={state}", binding_cookie=binding)
    assert owner.status == 303


# --- 6. time that runs backwards does not keep a flow alive ------------------------------------


def test_a_callback_dated_before_its_flow_is_refused() -> None:
    clock, miro = Clock(), Miro()
    app = client(miro, clock=clock)
    state, binding = start(app)
    clock.now -= 3600  # the wall clock was set back an hour
    answer = app.handle_callback(f"code=c&state={state}", binding_cookie=binding)
    assert isinstance(answer.error, miroflow.ClockSkew) and answer.status == 400
    assert answer.error.behind == 3600 and miro.requests == []


def test_a_little_skew_between_workers_is_tolerated() -> None:
    clock, miro = Clock(), Miro()
    app = client(miro, clock=clock)
    state, binding = start(app)
    clock.now -= 30
    answer = app.handle_callback(f"code=c&state={state}", binding_cookie=binding)
    assert answer.status == 303


# --- 8. browser text on a page: escaped, never run, never sniffed ------------------------------


def test_a_hostile_error_description_is_inert_on_every_rendering() -> None:
    app = client(Miro())
    state, binding = start(app)
    script = "%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    answer = app.handle_callback(
        f"error=access_denied&error_description={script}&state={state}", binding_cookie=binding
    )
    assert isinstance(answer.error, miroflow.AuthorizationDenied)
    page = answer.render()
    headers = dict(page.headers)
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert headers["Referrer-Policy"] == "no-referrer"
    assert b"<script>" not in page.body and b"&lt;script&gt;" in page.body
    as_json = answer.render("application/json")
    assert dict(as_json.headers)["Content-Type"] == "application/json"
    assert json.loads(as_json.body) == {
        "error": "authorization_denied",
        "message": answer.message,
        "status": 403,
    }
    plain = dict(answer.headers)
    assert plain["Content-Type"].startswith("text/plain") and "nosniff" in plain.values()


@pytest.mark.parametrize(
    ("accept", "json_wanted"),
    [
        (None, False),
        ("text/html,application/xhtml+xml,*/*;q=0.8", False),
        ("application/json", True),
        ("application/json, text/html;q=0.5", True),
        ("text/html, application/json;q=0.9", False),
        ("*/*", False),
        ("application/json;q=0, */*", False),
    ],
)
def test_json_only_when_the_client_prefers_it(accept: str | None, json_wanted: bool) -> None:
    answer = client(Miro()).handle_callback("code=c&state=" + "u" * 43, binding_cookie=None)
    content_type = dict(answer.render(accept).headers)["Content-Type"]
    assert (content_type == "application/json") is json_wanted


def test_a_redirect_renders_with_no_body() -> None:
    page = client(Miro()).start().render("application/json")
    assert page.status == 302 and page.body == b"" and "Location" in dict(page.headers)
