"""The simulator's HTML pages: the consent page and the error page.

Plain semantic HTML that reads well without CSS and works with a keyboard alone: a labelled
team picker, then "Install & authorize" (the default button) and "Cancel", in tab order.
Every value shown or carried is HTML-escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from miroflow import HttpResponse
from miroflow.simulator import App, AuthorizationRequest, Registry, User

__all__ = [
    "consent_page",
    "error_page",
    "html_response",
    "index_page",
    "not_found_page",
    "sign_in_page",
]

_HTML_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
)


def html_response(status: int, body: str) -> HttpResponse:
    return HttpResponse(status=status, headers=_HTML_HEADERS, body=body.encode())


def _document(title: str, main: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n</head>\n<body>\n<main>\n{main}\n</main>\n"
        "<footer><p>miroflow simulator: not the real Miro.</p></footer>\n</body>\n</html>\n"
    )


def not_found_page() -> HttpResponse:
    """What the consent host (a web site, not the API) answers for any other path."""
    return html_response(404, _document("Not found", "<h1>Not found</h1>"))


def error_page(status: int, message: str) -> HttpResponse:
    """A 4xx page: the request cannot be honoured, and the browser is never redirected."""
    main = (
        "<h1>This app cannot be installed</h1>\n"
        f"<p>{escape(message)}</p>\n"
        "<p>Check the app's client ID and its redirect URI: it must equal, character for "
        "character, one registered for the app.</p>"
    )
    return html_response(status, _document("Authorization error", main))


def _hidden(name: str, value: str | None) -> str:
    if value is None:
        return ""
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">\n'


def consent_page(
    *,
    registry: Registry,
    app: App,
    request: AuthorizationRequest,
    user: User,
    action: str,
    csrf_token: str,
    switch_user: str,
) -> HttpResponse:
    """The Install dialog: who is signed in, the app and its scopes, a team picker, and the
    two buttons. The form posts the checked request back to ``action`` with its CSRF token."""
    options = []
    chosen = request.team_id if request.team_id in user.team_ids else user.team_ids[0]
    for team_id in user.team_ids:
        team = registry.teams.get(team_id)
        label = f"{team.name} ({team_id})" if team else team_id
        selected = " selected" if team_id == chosen else ""
        options.append(f'<option value="{escape(team_id)}"{selected}>{escape(label)}</option>')
    scopes = "".join(f"<li>{escape(scope)}</li>" for scope in app.scopes)
    main = (
        f"<h1>Install {escape(app.name)}</h1>\n"
        f"<p>Signed in as <strong>{escape(user.name)}</strong> ({escape(user.user_id)}). "
        f'<a href="{escape(switch_user)}">Not {escape(user.name)}? Sign in as someone else</a>'
        "</p>\n"
        f"<p>{escape(app.name)} (client {escape(app.client_id)}) asks for:</p>\n"
        f"<ul>\n{scopes}\n</ul>\n"
        f'<form method="post" action="{escape(action)}">\n'
        + _hidden("csrf_token", csrf_token)
        + _hidden("response_type", "code")
        + _hidden("client_id", request.client_id)
        + _hidden("redirect_uri", request.redirect_uri)
        + _hidden("state", request.state)
        + _hidden("code_challenge", request.code_challenge)
        + _hidden("code_challenge_method", "S256" if request.code_challenge else None)
        + '<p><label for="team">Install into team</label>\n'
        f'<select id="team" name="team_id">\n{"".join(options)}\n</select></p>\n'
        '<p><button type="submit" name="decision" value="approve">Install &amp; authorize'
        "</button>\n"
        '<button type="submit" name="decision" value="cancel">Cancel</button></p>\n'
        "</form>"
    )
    return html_response(200, _document(f"Install {app.name}", main))


def sign_in_page(registry: Registry, *, action: str, next_path: str) -> HttpResponse:
    """The simulated miro.com sign-in: pick one of the registered users (no password)."""
    choices = "".join(
        f'<p><label><input type="radio" name="user_id" value="{escape(uid)}"'
        f"{' checked' if index == 0 else ''}> {escape(user.name)} ({escape(uid)})</label></p>\n"
        for index, (uid, user) in enumerate(registry.users.items())
    )
    main = (
        "<h1>Sign in to Miro (simulated)</h1>\n"
        f'<form method="post" action="{escape(action)}">\n'
        + _hidden("next", next_path)
        + f"<fieldset><legend>Sign in as</legend>\n{choices}</fieldset>\n"
        '<p><button type="submit">Sign in</button></p>\n</form>'
    )
    return html_response(200, _document("Sign in", main))


def index_page(sim: Any) -> HttpResponse:
    """``GET /``: what this is, its endpoints and the registered apps (no secrets)."""
    endpoints = "".join(
        f"<li>{escape(label)}: <code>{escape(base + path)}</code></li>"
        for label, base, path in (
            ("Authorize", sim.base_url, "/oauth/authorize"),
            ("Sign in", sim.base_url, "/login"),
            ("Token", sim.api_url, "/v1/oauth/token"),
            ("Revoke (v2)", sim.api_url, "/v2/oauth/revoke"),
            ("Revoke (v1, deprecated)", sim.api_url, "/v1/oauth/revoke"),
            ("Token context", sim.api_url, "/v1/oauth-token"),
            ("Test controls", sim.base_url, "/_simulator/state"),
        )
    )
    apps = "".join(
        f"<li>client {escape(app.client_id)}: redirect URIs "
        f"{escape(', '.join(app.redirect_uris))}</li>"
        for app in sim.apps.values()
    )
    main = (
        "<h1>miroflow simulator</h1>\n<p>A simulated Miro authorization server.</p>\n"
        f"<h2>Endpoints</h2>\n<ul>{endpoints}</ul>\n<h2>Apps</h2>\n<ul>{apps}</ul>"
    )
    return html_response(200, _document("miroflow simulator", main))
