"""miroflow_django: Miro's "Install & authorize" in a Django project.

``path("", include("miroflow_django.urls"))`` adds the login and callback views; the
``MIROFLOW`` setting names the client and the hooks (README.md). Translation only: the client
decides, and its ``Answer`` is sent as it renders. Nothing reads the settings at import.

Sync views for a ``miroflow.Client``, async views (``alogin``, ``acallback``) for an
``AsyncClient``, written once: a view is a generator of steps (a call: the client's, a hook's,
the session read) that a sync or an async runner carries out, as the core's clients run its
procedures. Each runner calls a step of the other kind the way Django calls a middleware of
the other kind: ``async_to_sync`` in a sync view, ``sync_to_async`` (Django's thread for sync
code, where the ORM and the session's store may be used) in an async view.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Generator
from functools import partial
from typing import Any, TypeAlias, TypeVar

import attrs
from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

import miroflow

__all__ = ["SESSION_KEY", "ErrorHook", "SignedInHook", "acallback", "acurrent_tokens", "alogin"]
__all__ += ["callback", "current_tokens", "get_client", "login", "remember", "respond"]

#: Where the default ``ON_SIGNED_IN`` keeps who signed in: ``{"user_id": ..., "team_id": ...}``.
SESSION_KEY = "miroflow"
_T = TypeVar("_T")
_MaybeAsync: TypeAlias = _T | Awaitable[_T]
#: A hook is a plain function or an ``async def`` one, with either client.
SignedInHook = Callable[[HttpRequest, miroflow.TokenSet], _MaybeAsync[HttpResponse | None]]
ErrorHook = Callable[[HttpRequest, miroflow.Answer], _MaybeAsync[HttpResponse]]
_Client = miroflow.Client | miroflow.AsyncClient
# What a view does, written once: it yields ``(function, *arguments)`` and gets the result.
_Steps = Generator[tuple[Any, ...], Any, _T]
_KEYS = ["CLIENT", "ON_SIGNED_IN", "RENDER_ERROR"]
# From the class's attrs fields, not its __init__'s signature (which a wrapper may hide).
_FIELDS = [(f.alias or f.name).upper() for f in attrs.fields(miroflow.ClientConfig) if f.init]


def respond(request: HttpRequest, answer: miroflow.Answer) -> HttpResponse:
    """``answer`` as a Django response, as it renders for the request's Accept header (the
    default ``RENDER_ERROR``)."""
    page = answer.render(request.headers.get("Accept"))
    response = HttpResponse(page.body, status=page.status)
    del response["Content-Type"]  # the page's headers say what it is (a redirect has none)
    for name, value in page.headers:
        if name.lower() == "set-cookie":  # Django's header dict holds one value per name
            response.cookies.load(value)
        else:
            response[name] = value
    return response


def _session(request: HttpRequest) -> SessionBase:
    if not hasattr(request, "session"):
        raise ImproperlyConfigured(
            "miroflow_django keeps who signed in in request.session: add 'django.contrib."
            "sessions.middleware.SessionMiddleware' to MIDDLEWARE, or set MIROFLOW['ON_SIGNED_IN']."
        )
    return request.session


def remember(request: HttpRequest, tokens: miroflow.TokenSet) -> None:
    """The default ``ON_SIGNED_IN``: who signed in, in ``request.session`` under a new session
    key (as ``django.contrib.auth.login`` does: no session fixation)."""
    _session(request).cycle_key()
    request.session[SESSION_KEY] = {"user_id": tokens.user_id, "team_id": tokens.team_id}


def _identity(request: HttpRequest) -> tuple[str, str] | None:
    who: Any = _session(request).get(SESSION_KEY)
    ok = isinstance(who, dict) and all(isinstance(who.get(k), str) for k in ("user_id", "team_id"))
    return (who["user_id"], who["team_id"]) if ok else None


def _named(options: dict[str, Any], key: str, default: Any = None) -> Any:
    value = options.pop(key, default)
    try:
        return import_string(value) if isinstance(value, str) else value
    except ImportError as error:
        raise ImproperlyConfigured(f"MIROFLOW[{key!r}]: {error}") from None


def _load() -> tuple[_Client, SignedInHook, ErrorHook]:
    options = dict(getattr(settings, "MIROFLOW", None) or {})
    unknown = ", ".join(repr(key) for key in sorted(set(options) - {*_KEYS, *_FIELDS}))
    if unknown:
        raise ImproperlyConfigured(
            f"MIROFLOW has unknown keys {unknown}: it takes {', '.join(_KEYS)} and "
            f"ClientConfig's fields in capitals ({', '.join(_FIELDS)})."
        )
    hooks = _named(options, "ON_SIGNED_IN", remember), _named(options, "RENDER_ERROR", respond)
    client = _named(options, "CLIENT")
    if client is None:
        raise ImproperlyConfigured(
            "MIROFLOW['CLIENT'] is not set: set it to a miroflow.Client or AsyncClient, a "
            "function of a ClientConfig returning one, or the dotted path of either."
        )
    if not isinstance(client, _Client):
        try:  # the settings win; the environment (MIRO_CLIENT_ID, ...) fills in the rest
            config = miroflow.ClientConfig.from_env(**{k.lower(): v for k, v in options.items()})
        except miroflow.ConfigError as error:
            raise ImproperlyConfigured(f"MIROFLOW: {error}") from None
        client = client(config)
    elif options:
        raise ImproperlyConfigured(f"MIROFLOW['CLIENT'] is a client: {', '.join(options)} unused.")
    if not isinstance(client, _Client):
        raise ImproperlyConfigured(f"MIROFLOW['CLIENT'] gave a {type(client).__name__}, no client.")
    return client, *hooks


_lock = threading.Lock()
_loaded: list[tuple[_Client, SignedInHook, ErrorHook]] = []


def _setup() -> tuple[_Client, SignedInHook, ErrorHook]:
    with _lock:  # built once, even when the first requests come in together
        if not _loaded:
            _loaded.append(_load())
        return _loaded[0]


def _reset(*, setting: str, **_: object) -> None:
    if setting == "MIROFLOW":  # override_settings(MIROFLOW=...): the next request builds anew
        _loaded.clear()


setting_changed.connect(_reset)


def get_client() -> miroflow.Client | miroflow.AsyncClient:
    """The client ``MIROFLOW['CLIENT']`` names, built on first use."""
    return _setup()[0]


def _run(steps: _Steps[_T], result: Any = None) -> _T:
    """Carry ``steps`` out in a sync view, one call at a time (a view makes 3 at most)."""
    try:
        function, *arguments = steps.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    if iscoroutinefunction(function):
        function = async_to_sync(function)
    return _run(steps, function(*arguments))


async def _arun(steps: _Steps[_T], result: Any = None) -> _T:
    """Carry ``steps`` out in an async view."""
    try:
        function, *arguments = steps.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    if not iscoroutinefunction(function):
        function = sync_to_async(function)
    return await _arun(steps, await function(*arguments))


def _view(request: HttpRequest, start: str) -> _Steps[HttpResponse]:
    client, on_signed_in, render_error = _setup()
    # QUERY_STRING: the raw query as received, under WSGI and ASGI.
    query, cookie = request.META.get("QUERY_STRING", ""), request.COOKIES.get(client.cookie_name)
    answer: miroflow.Answer = yield partial(getattr(client, start), binding_cookie=cookie), query
    if answer.tokens is not None:
        # The hook's own response, if it gives one.
        return (yield on_signed_in, request, answer.tokens) or respond(request, answer)
    if answer.continue_to is not None and (yield _identity, request) is not None:
        # A replayed callback (the back button) from a browser signed in already: go on.
        return respond(request, answer.onward())
    if answer.error is None or render_error is respond:  # no I/O: called here, no thread
        return respond(request, answer)
    return (yield render_error, request, answer)  # type: ignore[no-any-return]


def _current(request: HttpRequest) -> _Steps[miroflow.TokenSet | None]:
    identity = yield _identity, request
    return None if identity is None else (yield get_client().signed_in_tokens, *identity)


def login(request: HttpRequest) -> HttpResponse:
    """The login view (optional ``?team_id=`` and ``?next=``): a 302 to Miro."""
    return _run(_view(request, "login"))


def callback(request: HttpRequest) -> HttpResponse:
    """The redirect URI's view: a 303 to the app's page, or an error page saying why."""
    return _run(_view(request, "handle_callback"))


def current_tokens(request: HttpRequest) -> miroflow.TokenSet | None:
    """The valid tokens (refreshed first when due) of the user and team signed in in
    ``request.session``, or None when nobody is or they must sign in again."""
    return _run(_current(request))


async def alogin(request: HttpRequest) -> HttpResponse:
    """``login`` as an async view, for an ``AsyncClient`` (``urls`` picks it for one)."""
    return await _arun(_view(request, "login"))


async def acallback(request: HttpRequest) -> HttpResponse:
    """``callback`` as an async view, for an ``AsyncClient`` (``urls`` picks it for one)."""
    return await _arun(_view(request, "handle_callback"))


async def acurrent_tokens(request: HttpRequest) -> miroflow.TokenSet | None:
    """``current_tokens`` for async views: ``await acurrent_tokens(request)``."""
    return await _arun(_current(request))
