"""miroflow-flask: the web adapter conformance suite over real HTTP (werkzeug's WSGI server on
loopback, the simulator on loopback, SQLite), then the blueprint's own promises through
Flask's test client against the in-process simulator: the hooks, the session identity,
``current_tokens`` and the responses sent as the core rendered them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import flask
import miroflow_flask
import pytest
from markupsafe import escape
from miroflow_simulator import Simulator
from miroflow_simulator.testing import WebAdapterConformance
from miroflow_sqlite import SQLiteFlowStore, SQLiteTokenStore
from miroflow_urllib import UrllibTransport
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.test import TestResponse

import miroflow

REDIRECT_URI = "http://127.0.0.1:8001/miro/callback"


def make_app(client: miroflow.Client, **hooks: Any) -> flask.Flask:
    """An app as its README builds it: the blueprint, and a page showing who signed in."""
    app = flask.Flask(__name__)
    app.secret_key = "not a secret: tests only"
    app.register_blueprint(miroflow_flask.blueprint(client, **hooks))

    def home() -> str:
        tokens = miroflow_flask.current_tokens()
        if tokens is None:
            return "Not signed in"
        return f"Signed in as user {escape(tokens.user_id)} in team {escape(tokens.team_id)}"

    app.add_url_rule("/", "home", home)
    app.add_url_rule("/boards", "boards", home)
    return app


@pytest.fixture(autouse=True)
def _browser_headers_unlogged() -> Iterator[None]:
    """The suite's test browser (httpx) dumps every header at DEBUG through httpcore, binding
    cookies and redirects to Miro included: the secret watch would blame the adapter."""
    httpcore = logging.getLogger("httpcore")
    level = httpcore.level
    httpcore.setLevel(logging.INFO)
    yield
    httpcore.setLevel(level)


class _Quiet(WSGIRequestHandler):
    # werkzeug logs every request line, and a callback's holds a code and a state.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class TestConformance(WebAdapterConformance):
    @contextmanager
    def serve(
        self, config: miroflow.ClientConfig, *, clock: Callable[[], float], database: Path
    ) -> Iterator[object]:
        client = miroflow.Client(
            config,
            flows=SQLiteFlowStore(database, client_id=config.client_id),
            tokens=SQLiteTokenStore(database, client_id=config.client_id),
            transport=UrllibTransport(),
            clock=clock,
        )
        where = urlsplit(config.redirect_uri)
        assert where.hostname is not None and where.port is not None
        server = make_server(
            where.hostname, where.port, make_app(client), threaded=True, request_handler=_Quiet
        )
        # Bound and listening once make_server returns; a short poll keeps shutdown quick.
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            thread.join()
            server.server_close()


# --- the blueprint's own promises, in process ----------------------------------------------


@pytest.fixture
def client(miro_simulator: Simulator) -> miroflow.Client:
    return miroflow.Client(
        miro_simulator.client_config(),
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=miro_simulator.transport,
        clock=miro_simulator.now,
    )


@pytest.fixture
def miro_simulator_redirect_uri() -> str:
    return REDIRECT_URI


def miro_redirect(browser: flask.testing.FlaskClient, sim: Simulator, query: str = "") -> str:
    """Log in and approve at the simulator: the callback's path and query, not yet opened."""
    started = browser.get("/miro/login" + (f"?{query}" if query else ""))
    assert started.status_code == 302, started.text
    sim.auto_approve()
    back = sim.dispatch(miroflow.HttpRequest(method="GET", url=started.headers["Location"]))
    assert isinstance(back, miroflow.HttpResponse)
    location = back.header("Location")
    assert location is not None and location.startswith(REDIRECT_URI + "?")
    return location.removeprefix("http://127.0.0.1:8001")


def sign_in(browser: flask.testing.FlaskClient, sim: Simulator, query: str = "") -> TestResponse:
    return browser.get(miro_redirect(browser, sim, query))


def test_the_session_remembers_who_signed_in_and_current_tokens_reads_it(
    client: miroflow.Client, miro_simulator: Simulator
) -> None:
    app = make_app(client)
    browser = app.test_client()
    assert browser.get("/").text == "Not signed in"
    landed = sign_in(browser, miro_simulator, "next=/boards")
    assert landed.status_code == 303 and landed.headers["Location"] == "/boards"
    with browser.session_transaction() as session:
        identity = session[miroflow_flask.SESSION_KEY]
    tokens = client.stored_tokens(identity["user_id"], identity["team_id"])
    assert tokens is not None and identity == {"user_id": tokens.user_id, "team_id": tokens.team_id}
    assert browser.get("/boards").text == (
        f"Signed in as user {tokens.user_id} in team {tokens.team_id}"
    )
    with app.test_request_context("/"):
        flask.session[miroflow_flask.SESSION_KEY] = identity
        assert miroflow_flask.current_tokens() == tokens
        client.tokens.delete(miroflow.TokenKey(client_id=client.config.client_id, **identity))
        assert miroflow_flask.current_tokens() is None  # signed in once, tokens gone since


