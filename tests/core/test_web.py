"""What the core gives web adapters: the login route's strict reading (``Client.login``),
the onward answer for a replayed callback (``continue_to``, ``onward``), the stored tokens of
a user, the routes' paths, and error pages whose JSON holds no markup."""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

import miroflow

CONFIG = miroflow.ClientConfig(
    client_id="3074457363680401096",
    client_secret="client-test-secret",
    redirect_uri="http://127.0.0.1:8000/auth/miro/callback",
    success_path="/home",
)
TOKENS = json.dumps(
    {
        "user_id": "3458764517517852417",
        "refresh_token": "r" * 40,
        "access_token": "a" * 40,
        "expires_in": 3599,
        "team_id": "3458764517517819000",
        "scope": "boards:read",
        "token_type": "bearer",
    }
).encode()


class Miro:
    def __init__(self) -> None:
        self.requests: list[miroflow.HttpRequest] = []

    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        self.requests.append(request)
        return miroflow.HttpResponse(status=200, body=TOKENS)


class AsyncMiro(Miro):
    async def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:  # type: ignore[override]
        return Miro.send(self, request)


def client() -> miroflow.Client:
    return miroflow.Client(
        CONFIG,
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=Miro(),
        clock=lambda: 1000.0,
    )


def authorize_params(answer: miroflow.Answer) -> dict[str, list[str]]:
    assert answer.location is not None
    return parse_qs(urlsplit(answer.location).query)


def test_the_routes_paths_come_from_the_configuration() -> None:
    assert CONFIG.callback_path == "/auth/miro/callback"
    assert CONFIG.login_path == "/miro/login"
    assert miroflow.ClientConfig(
        client_id="1", client_secret="s", redirect_uri="https://a.example", login_path="/in"
    ).callback_path == "/"
    with pytest.raises(miroflow.ConfigError, match="same-site path"):
        miroflow.ClientConfig(
            client_id="1", client_secret="s", redirect_uri="https://a.example", login_path="//x"
        )


