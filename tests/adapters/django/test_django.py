"""miroflow_django: the web adapter conformance suite over a real server (Django's threaded
WSGI server on loopback with a Client; uvicorn serving Django's ASGI handler with an
AsyncClient, whose views are async), then its own promises in process through Django's test
clients: the MIROFLOW setting and its mistakes, the hooks (plain or async, in sync or async
views), the session identity and current_tokens / acurrent_tokens."""

from __future__ import annotations

import json
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import miroflow_django
import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient as AsyncBrowser
from django.test import Client as Browser
from django.test.utils import override_settings
from miroflow_simulator import Simulator
from miroflow_simulator.testing import WebAdapterConformance
from miroflow_sqlite import (
    SQLiteFlowStore,
    SQLiteTokenStore,
)
from miroflow_urllib import UrllibTransport

import miroflow

# The conftest's helpers reach the tests as fixtures (importlib mode: no imports between
# test modules), except these two values, written again here.
SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
REDIRECT_URI = "http://127.0.0.1:8000/miro/callback"

Project = Callable[..., None]
ToMiroAndBack = Callable[[str], str]
Serving = Callable[[Any, str], AbstractContextManager[None]]


class _Quiet(WSGIRequestHandler):
    # Django's server logs every request line, and a callback's holds a code and a state.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class TestConformance(WebAdapterConformance):
    @pytest.fixture(autouse=True)
    def _project(self, project: Project) -> None:
        self.configure = project

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
        self.configure(CLIENT=client)
        where = urlsplit(config.redirect_uri)
        assert where.hostname is not None and where.port is not None
        server = ThreadedWSGIServer((where.hostname, where.port), _Quiet)
        server.set_app(WSGIHandler())
        # Bound and listening once constructed; a short poll keeps shutdown quick.
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            thread.join()
            server.server_close()


# --- the session identity and current_tokens -----------------------------------------------


def _session_identity(browser: Browser) -> object:
    return browser.session.get(miroflow_django.SESSION_KEY)


def test_signing_in_puts_who_in_the_session_and_current_tokens_reads_it(
    project: Project,
    client: miroflow.Client,
    browser: Browser,
    to_miro_and_back: ToMiroAndBack,
) -> None:
    project(CLIENT=client)
    assert browser.get("/").content == b"Not signed in"
    started = browser.get("/miro/login?next=/boards")
    assert started.status_code == 302
    assert started.cookies[client.cookie_name]["httponly"]
    landed = browser.get(to_miro_and_back(started["Location"]))
    assert (landed.status_code, landed["Location"]) == (303, "/boards")
    assert landed["Cache-Control"] == "no-store"
    identity = _session_identity(browser)
    assert isinstance(identity, dict)
    tokens = client.stored_tokens(identity["user_id"], identity["team_id"])
    assert tokens is not None
    assert identity == {"user_id": tokens.user_id, "team_id": tokens.team_id}
    page = browser.get("/boards").content.decode()
    assert page == f"Signed in as user {tokens.user_id} in team {tokens.team_id}"


def test_current_tokens_is_none_for_an_identity_with_no_tokens_or_of_the_wrong_shape(
    project: Project, client: miroflow.Client
) -> None:
    project(CLIENT=client)
    request = HttpRequest()
    request.session = {}  # type: ignore[assignment]
    assert miroflow_django.current_tokens(request) is None
    request.session = {miroflow_django.SESSION_KEY: {"user_id": "1", "team_id": "2"}}  # type: ignore[assignment]
    assert miroflow_django.current_tokens(request) is None
    request.session = {miroflow_django.SESSION_KEY: ["1", "2"]}  # type: ignore[assignment]
    assert miroflow_django.current_tokens(request) is None


