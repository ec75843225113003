"""miroflow_django with an AsyncClient: the web adapter conformance suite with async views
under ASGI (uvicorn serving Django's handler), then what is async's own: views that are
coroutines for an AsyncClient, hooks plain or async in sync or async views, and
acurrent_tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import miroflow_django
import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient as AsyncBrowser
from django.test import Client as Browser
from django.urls import resolve
from miroflow_simulator import Simulator
from miroflow_simulator.testing import WebAdapterConformance
from miroflow_sqlite import (
    AsyncSQLiteFlowStore,
    AsyncSQLiteTokenStore,
)
from miroflow_urllib import AsyncUrllibTransport

import miroflow

# The conftest's helpers reach the tests as fixtures (importlib mode: no imports between
# test modules), except these two values, written again here.
SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
REDIRECT_URI = "http://127.0.0.1:8000/miro/callback"

Project = Callable[..., None]
ToMiroAndBack = Callable[[str], str]
Serving = Callable[[Any, str], AbstractContextManager[None]]


class TestAsyncConformance(WebAdapterConformance):
    """The same suite with an AsyncClient: async views (and an async home page reading
    ``acurrent_tokens``) under ASGI, Django's handler served by uvicorn."""

    @pytest.fixture(autouse=True)
    def _project(self, project: Project, uvicorn_serving: Serving) -> None:
        self.configure, self.serving = project, uvicorn_serving

    @contextmanager
    def serve(
        self, config: miroflow.ClientConfig, *, clock: Callable[[], float], database: Path
    ) -> Iterator[None]:
        client = miroflow.AsyncClient(
            config,
            flows=AsyncSQLiteFlowStore(database, client_id=config.client_id),
            tokens=AsyncSQLiteTokenStore(database, client_id=config.client_id),
            transport=AsyncUrllibTransport(),
            clock=clock,
        )
        self.configure(CLIENT=client, async_home=True)
        assert iscoroutinefunction(resolve(config.callback_path).func)
        with self.serving(ASGIHandler(), config.redirect_uri):
            yield


def test_the_views_run_under_asgi_too(
    project: Project, client: miroflow.Client, to_miro_and_back: ToMiroAndBack
) -> None:
    # Django's ASGI handler runs sync views in its thread pool, and passes the raw query on.
    project(CLIENT=client)
    browser = AsyncBrowser()

    async def sign_in() -> tuple[int, str, bytes]:
        started = await browser.get("/miro/login?next=/boards%3Fview%3Dgrid")
        landed = await browser.get(to_miro_and_back(started["Location"]))
        page = await browser.get("/boards")
        return landed.status_code, landed["Location"], page.content

    status, location, page = async_to_sync(sign_in)()
    assert (status, location) == (303, "/boards?view=grid")
    assert page.startswith(b"Signed in as user ")



# --- async views, for an AsyncClient ----------------------------------------------------------


def test_the_views_are_async_for_an_async_client_and_sync_for_a_client(
    project: Project, client: miroflow.Client, async_client: miroflow.AsyncClient
) -> None:
    project(CLIENT=async_client)
    assert resolve("/miro/login").func is miroflow_django.alogin
    assert resolve("/miro/callback").func is miroflow_django.acallback
    assert iscoroutinefunction(miroflow_django.alogin)
    assert iscoroutinefunction(miroflow_django.acallback)
    project(CLIENT=client)
    assert resolve("/miro/login").func is miroflow_django.login
    assert resolve("/miro/callback").func is miroflow_django.callback
    assert not iscoroutinefunction(miroflow_django.login)
    assert not iscoroutinefunction(miroflow_django.callback)


