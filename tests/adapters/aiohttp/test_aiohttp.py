"""miroflow-aiohttp: the web adapter conformance suite over a real aiohttp server (AppRunner and
TCPSite on an event loop in a thread), and what is aiohttp's own: the hooks, the session
identity, ``current_tokens``, sub-apps, GET only, the raw query string, the access log."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_session
import miroflow_aiohttp
import pytest
from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from miroflow_httpx import AsyncHttpxTransport
from miroflow_simulator import LoopbackServer, Simulator
from miroflow_simulator.testing import Browser, Site, WebAdapterConformance, free_port
from miroflow_sqlite import AsyncSQLiteFlowStore, AsyncSQLiteTokenStore

import miroflow

# aiohttp-session 2.12 keeps its state under plain string keys, which aiohttp 3.14 frowns on.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")

SESSION_SECRET = os.urandom(32)  # raw bytes: aiohttp-session makes the Fernet key
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def page(request: web.Request) -> web.Response:
    tokens = await miroflow_aiohttp.current_tokens(request)
    if tokens is None:
        return web.Response(text="Not signed in")
    return web.Response(text=f"Signed in as user {tokens.user_id} in team {tokens.team_id}")


def build_app(
    config: miroflow.ClientConfig,
    *,
    clock: Callable[[], float],
    database: Path,
    sessions: bool = True,
    client_class: type[miroflow.AsyncClient] = miroflow.AsyncClient,
    routes: dict[str, Handler] | None = None,
    sub_apps: dict[str, web.Application] | None = None,
    **hooks: Any,
) -> web.Application:
    client = client_class(
        config,
        flows=AsyncSQLiteFlowStore(database, client_id=config.client_id),
        tokens=AsyncSQLiteTokenStore(database, client_id=config.client_id),
        transport=AsyncHttpxTransport(),
        clock=clock,
    )
    app = web.Application()
    if sessions:
        aiohttp_session.setup(app, EncryptedCookieStorage(SESSION_SECRET, samesite="Lax"))
    miroflow_aiohttp.setup(app, client, **hooks)
    for path, handler in {"/": page, "/boards": page, **(routes or {})}.items():
        app.router.add_get(path, handler)
    for prefix, sub_app in (sub_apps or {}).items():
        app.add_subapp(prefix, sub_app)
    return app


@contextmanager
def running(app: web.Application, url: str) -> Iterator[None]:
    """``app`` served by aiohttp's runner on ``url``'s host and port, on an event loop in a
    thread, until the context exits."""
    where = urlsplit(url)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(app, access_log_class=miroflow_aiohttp.AccessLogger)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, where.hostname, where.port).start()

    try:
        # Returns once the socket listens; bounded, so a server that cannot start fails.
        asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
        yield
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


class TestConformance(WebAdapterConformance):
    def serve(
        self, config: miroflow.ClientConfig, *, clock: Callable[[], float], database: Path
    ) -> AbstractContextManager[None]:
        return running(build_app(config, clock=clock, database=database), config.redirect_uri)


# --- aiohttp's own ----------------------------------------------------------------------------

Serve = Callable[..., tuple[Site, Browser]]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """``serve(**options)``: an app built with ``build_app(**options)`` against a simulator
    on loopback; its site and a browser for it."""
    with ExitStack() as stack:
        simulator = stack.enter_context(LoopbackServer(Simulator())).simulator

        def served(**options: Any) -> tuple[Site, Browser]:
            url = f"http://127.0.0.1:{free_port()}"
            config = simulator.client_config(simulator.register_app([f"{url}/miro/callback"]))
            app = build_app(config, clock=simulator.now, database=tmp_path / "app.db", **options)
            stack.enter_context(running(app, url))
            site = Site(url=url, config=config, simulator=simulator)
            browser = Browser(site)
            stack.callback(browser.close)
            return site, browser

        yield served


async def no_session(request: web.Request, tokens: miroflow.TokenSet) -> None:
    """An app's own ``on_signed_in`` that keeps the identity elsewhere."""


def test_on_signed_in_sees_the_tokens_and_may_answer_instead(serve: Serve) -> None:
    seen: list[miroflow.TokenSet] = []

    async def on_signed_in(request: web.Request, tokens: miroflow.TokenSet) -> web.Response:
        seen.append(tokens)
        return web.Response(text="welcome")

    site, browser = serve(on_signed_in=on_signed_in, sessions=False)
    landed = browser.sign_in()
    assert (landed.status_code, landed.text) == (200, "welcome")
    assert [tokens.user_id for tokens in seen] == [site.simulator.default_user]


def test_an_on_signed_in_returning_none_gets_the_303_and_needs_no_session(serve: Serve) -> None:
    _, browser = serve(on_signed_in=no_session, sessions=False)
    back = browser.to_miro("next=/boards")
    landed = browser.get(back)
    assert (landed.status_code, landed.headers["location"]) == (303, "/boards")
    # Nobody is known signed in without a session: a replay is an error for the app to render.
    assert browser.get(back).status_code == 409


