"""miroflow_django: Miro's "Install & authorize" in a Django project.

``path("", include("miroflow_django.urls"))`` adds the login and callback views; the
``MIROFLOW`` setting names the client and the hooks (README.md). Translation only: the client
decides, and its ``Answer`` is sent as it renders. Nothing reads the settings at import.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

import miroflow

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase

__all__ = ["SESSION_KEY", "ErrorHook", "SignedInHook", "callback", "current_tokens"]
__all__ += ["get_client", "login", "remember", "respond"]

#: Where the default ``ON_SIGNED_IN`` keeps who signed in: ``{"user_id": ..., "team_id": ...}``.
SESSION_KEY = "miroflow"
SignedInHook = Callable[[HttpRequest, miroflow.TokenSet], HttpResponse | None]
ErrorHook = Callable[[HttpRequest, miroflow.Answer], HttpResponse]
_WHO = ("user_id", "team_id")
_KEYS = ["CLIENT", "ON_SIGNED_IN", "RENDER_ERROR"]
# From the class's attrs fields, not its __init__'s signature (which a wrapper may hide).
_FIELDS = [
    (field.alias or field.name).upper()
    for field in attrs.fields(miroflow.ClientConfig)
    if field.init
]


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
    session: SessionBase | None = getattr(request, "session", None)
    if session is None:
        raise ImproperlyConfigured(
            "miroflow_django keeps who signed in in request.session: add 'django.contrib."
            "sessions.middleware.SessionMiddleware' to MIDDLEWARE, or set MIROFLOW['ON_SIGNED_IN']."
        )
    return session


def remember(request: HttpRequest, tokens: miroflow.TokenSet) -> None:
    """The default ``ON_SIGNED_IN``: who signed in, in ``request.session`` under a new session
    key (as ``django.contrib.auth.login`` does: no session fixation)."""
    session = _session(request)
    session.cycle_key()
    session[SESSION_KEY] = {"user_id": tokens.user_id, "team_id": tokens.team_id}


def _identity(request: HttpRequest) -> tuple[str, str] | None:
    who = _session(request).get(SESSION_KEY)
    if isinstance(who, dict) and all(isinstance(who.get(key), str) for key in _WHO):
        return who["user_id"], who["team_id"]
    return None


def _named(options: dict[str, Any], key: str, default: Any = None) -> Any:
    value = options.pop(key, default)
    try:
        return import_string(value) if isinstance(value, str) else value
    except ImportError as error:
        raise ImproperlyConfigured(f"MIROFLOW[{key!r}]: {error}") from None


def _load() -> tuple[miroflow.Client, SignedInHook, ErrorHook]:
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
            "MIROFLOW['CLIENT'] is not set: set it to a miroflow.Client, a function of a "
            "ClientConfig returning one, or the dotted path of either."
        )
    if not isinstance(client, miroflow.Client):
        try:  # the settings win; the environment (MIRO_CLIENT_ID, ...) fills in the rest
            config = miroflow.ClientConfig.from_env(**{k.lower(): v for k, v in options.items()})
        except miroflow.ConfigError as error:
            raise ImproperlyConfigured(f"MIROFLOW: {error}") from None
        client = client(config)
    elif options:
        raise ImproperlyConfigured(f"MIROFLOW['CLIENT'] is a client: {', '.join(options)} unused.")
    if not isinstance(client, miroflow.Client):
        raise ImproperlyConfigured(f"MIROFLOW['CLIENT'] gave a {type(client).__name__}, no Client.")
    return client, *hooks


_lock = threading.Lock()
_loaded: list[tuple[miroflow.Client, SignedInHook, ErrorHook]] = []


def _setup() -> tuple[miroflow.Client, SignedInHook, ErrorHook]:
    with _lock:  # built once, even when the first requests come in together
        if not _loaded:
            _loaded.append(_load())
        return _loaded[0]


def _reset(*, setting: str, **_: object) -> None:
    if setting == "MIROFLOW":  # override_settings(MIROFLOW=...): the next request builds anew
        _loaded.clear()


setting_changed.connect(_reset)


def get_client() -> miroflow.Client:
    """The client ``MIROFLOW['CLIENT']`` names, built on first use."""
    return _setup()[0]


def _inputs(request: HttpRequest) -> tuple[miroflow.Client, str, str | None]:
    client = get_client()  # QUERY_STRING: the raw query as received, under WSGI and ASGI
    return client, request.META.get("QUERY_STRING", ""), request.COOKIES.get(client.cookie_name)


def _send(request: HttpRequest, answer: miroflow.Answer) -> HttpResponse:
    _, on_signed_in, render_error = _setup()
    if answer.tokens is not None:
        return on_signed_in(request, answer.tokens) or respond(request, answer)
    if answer.continue_to is not None and _identity(request) is not None:
        # A replayed callback (the back button) from a browser signed in already: go on.
        return respond(request, answer.onward())
    return render_error(request, answer) if answer.error else respond(request, answer)


def login(request: HttpRequest) -> HttpResponse:
    """The login view (optional ``?team_id=`` and ``?next=``): a 302 to Miro."""
    client, query, cookie = _inputs(request)
    return _send(request, client.login(query, binding_cookie=cookie))


def callback(request: HttpRequest) -> HttpResponse:
    """The redirect URI's view: a 303 to the app's page, or an error page saying why."""
    client, query, cookie = _inputs(request)
    return _send(request, client.handle_callback(query, binding_cookie=cookie))


def current_tokens(request: HttpRequest) -> miroflow.TokenSet | None:
    """The stored tokens of the user and team signed in in ``request.session``, or None."""
    identity = _identity(request)
    return None if identity is None else get_client().stored_tokens(*identity)
