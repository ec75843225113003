"""miroflow-starlette under uvicorn on loopback: the web adapter conformance suite (with
FastAPI and with Starlette alone), and what is Starlette's own: the hooks, the dependency, and
a clear error when no session middleware is there."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse
from miroflow_simulator.testing import Browser, Site, WebAdapterConformance, serving_asgi
from miroflow_sqlite import AsyncSQLiteFlowStore, AsyncSQLiteTokenStore
from miroflow_starlette import IsSignedIn, Miroflow, OnSignedIn, RenderError
from miroflow_urllib import AsyncUrllibTransport
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import miroflow


def _client(config: miroflow.ClientConfig, clock: Callable[[], float], database: Path) -> Any:
    return miroflow.AsyncClient(
        config,
        flows=AsyncSQLiteFlowStore(path=database),
        tokens=AsyncSQLiteTokenStore(path=database),
        transport=AsyncUrllibTransport(),
        clock=clock,
    )


def _who(tokens: miroflow.TokenSet | None) -> str:
    if tokens is None:
        return "Not signed in"
    return f"Signed in as user {tokens.user_id} in team {tokens.team_id}"


def fastapi_app(
    client: miroflow.AsyncClient,
    on_signed_in: OnSignedIn | None = None,
    render_error: RenderError | None = None,
    is_signed_in: IsSignedIn | None = None,
) -> FastAPI:
    miro = Miroflow(
        client, on_signed_in=on_signed_in, render_error=render_error, is_signed_in=is_signed_in
    )
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key="test only")
    app.include_router(miro.router)

    @app.get("/", response_class=HTMLResponse)
    @app.get("/boards", response_class=HTMLResponse)
    # The default-value form: FastAPI cannot resolve an annotation naming a local (``miro``).
    async def home(tokens: miroflow.TokenSet | None = Depends(miro.current_tokens)) -> str:  # noqa: B008
        return f"<p>{_who(tokens)}</p>"

    return app


def starlette_app(client: miroflow.AsyncClient, *, sessions: bool = True) -> Starlette:
    miro = Miroflow(client)

    async def home(request: Request) -> Response:
        return PlainTextResponse(_who(await miro.current_tokens(request)))

    middleware = [Middleware(SessionMiddleware, secret_key="test only")] if sessions else []
    return Starlette(
        routes=[*miro.routes, Route("/", home), Route("/boards", home)], middleware=middleware
    )


class TestFastAPI(WebAdapterConformance):
    @contextmanager
    def serve(
        self, config: miroflow.ClientConfig, *, clock: Callable[[], float], database: Path
    ) -> Iterator[None]:
        with serving_asgi(fastapi_app(_client(config, clock, database)), config.redirect_uri):
            yield


class TestStarlette(WebAdapterConformance):
    @contextmanager
    def serve(
        self, config: miroflow.ClientConfig, *, clock: Callable[[], float], database: Path
    ) -> Iterator[None]:
        with serving_asgi(starlette_app(_client(config, clock, database)), config.redirect_uri):
            yield


class TestHooks(WebAdapterConformance):
    """The app's own hooks: a response from on_signed_in is sent as it is; render_error draws
    the error pages (the conformance tests below run against the default ones)."""

    signed_in: list[miroflow.TokenSet]

    @contextmanager
    def serve(
        self, config: miroflow.ClientConfig, *, clock: Callable[[], float], database: Path
    ) -> Iterator[None]:
        self.signed_in = []

        async def welcome(request: Request, tokens: miroflow.TokenSet) -> Response:
            self.signed_in.append(tokens)
            request.session["our user"] = tokens.user_id  # the app's own session
            return PlainTextResponse(f"welcome {tokens.user_id}", status_code=200)

        async def ours(request: Request) -> bool:
            return "our user" in request.session

        async def own_page(request: Request, answer: miroflow.Answer) -> Response:
            assert answer.error is not None
            return PlainTextResponse(
                f"our page: {answer.error.code}", status_code=answer.status,
                headers={"X-Content-Type-Options": "nosniff"},
            )

        app = fastapi_app(_client(config, clock, database), welcome, own_page, ours)
        with serving_asgi(app, config.redirect_uri):
            yield

    # The suite's tests assume the default pages; here the hooks' own are checked instead.
    def test_hooks(self, site: Site, browser: Browser) -> None:
        back = browser.to_miro("next=/boards")
        landed = browser.get(back)
        assert landed.status_code == 200
        assert landed.text.startswith("welcome ")
        replayed = browser.get(back)  # signed in by the app's own session: sent on
        assert replayed.status_code == 303
        assert replayed.headers["location"] == "/boards"
        assert [t.user_id for t in self.signed_in] == [site.simulator.default_user]
        refused = browser.login("next=//evil.example")
        assert (refused.status_code, refused.text) == (400, "our page: malformed_login")


# Only TestHooks' own test runs: the inherited ones expect miroflow's default pages.
for _name in [n for n in dir(WebAdapterConformance) if n.startswith("test_")]:
    setattr(TestHooks, _name, None)


def test_without_session_middleware_no_flow_starts_and_the_log_says_what_to_add(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from miroflow_simulator import LoopbackServer, Simulator
    from miroflow_simulator.testing import free_port

    with LoopbackServer(Simulator()) as miro:
        simulator = miro.simulator
        uri = f"http://127.0.0.1:{free_port()}/miro/callback"
        config = simulator.client_config(simulator.register_app([uri]))
        app = starlette_app(_client(config, simulator.now, tmp_path / "db"), sessions=False)
        with serving_asgi(app, uri):
            site = Site(url=uri.removesuffix("/miro/callback"), config=config, simulator=simulator)
            browser = Browser(site)
            # uvicorn's loggers stop propagating once any uvicorn config (the simulator's) ran.
            server_log = logging.getLogger("uvicorn.error")
            server_log.addHandler(caplog.handler)
            try:
                assert browser.login().status_code == 500
                # uvicorn logs the exception once the 500 is sent: wait for it (bounded).
                deadline = time.monotonic() + 10
                while "SessionMiddleware" not in caplog.text and time.monotonic() < deadline:
                    time.sleep(0.01)
            finally:
                server_log.removeHandler(caplog.handler)
            assert "add Starlette's SessionMiddleware" in caplog.text
            assert simulator.log == ()  # nobody was sent to Miro
            assert httpx.get(site.at("/")).text == "Not signed in"
            browser.close()