def test_a_client_function_may_give_an_async_client(
    project: Project, miro_simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in miro_simulator.environment().items():
        monkeypatch.setenv(name, value)

    def make(config: miroflow.ClientConfig) -> miroflow.AsyncClient:
        flows, tokens = miroflow.AsyncMemoryFlowStore(), miroflow.AsyncMemoryTokenStore()
        return miroflow.AsyncClient(
            config, flows=flows, tokens=tokens, transport=miro_simulator.async_transport
        )

    project(CLIENT=make)
    assert isinstance(miroflow_django.get_client(), miroflow.AsyncClient)
    assert resolve("/miro/callback").func is miroflow_django.acallback


@pytest.mark.parametrize("views", ["sync", "async"])
@pytest.mark.parametrize("hooks", ["plain", "async"])
def test_hooks_may_be_plain_or_async_functions_in_sync_or_async_views(
    project: Project,
    client: miroflow.Client,
    async_client: miroflow.AsyncClient,
    to_miro_and_back: ToMiroAndBack,
    views: str,
    hooks: str,
) -> None:
    # A plain hook in an async view runs in Django's thread for sync code (sync_to_async); an
    # async hook in a sync view runs in an event loop (async_to_sync): either may use the
    # session (and the ORM) as it would anywhere else.
    def signed_in(request: HttpRequest, tokens: miroflow.TokenSet) -> None:
        miroflow_django.remember(request, tokens)
        request.session["greeted"] = hooks

    def error_page(request: HttpRequest, answer: miroflow.Answer) -> HttpResponse:
        assert answer.error is not None
        return HttpResponse(f"ours: {answer.error.code}", status=answer.status)

    async def asigned_in(request: HttpRequest, tokens: miroflow.TokenSet) -> None:
        await request.session.acycle_key()
        who = {"user_id": tokens.user_id, "team_id": tokens.team_id}
        await request.session.aset(miroflow_django.SESSION_KEY, who)
        await request.session.aset("greeted", hooks)

    async def aerror_page(request: HttpRequest, answer: miroflow.Answer) -> HttpResponse:
        return error_page(request, answer)

    on_signed_in, render_error = (signed_in, error_page) if hooks == "plain" else (
        asigned_in, aerror_page
    )
    browser: Browser | AsyncBrowser
    if views == "sync":
        project(CLIENT=client, ON_SIGNED_IN=on_signed_in, RENDER_ERROR=render_error)
        browser = Browser()
        get: Callable[..., Any] = browser.get
    else:
        project(
            CLIENT=async_client, ON_SIGNED_IN=on_signed_in, RENDER_ERROR=render_error,
            async_home=True,
        )
        browser = AsyncBrowser()
        get = async_to_sync(browser.get)
    landed = get(to_miro_and_back(get("/miro/login?next=/boards")["Location"]))
    assert (landed.status_code, landed["Location"]) == (303, "/boards")
    assert browser.session["greeted"] == hooks
    assert get("/boards").content.startswith(b"Signed in as user ")
    bad_login = get("/miro/login?next=//evil.example")
    assert (bad_login.status_code, bad_login.content) == (400, b"ours: malformed_login")
    bare = get("/miro/callback")
    assert (bare.status_code, bare.content) == (400, b"ours: malformed_callback")


def test_an_async_on_signed_in_may_answer_instead(
    project: Project, async_client: miroflow.AsyncClient, to_miro_and_back: ToMiroAndBack
) -> None:
    async def welcome(request: HttpRequest, tokens: miroflow.TokenSet) -> HttpResponse:
        return HttpResponse(f"welcome {tokens.user_id}", status=201)

    project(CLIENT=async_client, ON_SIGNED_IN=welcome)
    browser = AsyncBrowser()
    get = async_to_sync(browser.get)
    back = to_miro_and_back(get("/miro/login")["Location"])
    landed = get(back)
    assert (landed.status_code, landed.content[:8]) == (201, b"welcome ")
    assert get(back).status_code == 409  # the hook kept no identity: a replay is no sign-in


def test_acurrent_tokens_reads_the_sessions_identity(
    project: Project, async_client: miroflow.AsyncClient, to_miro_and_back: ToMiroAndBack
) -> None:
    project(CLIENT=async_client, async_home=True)
    browser = AsyncBrowser()
    get = async_to_sync(browser.get)
    assert get("/").content == b"Not signed in"
    assert get(to_miro_and_back(get("/miro/login")["Location"])).status_code == 303
    identity = browser.session[miroflow_django.SESSION_KEY]
    tokens = async_to_sync(async_client.stored_tokens)(identity["user_id"], identity["team_id"])
    assert tokens is not None
    assert get("/").content.decode() == (
        f"Signed in as user {tokens.user_id} in team {tokens.team_id}"
    )
    request = HttpRequest()
    request.session = browser.session
    assert async_to_sync(miroflow_django.acurrent_tokens)(request) == tokens
    for session in [{}, {miroflow_django.SESSION_KEY: ["1", "2"]}]:
        request.session = session  # type: ignore[assignment]
        assert async_to_sync(miroflow_django.acurrent_tokens)(request) is None


def test_current_tokens_in_a_sync_view_works_with_an_async_client(
    project: Project, async_client: miroflow.AsyncClient, to_miro_and_back: ToMiroAndBack
) -> None:
    # A sync page in an app whose client is async: Django runs it in a thread, and
    # current_tokens awaits the client's store from there (async_to_sync).
    project(CLIENT=async_client)  # the sync home page
    browser = AsyncBrowser()
    get = async_to_sync(browser.get)
    assert get(to_miro_and_back(get("/miro/login")["Location"])).status_code == 303
    assert get("/").content.startswith(b"Signed in as user ")