@pytest.mark.parametrize(
    "stored", [None, "3458764517517852417", {"user_id": 1, "team_id": "2"}, {"user_id": "1"}]
)
def test_current_tokens_is_none_for_no_or_odd_identities(
    client: miroflow.Client, stored: object
) -> None:
    app = make_app(client)
    with app.test_request_context("/"):
        if stored is not None:
            flask.session[miroflow_flask.SESSION_KEY] = stored
        assert miroflow_flask.current_tokens() is None


def test_current_tokens_needs_the_blueprint() -> None:
    app = flask.Flask(__name__)
    app.secret_key = "not a secret: tests only"
    with app.test_request_context("/"):
        flask.session[miroflow_flask.SESSION_KEY] = {"user_id": "1", "team_id": "2"}
        with pytest.raises(RuntimeError, match="blueprint"):
            miroflow_flask.current_tokens()


def test_on_signed_in_may_answer_itself_and_replaces_the_session_default(
    client: miroflow.Client, miro_simulator: Simulator
) -> None:
    seen: list[miroflow.TokenSet] = []

    def welcome(tokens: miroflow.TokenSet) -> flask.typing.ResponseReturnValue:
        seen.append(tokens)
        assert flask.request.path == "/miro/callback"
        return f"Welcome, {tokens.user_id}", 201

    browser = make_app(client, on_signed_in=welcome).test_client()
    landed = sign_in(browser, miro_simulator)
    assert landed.status_code == 201 and landed.text == f"Welcome, {seen[0].user_id}"
    with browser.session_transaction() as session:
        assert miroflow_flask.SESSION_KEY not in session
    assert client.stored_tokens(seen[0].user_id, seen[0].team_id) == seen[0]


def test_on_signed_in_returning_none_keeps_the_redirect(
    client: miroflow.Client, miro_simulator: Simulator
) -> None:
    seen: list[miroflow.TokenSet] = []
    browser = make_app(client, on_signed_in=seen.append).test_client()
    landed = sign_in(browser, miro_simulator, "next=/boards")
    assert landed.status_code == 303 and landed.headers["Location"] == "/boards"
    assert len(seen) == 1
    assert browser.get("/").text == "Not signed in"  # the app's hook kept no session


def test_render_error_makes_every_error_page(
    client: miroflow.Client, miro_simulator: Simulator
) -> None:
    answers: list[miroflow.Answer] = []

    def mine(answer: miroflow.Answer) -> flask.typing.ResponseReturnValue:
        answers.append(answer)
        assert answer.error is not None
        return flask.jsonify(mine=answer.error.code), answer.status

    browser = make_app(client, render_error=mine).test_client()
    refused = browser.get("/miro/login?next=//evil.example/")
    assert refused.status_code == 400 and refused.json == {"mine": "malformed_login"}
    bare = browser.get("/miro/callback")
    assert bare.status_code == 400 and "mine" in (bare.json or {})
    assert len(answers) == 2
    # A login that works is not an error: the core's redirect, as rendered.
    assert browser.get("/miro/login").status_code == 302


def test_a_replay_goes_on_when_the_apps_own_check_says_signed_in(
    client: miroflow.Client, miro_simulator: Simulator
) -> None:
    signed_in: set[str] = set()

    def keep(tokens: miroflow.TokenSet) -> None:
        signed_in.add(tokens.user_id)

    app = make_app(client, on_signed_in=keep, is_signed_in=lambda: bool(signed_in))
    browser = app.test_client()
    back = miro_redirect(browser, miro_simulator, "next=/boards")
    assert browser.get(back).status_code == 303
    again = browser.get(back)
    assert again.status_code == 303 and again.headers["Location"] == "/boards"
    assert again.headers["Cache-Control"] == "no-store"
    assert again.headers["Referrer-Policy"] == "no-referrer"
    assert "Content-Type" not in again.headers and again.data == b""
    signed_in.clear()
    assert browser.get(back).status_code == 409  # not signed in: the core's "already used"


def test_pages_are_sent_as_the_core_rendered_them(
    client: miroflow.Client, miro_simulator: Simulator
) -> None:
    browser = make_app(client).test_client()
    started = browser.get("/miro/login?team_id=3458764517517852418&next=/boards%3Fa%3D1")
    expected = client.login(b"team_id=3458764517517852418&next=/boards%3Fa%3D1").render()
    assert started.status_code == expected.status == 302
    names = [name for name, _ in started.headers if name != "Content-Length"]
    assert names == [name for name, _ in expected.headers]  # none added, none lost
    assert "Content-Type" not in started.headers  # a redirect gets no Flask default
    cookie = started.headers["Set-Cookie"]
    assert cookie.startswith(client.cookie_name + "=") and "HttpOnly" in cookie
    as_json = browser.get("/miro/login?next=//x", headers={"Accept": "application/json"})
    assert as_json.headers["Content-Type"] == "application/json"
    document = as_json.json or {}
    assert (document["error"], document["status"]) == ("malformed_login", 400)
    assert document["message"] == client.login("next=//x").message


def test_the_endpoints_are_named_for_url_for(client: miroflow.Client) -> None:
    app = flask.Flask(__name__)
    app.register_blueprint(miroflow_flask.blueprint(client, name="miro"))
    with app.test_request_context("/"):
        assert flask.url_for("miro.login", next="/boards") == "/miro/login?next=/boards"
        assert flask.url_for("miro.callback") == "/miro/callback"
