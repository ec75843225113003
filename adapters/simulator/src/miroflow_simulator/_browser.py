"""The consent host's browser-facing side: the sign-in page, the consent page and its form.

A browser reaches "Install & authorize" signed in: with a session cookie from the simulated
sign-in page, or (``SignIn.AUTOMATIC``, the default) as the default user when it has none,
as if it had signed in to miro.com before. ``SignIn.PAGE`` sends a browser without a session
to the sign-in page first. Either way the consent form carries a CSRF token that the model
binds to the session (or to "no session"), the user and the authorization request: a form
posted from another session, for another request, a second time or without the token gets a
403 page and never a redirect. The user is always the signed-in one, never a form field.
"""

from __future__ import annotations

import enum
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from miroflow import HttpRequest, HttpResponse, MiroflowError
from miroflow.simulator import AuthorizationRequestRejected, request_params

from . import _pages as pages

if TYPE_CHECKING:
    from ._simulator import Simulator

__all__ = [
    "AUTHORIZE_PATH",
    "SESSION_COOKIE",
    "SIGN_IN_PATH",
    "SIGN_OUT_PATH",
    "SignIn",
    "authorize",
    "sign_in",
    "sign_out",
]

AUTHORIZE_PATH = "/oauth/authorize"
SIGN_IN_PATH = "/login"
SIGN_OUT_PATH = "/logout"
#: UNCONFIRMED: Miro's own cookie names are not documented (and not part of the contract).
SESSION_COOKIE = "simulator_session"


class SignIn(str, enum.Enum):
    """Who a browser without a session cookie is on the consent host (UNCONFIRMED choice of
    the simulator; on Miro a browser without a session must sign in)."""

    AUTOMATIC = "automatic"  # the default user, as if signed in before (no extra page)
    PAGE = "page"  # nobody: the sign-in page comes first, as on Miro


def session_cookie(request: HttpRequest) -> str | None:
    """The session cookie's value, if the request carries one."""
    header = request.header("Cookie")
    if not header:
        return None
    try:
        jar = SimpleCookie(header)
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def _set_cookie(sim: Simulator, value: str, max_age: int) -> str:
    secure = "; Secure" if sim.base_url.startswith("https:") else ""
    return f"{SESSION_COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}"


def _safe_next(target: str | None) -> str:
    """Only a path on this host (never another site: the sign-in page is no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _see_other(location: str, *cookies: str) -> HttpResponse:
    headers = [("Location", location), ("Cache-Control", "no-store")]
    headers += [("Set-Cookie", cookie) for cookie in cookies]
    return HttpResponse(status=303, headers=tuple(headers))


def authorize(sim: Simulator, request: HttpRequest) -> HttpResponse:
    """``GET /oauth/authorize`` (the consent page) and ``POST`` (its form)."""
    method = request.method.upper()
    if method not in ("GET", "POST"):
        return pages.error_page(405, "Use GET to open the consent page.")
    try:
        # Query and form alike; a parameter given twice with different values is refused
        # (RFC 6749 §3.1). An empty state= is kept: the registry decides what it means.
        params = request_params(request, keep_blank=("state",))
    except MiroflowError:
        return pages.error_page(400, "The authorization request's parameters are unreadable.")
    try:
        if method == "GET":
            return _consent(sim, request, params)
        return _decide(sim, request, params)
    except AuthorizationRequestRejected as error:
        return pages.error_page(error.status_code, error.message)


def _consent(sim: Simulator, request: HttpRequest, query: dict[str, str]) -> HttpResponse:
    server = sim.server
    checked = server.check_authorization(query)
    registry = server.registry
    auto = sim.auto_approve_as
    if auto is not None:
        user_id, team_id = auto["user_id"] or "", auto["team_id"]
        teams = registry.users[user_id].team_ids
        chosen = team_id or (checked.team_id if checked.team_id in teams else teams[0])
        return server.approve(checked, user_id=user_id, team_id=chosen, now=sim.now())
    here = _here(request)
    session = session_cookie(request)
    signed_in = server.session_user(session, now=sim.now())
    if signed_in is None:
        if sim.sign_in is SignIn.PAGE:
            return _see_other(f"{SIGN_IN_PATH}?next={quote(here, safe='')}")
        session, signed_in = None, sim.default_user
    csrf = server.show_consent(checked, user_id=signed_in, session_token=session, now=sim.now())
    return pages.consent_page(
        registry=registry,
        app=registry.apps[checked.client_id],
        request=checked,
        user=registry.users[signed_in],
        action=AUTHORIZE_PATH,
        csrf_token=csrf,
        switch_user=f"{SIGN_IN_PATH}?next={quote(here, safe='')}",
    )


def _decide(sim: Simulator, request: HttpRequest, form: dict[str, str]) -> HttpResponse:
    checked = sim.server.check_authorization(form)
    decision = form.get("decision")
    if decision not in ("approve", "cancel"):
        raise AuthorizationRequestRejected("Choose Install & authorize or Cancel.")
    return sim.server.submit_consent(
        form.get("csrf_token"),
        checked,
        session_token=session_cookie(request),
        approve=decision == "approve",
        team_id=form.get("team_id"),
        posted_user_id=form.get("user_id"),
        now=sim.now(),
    )


def _here(request: HttpRequest) -> str:
    parts = urlsplit(request.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def sign_in(sim: Simulator, request: HttpRequest) -> HttpResponse:
    """``GET /login``: pick a user; ``POST /login``: sign in and go back to ``next``."""
    try:
        params = request_params(request)
    except MiroflowError:
        return pages.error_page(400, "The sign-in form is unreadable.")
    target = _safe_next(params.get("next"))
    if request.method.upper() == "GET":
        return pages.sign_in_page(sim.server.registry, action=SIGN_IN_PATH, next_path=target)
    if request.method.upper() != "POST":
        return pages.error_page(405, "Use GET or POST.")
    user_id = params.get("user_id", "")
    if user_id not in sim.server.registry.users:
        return pages.error_page(400, "Pick a user to sign in as.")
    token = sim.server.sign_in(user_id, now=sim.now())
    return _see_other(target, _set_cookie(sim, token, 24 * 3600))


def sign_out(sim: Simulator, request: HttpRequest) -> HttpResponse:
    """``POST /logout``: end the session and drop its cookie."""
    if request.method.upper() != "POST":
        return pages.error_page(405, "Use POST to sign out.")
    session = session_cookie(request)
    if session is not None:
        sim.server.sign_out(session, now=sim.now())
    try:
        target = _safe_next(request_params(request).get("next"))
    except MiroflowError:
        target = "/"
    return _see_other(target, _set_cookie(sim, "", 0))