def test_login_reads_the_team_and_the_page_to_return_to() -> None:
    app = client()
    answer = app.login("team_id=3458764517517819000&next=/boards%3Fid%3D1&utm=x")
    assert answer.status == 302
    assert authorize_params(answer)["team_id"] == ["3458764517517819000"]
    assert answer.flow is not None
    assert answer.flow.return_path == "/boards?id=1"
    assert answer.set_cookie is not None
    bare = app.login(b"")
    assert bare.status == 302
    assert bare.flow is not None
    assert bare.flow.return_path is None


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("next=//evil.example/", "not a path on this site"),
        ("next=https://evil.example/", "not a path on this site"),
        ("next=/%5Cevil.example", "not a path on this site"),
        ("next=boards", "not a path on this site"),
        ("team_id=abc", "'team_id' is not a decimal ID"),
        ("next=/a&next=/b", "more than once"),
        ("next=/%zz", "invalid percent escape"),
        ("next=/%ff", "not valid percent-encoded UTF-8"),
        ("next=/a%0Ab", "printable ASCII"),
        ("team_id=" + "1" * 40, "'team_id' is not a decimal ID"),
    ],
)
def test_a_bad_login_request_is_a_400_that_starts_nothing(
    query: str, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = client()
    with caplog.at_level(logging.INFO, logger="miroflow"):
        answer = app.login(query, binding_cookie=None)
    assert answer.status == 400
    assert isinstance(answer.error, miroflow.MalformedLogin)
    assert answer.error.code == "malformed_login"
    assert says in answer.message
    assert answer.set_cookie is None
    assert answer.location is None
    assert "evil.example" not in answer.render().body.decode()
    assert "malformed_login" in caplog.text


@given(st.text(max_size=60))
def test_login_never_raises_and_never_leaves_the_site(query: str) -> None:
    answer = client().login(query)
    assert answer.status in (302, 400)
    if answer.status == 302:
        assert answer.flow is not None
        path = answer.flow.return_path
        assert path is None or (path.startswith("/") and not path.startswith("//"))


def test_the_async_client_reads_login_requests_alike() -> None:
    app = miroflow.AsyncClient(
        CONFIG,
        flows=miroflow.AsyncMemoryFlowStore(),
        tokens=miroflow.AsyncMemoryTokenStore(),
        transport=AsyncMiro(),
        clock=lambda: 1000.0,
    )
    good = asyncio.run(app.login("next=/x"))
    assert good.status == 302
    bad = asyncio.run(app.login("next=//x"))
    assert bad.status == 400
    assert bad.error is not None
    assert bad.error.code == "malformed_login"


def sign_in(app: miroflow.Client, next_path: str | None = "/boards") -> tuple[str, str]:
    """A whole flow; the callback's query and the browser's binding cookie."""
    started = app.login(f"next={next_path}" if next_path else "")
    cookie = started.cookie
    assert cookie is not None
    state = authorize_params(started)["state"][0]
    query = f"code=c0de&state={state}&client_id={CONFIG.client_id}"
    done = app.handle_callback(query, binding_cookie=cookie.value)
    assert done.status == 303
    return query, cookie.value


def test_a_replay_by_the_same_browser_may_go_on_to_the_flows_page() -> None:
    app = client()
    query, binding = sign_in(app)
    replay = app.handle_callback(query, binding_cookie=binding)
    assert replay.status == 409
    assert isinstance(replay.error, miroflow.StateAlreadyUsed)
    assert replay.continue_to == "/boards"
    onward = replay.onward()
    assert onward.status == 303
    assert onward.location == "/boards"
    page = onward.render()
    assert ("Cache-Control", "no-store") in page.headers
    assert ("Referrer-Policy", "no-referrer") in page.headers
    assert ("Location", "/boards") in page.headers
    # Without a page asked for, the configuration's.
    query, binding = sign_in(app, None)
    assert app.handle_callback(query, binding_cookie=binding).continue_to == "/home"


def test_other_browsers_are_never_sent_on() -> None:
    app = client()
    query, _ = sign_in(app)
    other = app.login().cookie
    assert other is not None
    for binding in (None, other.value, "not-ours"):
        answer = app.handle_callback(query, binding_cookie=binding)
        assert answer.status == 400
        assert answer.continue_to is None
        with pytest.raises(miroflow.UsageError, match="replayed callback"):
            answer.onward()


def test_stored_tokens_are_the_users_of_this_app() -> None:
    app = client()
    assert app.stored_tokens("3458764517517852417", "3458764517517819000") is None
    sign_in(app)
    tokens = app.stored_tokens("3458764517517852417", "3458764517517819000")
    assert tokens is not None
    assert tokens.client_id == CONFIG.client_id
    assert app.stored_tokens("3458764517517852417", "1") is None


def test_a_json_error_page_holds_no_markup_and_reads_back_the_same() -> None:
    app = client()
    started = app.login()
    state = authorize_params(started)["state"][0]
    cookie = started.cookie
    assert cookie is not None
    hostile = "%3Cscript%3Ealert(1)%3C%2Fscript%3E%20%26amp;"
    answer = app.handle_callback(
        f"error=access_denied&error_description={hostile}&state={state}",
        binding_cookie=cookie.value,
    )
    page = answer.render("application/json")
    assert b"<" not in page.body
    assert b"&" not in page.body
    assert "<script>alert(1)</script> &amp;" in json.loads(page.body)["message"]


def test_signed_in_tokens_are_valid_ones_or_none_when_the_user_must_sign_in() -> None:
    app = client()
    user, team = "3458764517517852417", "3458764517517819000"
    assert app.signed_in_tokens(user, team) is None  # nothing stored
    for bad in ((None, team), (user, 7), ("me", team), (user, "")):
        assert app.signed_in_tokens(*bad) is None  # a session's identity that is no Miro ID
    sign_in(app)
    tokens = app.signed_in_tokens(user, team)
    assert tokens is not None
    assert tokens == app.stored_tokens(user, team)  # fresh: as stored, nothing sent
    assert len(app.transport.requests) == 1


def test_the_async_client_gives_signed_in_tokens_alike() -> None:
    app = miroflow.AsyncClient(
        CONFIG,
        flows=miroflow.AsyncMemoryFlowStore(),
        tokens=miroflow.AsyncMemoryTokenStore(),
        transport=AsyncMiro(),
        clock=lambda: 1000.0,
    )
    assert asyncio.run(app.signed_in_tokens("1", "2")) is None
    assert asyncio.run(app.signed_in_tokens("x", "2")) is None