def test_render_error_makes_every_error_page(serve: Serve) -> None:
    async def render_error(request: web.Request, answer: miroflow.Answer) -> web.Response:
        assert answer.error is not None
        return web.Response(status=answer.status, text=f"our page: {answer.error.code}")

    site, browser = serve(render_error=render_error)
    refused = browser.login("next=//evil.example/")
    assert (refused.status_code, refused.text) == (400, "our page: malformed_login")
    bare = browser.get(site.at(site.config.callback_path))
    assert (bare.status_code, bare.text) == (400, "our page: malformed_callback")
    assert browser.sign_in().status_code == 303  # a success is not an error


def test_is_signed_in_sends_a_replay_on_for_an_app_with_its_own_identity(serve: Serve) -> None:
    async def is_signed_in(request: web.Request) -> bool:
        return request.cookies.get("our_session") == "ada"

    _, browser = serve(on_signed_in=no_session, is_signed_in=is_signed_in, sessions=False)
    back = browser.to_miro("next=/boards")
    assert browser.get(back).status_code == 303
    assert browser.get(back).status_code == 409  # not signed in to the app
    browser.http.cookies.set("our_session", "ada")
    again = browser.get(back)
    assert (again.status_code, again.headers["location"]) == (303, "/boards")
    assert again.headers["cache-control"] == "no-store"
    assert again.headers["referrer-policy"] == "no-referrer"


async def show_session(request: web.Request) -> web.Response:
    return web.json_response(dict(await aiohttp_session.get_session(request)))


async def plant(request: web.Request) -> web.Response:
    session = await aiohttp_session.get_session(request)
    session.update(json.loads(request.query["data"]))
    return web.Response(text="planted")


def test_the_identity_is_kept_in_a_new_session(serve: Serve) -> None:
    site, browser = serve(routes={"/session": show_session, "/plant": plant})
    browser.get(site.at('/plant?data={"cart":1}')).raise_for_status()
    assert browser.get(site.at("/session")).json() == {"cart": 1}
    user = site.simulator.default_user
    team = site.simulator.server.registry.users[user].team_ids[-1]
    assert browser.sign_in(f"team_id={team}").status_code == 303
    # A new session: what it held before sign-in is gone (a planted session is not signed in).
    assert browser.get(site.at("/session")).json() == {
        "miroflow": {"user_id": user, "team_id": team}
    }


@pytest.mark.parametrize("planted", ['"someone"', "{}", '{"user_id": 1, "team_id": "2"}'])
def test_current_tokens_is_none_without_an_identity(serve: Serve, planted: str) -> None:
    site, browser = serve(routes={"/plant": plant})
    assert browser.get(site.at("/")).text == "Not signed in"
    browser.get(site.at(f'/plant?data={{"miroflow":{planted}}}')).raise_for_status()
    assert browser.get(site.at("/")).text == "Not signed in"


def test_current_tokens_is_none_when_the_tokens_are_gone(serve: Serve) -> None:
    async def forget(request: web.Request) -> web.Response:
        tokens = await miroflow_aiohttp.current_tokens(request)
        assert tokens is not None
        client = request.config_dict[miroflow_aiohttp.CLIENT]
        await client.tokens.delete(
            miroflow.TokenKey(
                client_id=tokens.client_id, user_id=tokens.user_id, team_id=tokens.team_id
            )
        )
        return web.Response(text="forgotten")

    site, browser = serve(routes={"/forget": forget})
    browser.sign_in()
    assert "Signed in as user" in browser.get(site.at("/")).text
    assert browser.get(site.at("/forget")).text == "forgotten"
    assert browser.get(site.at("/")).text == "Not signed in"


def test_current_tokens_in_a_sub_app(serve: Serve) -> None:
    boards = web.Application()
    boards.router.add_get("/", page)
    site, browser = serve(sub_apps={"/boards-app": boards})
    assert browser.get(site.at("/boards-app/")).text == "Not signed in"
    browser.sign_in()
    assert "Signed in as user" in browser.get(site.at("/boards-app/")).text


def test_only_get_is_routed_so_a_head_spends_no_code(serve: Serve) -> None:
    site, browser = serve()
    back = browser.to_miro()
    httpx_log = logging.getLogger("httpx")  # it logs the HEAD's URL, and so Miro's code
    httpx_log.disabled = True
    try:
        assert browser.http.head(back).status_code == 405
        assert browser.http.head(site.at(site.config.login_path)).status_code == 405
    finally:
        httpx_log.disabled = False
    assert browser.get(back).status_code == 303
    assert len(site.simulator.token_requests("authorization_code")) == 1


def test_the_query_string_reaches_the_client_as_sent(serve: Serve) -> None:
    seen: list[str | bytes] = []

    class Recording(miroflow.AsyncClient):
        async def login(
            self, query: str | bytes = "", *, binding_cookie: str | None = None
        ) -> miroflow.Answer:
            seen.append(query)
            return await super().login(query, binding_cookie=binding_cookie)

    _, browser = serve(client_class=Recording)
    raw = "next=/boards%3Fview%3Dgrid+x%2Fy&team_id="
    browser.login(raw)
    assert seen == [raw]


def test_the_access_log_holds_no_code_or_state(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    site, browser = serve()
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        back = browser.to_miro()
        browser.get(back)
        # aiohttp logs a request once its answer is sent; the next on the same connection
        # is read after that.
        browser.get(site.at("/"))
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any('"GET /miro/callback" 303' in line for line in lines), lines
    query = urlsplit(back).query
    assert query and not any(query in line or "code=" in line for line in lines)
