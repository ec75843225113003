"""The login and callback routes of an ``aiohttp.web.Application``: each only translates the
request for ``miroflow.AsyncClient`` and sends back the page it renders.

Who is signed in is kept in aiohttp-session's session (the one aiohttp apps share with
aiohttp-security and friends) unless the app passes its own ``on_signed_in``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp_session
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from miroflow import Answer, AsyncClient, Page, TokenSet

#: Where ``setup`` keeps the client: ``request.config_dict[CLIENT]`` in a handler.
CLIENT = web.AppKey("miroflow_client", AsyncClient)
#: The session key of the signed-in identity: ``{"user_id": ..., "team_id": ...}``.
SESSION_KEY = "miroflow"

#: ``on_signed_in(request, tokens)``: the app's own response, or None for the default page.
OnSignedIn = Callable[[web.Request, TokenSet], Awaitable[web.StreamResponse | None]]
#: ``render_error(request, answer)``: the response for a failed sign-in.
RenderError = Callable[[web.Request, Answer], Awaitable[web.StreamResponse]]
#: ``is_signed_in(request)``: whether the browser is signed in to the app.
IsSignedIn = Callable[[web.Request], Awaitable[bool]]


def send(page: Page) -> web.Response:
    """A rendered ``Page`` as an aiohttp response, every header pair as it is (Set-Cookie
    included)."""
    return web.Response(status=page.status, body=page.body, headers=page.headers)


def _accept(request: web.Request) -> str | None:
    return request.headers.get("Accept")


def _query(request: web.Request) -> str:
    # As the browser sent it: the core reads it strictly, so nothing may decode it first.
    return request.rel_url.raw_query_string


async def _remember(request: web.Request, tokens: TokenSet) -> None:
    """The default ``on_signed_in``: the identity in a new session (a new session id on
    sign-in, so that a session planted before it is not the one signed in)."""
    session = await aiohttp_session.new_session(request)
    session[SESSION_KEY] = {"user_id": tokens.user_id, "team_id": tokens.team_id}


async def _render(request: web.Request, answer: Answer) -> web.StreamResponse:
    return send(answer.render(_accept(request)))


async def _identity(request: web.Request) -> tuple[str, str] | None:
    """The session's signed-in (user_id, team_id), or None."""
    value = (await aiohttp_session.get_session(request)).get(SESSION_KEY)
    if not isinstance(value, dict):
        return None
    user_id, team_id = value.get("user_id"), value.get("team_id")
    if isinstance(user_id, str) and isinstance(team_id, str):
        return user_id, team_id
    return None


async def _signed_in(request: web.Request) -> bool:
    # An app with its own on_signed_in may run no session middleware (and pass its own
    # is_signed_in): without one, nobody is known signed in.
    if request.get(aiohttp_session.STORAGE_KEY) is None:
        return False
    return await _identity(request) is not None


async def current_tokens(request: web.Request) -> TokenSet | None:
    """The valid tokens of the session's signed-in user and team (refreshed first when due:
    ``client.signed_in_tokens``), or None when nobody is signed in or they must sign in again.
    Needs aiohttp-session's middleware (``aiohttp_session.setup(app, storage)``)."""
    identity = await _identity(request)
    if identity is None:
        return None
    return await request.config_dict[CLIENT].signed_in_tokens(*identity)


def setup(
    app: web.Application,
    client: AsyncClient,
    *,
    on_signed_in: OnSignedIn | None = None,
    render_error: RenderError | None = None,
    is_signed_in: IsSignedIn | None = None,
) -> None:
    """Add the login route (``client.config.login_path``) and the callback route (the redirect
    URI's path) to ``app``, the application at the site's root (the paths are the site's),
    and keep ``client`` in ``app[CLIENT]``.

    ``on_signed_in(request, tokens)`` runs when a flow ends with tokens; by default it keeps
    the identity in aiohttp-session's session under ``"miroflow"`` (set its middleware up
    first). It may return a response to send instead of the 303 to the app's page.
    ``render_error(request, answer)`` makes the response for a failed sign-in (by default
    the core's page: HTML, or JSON when asked for; ``answer.error`` says what failed).
    ``is_signed_in(request)`` (by default: the session holds an identity) sends a signed-in
    browser that replays a callback on to where its flow was going, instead of an error.
    """
    signed_in = on_signed_in or _remember
    failed = render_error or _render
    known = is_signed_in or _signed_in
    app[CLIENT] = client

    async def login(request: web.Request) -> web.StreamResponse:
        cookie = request.cookies.get(client.cookie_name)
        answer = await client.login(_query(request), binding_cookie=cookie)
        if answer.error is not None:
            return await failed(request, answer)
        return send(answer.render(_accept(request)))

    async def callback(request: web.Request) -> web.StreamResponse:
        cookie = request.cookies.get(client.cookie_name)
        answer = await client.handle_callback(_query(request), binding_cookie=cookie)
        if answer.tokens is not None:
            response = await signed_in(request, answer.tokens)
            # ``is None``: an aiohttp response is a mapping, and an empty one is falsy.
            if response is not None:
                return response
            return send(answer.render(_accept(request)))
        if answer.continue_to is not None and await known(request):
            # A replayed callback (back button, double submit) from a signed-in browser.
            return send(answer.onward().render(_accept(request)))
        return await failed(request, answer)

    # GET only: a HEAD (a link checker, a prefetch) must not spend Miro's single-use code.
    app.router.add_get(client.config.login_path, login, allow_head=False, name="miroflow_login")
    app.router.add_get(
        client.config.callback_path, callback, allow_head=False, name="miroflow_callback"
    )


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access log without query strings (the callback's holds Miro's code and the
    flow's state): ``web.run_app(app, access_log_class=miroflow_aiohttp.AccessLogger)``."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        line = f'{request.remote} "{request.method} {request.path}" {response.status}'
        self.logger.info("%s %.3fs", line, time)
