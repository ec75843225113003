"""The blueprint: two routes that hand Flask's request to a ``miroflow.Client`` and send its
answer back as it is. Translation only: every protocol decision is the client's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask
from flask.typing import ResponseReturnValue

import miroflow

__all__ = ["SESSION_KEY", "blueprint", "current_tokens", "page_response"]

#: Where the default ``on_signed_in`` keeps who signed in: ``flask.session["miroflow"]`` is
#: ``{"user_id": ..., "team_id": ...}`` (ids only: the tokens stay in the client's store).
SESSION_KEY = "miroflow"
#: The key of the app's ``extensions`` that holds the client the blueprint was built with.
_EXTENSION = "miroflow"

SignedInHook = Callable[[miroflow.TokenSet], ResponseReturnValue | None]
ErrorHook = Callable[[miroflow.Answer], ResponseReturnValue]


class _PageResponse(flask.Response):
    # A page is sent as rendered: a redirect has no Content-Type, and must not get Flask's.
    default_mimetype = None


def page_response(page: miroflow.Page) -> flask.Response:
    """A ``miroflow.Page`` (``answer.render(accept)``) as a Flask response: its status, every
    header pair as it is (``Set-Cookie`` included) and its body."""
    return _PageResponse(page.body, status=page.status, headers=page.headers)


def _remember(tokens: miroflow.TokenSet) -> None:
    flask.session[SESSION_KEY] = {"user_id": tokens.user_id, "team_id": tokens.team_id}


def _identity() -> tuple[str, str] | None:
    identity: Any = flask.session.get(SESSION_KEY)
    if not isinstance(identity, dict):
        return None
    user_id, team_id = identity.get("user_id"), identity.get("team_id")
    if isinstance(user_id, str) and isinstance(team_id, str):
        return user_id, team_id
    return None


def _rendered(answer: miroflow.Answer) -> flask.Response:
    return page_response(answer.render(flask.request.headers.get("Accept")))


def blueprint(
    client: miroflow.Client,
    *,
    on_signed_in: SignedInHook | None = None,
    render_error: ErrorHook | None = None,
    is_signed_in: Callable[[], bool] | None = None,
    name: str = "miroflow",
) -> flask.Blueprint:
    """A blueprint with the login route (``client.config.login_path``) and the callback route
    (the redirect URI's path), as endpoints ``<name>.login`` and ``<name>.callback``.

    ``on_signed_in(tokens)`` runs when a flow ends with tokens (in the callback's request, so
    ``flask.request`` and ``flask.session`` are there); it may return a response to send
    instead of the 303 to the app's page. Default: ``flask.session["miroflow"] =
    {"user_id": ..., "team_id": ...}`` (set ``app.secret_key``).
    ``render_error(answer)`` makes the response for a failed login or callback (default: the
    core's page, HTML or JSON by the Accept header, with ``answer.status``); ``answer.error``
    says what failed (``.code``, ``.message`` for the person).
    ``is_signed_in()`` tells whether the current request's user is signed in (default: the
    session holds the identity above): such a user who replays a callback (the back button)
    is sent on to where the flow was going instead of being shown "already used".
    """
    remember = on_signed_in or _remember
    signed_in = is_signed_in or (lambda: _identity() is not None)
    failed = render_error or _rendered
    config = client.config
    pages = flask.Blueprint(name, __name__)

    @pages.record_once
    def _register(state: Any) -> None:
        state.app.extensions[_EXTENSION] = client

    def binding_cookie() -> str | None:
        return flask.request.cookies.get(client.cookie_name)

    def answered(answer: miroflow.Answer) -> ResponseReturnValue:
        return _rendered(answer) if answer.error is None else failed(answer)

    @pages.get(config.login_path, endpoint="login")
    def login() -> ResponseReturnValue:
        # The raw query string as the browser sent it: the core parses it, strictly.
        return answered(client.login(flask.request.query_string, binding_cookie=binding_cookie()))

    @pages.get(config.callback_path, endpoint="callback")
    def callback() -> ResponseReturnValue:
        query = flask.request.query_string
        answer = client.handle_callback(query, binding_cookie=binding_cookie())
        if answer.tokens is not None:
            reply = remember(answer.tokens)
            return _rendered(answer) if reply is None else reply
        if answer.continue_to is not None and signed_in():
            return _rendered(answer.onward())  # a replay from a signed-in browser: go on
        return answered(answer)

    return pages


def current_tokens() -> miroflow.TokenSet | None:
    """The valid tokens of the user and team the session signed in (the default
    ``on_signed_in``), refreshed first when due, or None when nobody did or they must sign in
    again. Needs a request and an app with the blueprint registered."""
    identity = _identity()
    if identity is None:
        return None
    client = flask.current_app.extensions.get(_EXTENSION)
    if not isinstance(client, miroflow.Client):
        raise RuntimeError("current_tokens() needs miroflow_flask.blueprint(...) registered")
    return client.signed_in_tokens(*identity)