@pytest.mark.parametrize("views", ["sync", "async"])
def test_signing_in_gives_a_new_session_key(
    project: Project,
    client: miroflow.Client,
    async_client: miroflow.AsyncClient,
    to_miro_and_back: ToMiroAndBack,
    views: str,
) -> None:
    # A session store with keys (signed-cookie sessions carry their data, not a key): the
    # sessions middleware saves into the cache, which Django keeps in memory by default.
    engine = "django.contrib.sessions.backends.cache"
    browser: Browser | AsyncBrowser
    if views == "sync":
        project(CLIENT=client, django_settings={"SESSION_ENGINE": engine})
        browser = Browser()
        get: Callable[..., Any] = browser.get
    else:
        project(CLIENT=async_client, django_settings={"SESSION_ENGINE": engine})
        browser = AsyncBrowser()
        get = async_to_sync(browser.get)
    session = browser.session
    session["cart"] = "kept"
    session.save()
    before = browser.cookies["sessionid"].value  # the client's session, as the browser has it
    assert before == session.session_key
    started = get("/miro/login")
    assert get(to_miro_and_back(started["Location"])).status_code == 303
    after = browser.cookies["sessionid"].value
    assert after != before  # no session fixation
    assert browser.session["cart"] == "kept"
    assert browser.session[miroflow_django.SESSION_KEY]["user_id"]


def test_without_the_sessions_middleware_the_default_hook_says_what_to_add(
    project: Project,
    client: miroflow.Client,
    browser: Browser,
    to_miro_and_back: ToMiroAndBack,
) -> None:
    project(CLIENT=client, django_settings={"MIDDLEWARE": []})
    started = browser.get("/miro/login")
    assert started.status_code == 302  # the login route needs no session
    with pytest.raises(ImproperlyConfigured, match=r"SessionMiddleware.*ON_SIGNED_IN"):
        browser.get(to_miro_and_back(started["Location"]))


# --- the hooks ------------------------------------------------------------------------------


def test_on_signed_in_may_answer_instead_and_keep_its_own_identity(
    project: Project,
    client: miroflow.Client,
    browser: Browser,
    to_miro_and_back: ToMiroAndBack,
) -> None:
    seen: list[miroflow.TokenSet] = []

    def signed_in(request: HttpRequest, tokens: miroflow.TokenSet) -> HttpResponse:
        seen.append(tokens)
        return HttpResponse(f"welcome {tokens.user_id}", status=201)

    project(CLIENT=client, ON_SIGNED_IN=signed_in)
    started = browser.get("/miro/login")
    back = to_miro_and_back(started["Location"])
    landed = browser.get(back)
    assert landed.status_code == 201
    assert landed.content.decode() == f"welcome {seen[0].user_id}"
    assert _session_identity(browser) is None  # the hook kept none
    # A replay from this browser: not signed in as far as the adapter knows, so the 409.
    replayed = browser.get(back)
    assert replayed.status_code == 409


def test_on_signed_in_returning_none_keeps_the_redirect(
    project: Project,
    client: miroflow.Client,
    browser: Browser,
    to_miro_and_back: ToMiroAndBack,
) -> None:
    def signed_in(request: HttpRequest, tokens: miroflow.TokenSet) -> None:
        miroflow_django.remember(request, tokens)
        request.session["greeted"] = True

    project(CLIENT=client, ON_SIGNED_IN=signed_in)
    landed = browser.get(to_miro_and_back(browser.get("/miro/login")["Location"]))
    assert (landed.status_code, landed["Location"]) == (303, "/")
    assert browser.session["greeted"] is True
    assert browser.get("/").content.startswith(b"Signed in as user ")


def test_render_error_draws_the_error_pages_of_both_routes(
    project: Project, client: miroflow.Client, browser: Browser
) -> None:
    def error_page(request: HttpRequest, answer: miroflow.Answer) -> HttpResponse:
        assert answer.error is not None
        return HttpResponse(f"ours: {answer.error.code}", status=answer.status)

    project(CLIENT=client, RENDER_ERROR=error_page)
    bad_login = browser.get("/miro/login?next=//evil.example")
    assert (bad_login.status_code, bad_login.content) == (400, b"ours: malformed_login")
    bare = browser.get("/miro/callback")
    assert (bare.status_code, bare.content) == (400, b"ours: malformed_callback")


def test_the_default_pages_are_miroflows_as_rendered(
    project: Project, client: miroflow.Client, browser: Browser
) -> None:
    project(CLIENT=client)
    page = browser.get("/miro/callback?error=access_denied", HTTP_ACCEPT="application/json")
    answer = client.handle_callback("error=access_denied", binding_cookie=None)
    rendered = answer.render("application/json")
    assert page.status_code == rendered.status
    assert json.loads(page.content) == json.loads(rendered.body)
    assert sorted(page.headers.items()) == sorted(rendered.headers)
    started = browser.get("/miro/login")
    assert "Content-Type" not in started  # a redirect has no body, and says no type
    assert started["Location"].startswith(client.config.authorize_endpoint + "?")


