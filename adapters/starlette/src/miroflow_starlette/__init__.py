"""miroflow-starlette: "Sign in with Miro" for Starlette and FastAPI apps.

Two routes (login and callback) on a ``miroflow.AsyncClient``, and the current user's tokens
as a dependency. The adapter only translates requests and responses: every decision (what a
callback means, which status, which headers, what the page says) is miroflow's.

    miro = Miroflow(client)
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=...)
    app.include_router(miro.router)  # Starlette: Starlette(routes=[*miro.routes, ...])

    @app.get("/")
    async def home(tokens: Annotated[TokenSet | None, Depends(miro.current_tokens)]): ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import miroflow

__all__ = [
    "SESSION_KEY",
    "IsSignedIn",
    "Miroflow",
    "OnSignedIn",
    "RenderError",
    "remember",
    "send",
]

#: Where the default ``on_signed_in`` keeps who signed in, in ``request.session``.
SESSION_KEY = "miroflow"

#: Called with the request and the new tokens once a flow is consumed; a response it returns
#: is sent instead of miroflow's redirect to the app's page.
OnSignedIn = Callable[[Request, miroflow.TokenSet], Awaitable[Response | None]]
#: Renders an error answer as the app's own page.
RenderError = Callable[[Request, miroflow.Answer], Awaitable[Response]]
#: Whether the request's browser is signed in to the app (for an app that keeps its own
#: sessions in ``on_signed_in``); by default, whether ``current_tokens`` finds tokens.
IsSignedIn = Callable[[Request], Awaitable[bool]]


def send(page: miroflow.Page) -> Response:
    """A miroflow ``Page`` as a Starlette response, every header as it is."""
    response = Response(page.body, status_code=page.status)
    response.raw_headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in page.headers
    )
    return response


async def remember(request: Request, tokens: miroflow.TokenSet) -> None:
    """The default ``on_signed_in``: keep the user and team in the session."""
    request.session[SESSION_KEY] = {"user_id": tokens.user_id, "team_id": tokens.team_id}


async def _page(request: Request, answer: miroflow.Answer) -> Response:
    return send(answer.render(request.headers.get("accept")))


class Miroflow:
    """The login and callback routes of one Miro app, at ``client.config.login_path`` and the
    redirect URI's path; ``current_tokens`` is a FastAPI dependency."""

    def __init__(
        self,
        client: miroflow.AsyncClient,
        *,
        on_signed_in: OnSignedIn | None = None,
        render_error: RenderError | None = None,
        is_signed_in: IsSignedIn | None = None,
    ) -> None:
        self.client = client
        self.on_signed_in = on_signed_in or remember
        self.render_error = render_error or _page
        self.is_signed_in = is_signed_in or self._has_tokens
        config = client.config
        self.routes = [
            Route(config.login_path, self.login, methods=["GET"], name="miroflow_login"),
            Route(config.callback_path, self.callback, methods=["GET"], name="miroflow_callback"),
        ]

    @property
    def router(self) -> Any:
        """The routes as a FastAPI ``APIRouter`` (``app.include_router(miro.router)``)."""
        from fastapi import APIRouter

        router = APIRouter()
        for route in self.routes:
            path, endpoint, name = route.path, route.endpoint, route.name
            router.add_route(path, endpoint, methods=["GET"], name=name, include_in_schema=False)
        return router

    def _binding(self, request: Request) -> str | None:
        if self.on_signed_in is remember and "session" not in request.scope:
            # Checked before any flow starts: never a user sent through Miro for nothing.
            raise miroflow.ConfigError(
                "miroflow-starlette keeps who signed in in request.session: add Starlette's "
                "SessionMiddleware to the app, or pass on_signed_in to Miroflow."
            )
        return request.cookies.get(self.client.cookie_name)

    async def _respond(self, request: Request, answer: miroflow.Answer) -> Response:
        if answer.error is not None:
            return await self.render_error(request, answer)
        return await _page(request, answer)

    async def login(self, request: Request) -> Response:
        """Start a flow (``?team_id=...&next=/path``): a 302 to Miro's consent page."""
        query = request.scope["query_string"]
        return await self._respond(
            request, await self.client.login(query, binding_cookie=self._binding(request))
        )

    async def callback(self, request: Request) -> Response:
        """Miro's redirect back: a 303 to the app's page, or an error page saying why."""
        answer = await self.client.handle_callback(
            request.scope["query_string"], binding_cookie=self._binding(request)
        )
        if answer.tokens is not None:
            custom = await self.on_signed_in(request, answer.tokens)
            if custom is not None:
                return custom
        elif answer.continue_to is not None and await self.is_signed_in(request):
            answer = answer.onward()  # already signed in: a replay is no error to them
        return await self._respond(request, answer)

    async def _has_tokens(self, request: Request) -> bool:
        return await self.current_tokens(request) is not None

    async def current_tokens(self, request: Request) -> miroflow.TokenSet | None:
        """The signed-in user's valid tokens for this app, refreshed first when due (None if
        nobody is signed in, or they must sign in again)."""
        who = request.session.get(SESSION_KEY) if "session" in request.scope else None
        if not isinstance(who, dict):
            return None
        return await self.client.signed_in_tokens(who.get("user_id"), who.get("team_id"))