def test_hooks_and_the_client_may_be_dotted_paths(
    project: Project,
    client: miroflow.Client,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType("miroflow_django_test_hooks")
    module.client = client  # type: ignore[attr-defined]
    module.error_page = lambda request, answer: HttpResponse("dotted", status=answer.status)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    project(CLIENT=f"{module.__name__}.client", RENDER_ERROR=f"{module.__name__}.error_page")
    assert miroflow_django.get_client() is client
    assert browser.get("/miro/callback").content == b"dotted"


# --- the MIROFLOW setting -------------------------------------------------------------------


def test_a_client_function_gets_the_settings_config_over_the_environment(
    project: Project,
    miro_simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in miro_simulator.environment().items():
        monkeypatch.setenv(name, value)
    made: list[miroflow.ClientConfig] = []

    def make(config: miroflow.ClientConfig) -> miroflow.Client:
        made.append(config)
        return miroflow.Client(
            config,
            flows=miroflow.MemoryFlowStore(),
            tokens=miroflow.MemoryTokenStore(),
            transport=miro_simulator.transport,
        )

    project(CLIENT=make, LOGIN_PATH="/sign-in", FLOW_LIFETIME=60)
    client = miroflow_django.get_client()
    assert miroflow_django.get_client() is client and len(made) == 1  # built once
    assert (client.config.login_path, client.config.flow_lifetime) == ("/sign-in", 60)
    assert client.config.client_id == miro_simulator.environment()["MIRO_CLIENT_ID"]
    browser = Browser()
    assert browser.get("/sign-in").status_code == 302  # the route follows the config
    assert browser.get("/miro/login").status_code == 404


def test_swapping_the_setting_swaps_the_client(
    project: Project, client: miroflow.Client, miro_simulator: Simulator
) -> None:
    project(CLIENT=client)
    assert miroflow_django.get_client() is client
    other = miroflow.Client(
        miro_simulator.client_config(),
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=miro_simulator.transport,
    )
    with override_settings(MIROFLOW={"CLIENT": other}):
        assert miroflow_django.get_client() is other
    assert miroflow_django.get_client() is client


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({}, r"MIROFLOW\['CLIENT'\] is not set: set it to a miroflow.Client"),
        ({"CLIENT": "no_such_module.client"}, r"MIROFLOW\['CLIENT'\]: No module named"),
        ({"CLIENT": lambda config: "nope"}, r"MIROFLOW\['CLIENT'\] gave a str, no client"),
        ({"CLIENT": "x", "ON_SIGNIN": "y", "client_id": "1"}, "keys 'ON_SIGNIN', 'client_id'"),
        ({"CLIENT": "x", "RENDER_ERROR": "os.no_such_thing"}, r"MIROFLOW\['RENDER_ERROR'\]"),
    ],
)
def test_mistakes_in_the_setting_say_which_key_and_why(
    project: Project,
    setting: dict[str, object],
    message: str,
    miro_simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in miro_simulator.environment().items():
        monkeypatch.setenv(name, value)
    project(**setting, urls=False)
    with pytest.raises(ImproperlyConfigured, match=message):
        miroflow_django.get_client()


def test_a_ready_client_with_config_keys_is_refused(
    project: Project, client: miroflow.Client
) -> None:
    project(CLIENT=client, LOGIN_PATH="/elsewhere", urls=False)
    with pytest.raises(ImproperlyConfigured, match="is a client: LOGIN_PATH unused"):
        miroflow_django.get_client()


def test_a_bad_config_names_the_setting(
    project: Project, miro_simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in miro_simulator.environment().items():
        monkeypatch.setenv(name, value)
    project(CLIENT=lambda config: None, REDIRECT_URI="http://example.com/callback", urls=False)
    with pytest.raises(ImproperlyConfigured, match="MIROFLOW: redirect_uri uses http"):
        miroflow_django.get_client()
    monkeypatch.delenv("MIRO_CLIENT_ID")
    project(CLIENT=lambda config: None, urls=False)
    with pytest.raises(ImproperlyConfigured, match="MIRO_CLIENT_ID is not set"):
        miroflow_django.get_client()
