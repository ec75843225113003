"""The simulator's HTML pages: the consent page and the error page.

Plain semantic HTML that reads well without CSS and works with a keyboard alone: a labelled
team picker, then "Install & authorize" (the default button) and "Cancel", in tab order.
Every value shown or carried is HTML-escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

from miroflow import HttpResponse
from miroflow.simulator import App, AuthorizationRequest, Registry, User

__all__ = ["consent_page", "error_page", "html_response", "index_page"]

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


def error_page(status: int, message: str) -> HttpResponse:
    """A 400 page: the request cannot be honoured, and the browser is never redirected."""
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
    query: dict[str, str],
) -> HttpResponse:
    """The Install dialog: who is signed in, the app and its scopes, a team picker, and the
    two buttons. The form posts the checked request back to ``action``."""
    options = []
    chosen = request.team_id if request.team_id in user.team_ids else user.team_ids[0]
    for team_id in user.team_ids:
        team = registry.teams.get(team_id)
        label = f"{team.name} ({team_id})" if team else team_id
        selected = " selected" if team_id == chosen else ""
        options.append(f'<option value="{escape(team_id)}"{selected}>{escape(label)}</option>')
    others = [
        f'<li><a href="{escape(action)}?{escape(urlencode({**query, "simulator_user": uid}))}">'
        f"{escape(other.name)}</a></li>"
        for uid, other in registry.users.items()
        if uid != user.user_id
    ]
    switch = (
        f"<p>Not {escape(user.name)}? Sign in as:</p>\n<ul>\n{''.join(others)}\n</ul>\n"
        if others
        else ""
    )
    scopes = "".join(f"<li>{escape(scope)}</li>" for scope in app.scopes)
    main = (
        f"<h1>Install {escape(app.name)}</h1>\n"
        f"<p>Signed in as <strong>{escape(user.name)}</strong> ({escape(user.user_id)}).</p>\n"
        f"{switch}"
        f"<p>{escape(app.name)} (client {escape(app.client_id)}) asks for:</p>\n"
        f"<ul>\n{scopes}\n</ul>\n"
        f'<form method="post" action="{escape(action)}">\n'
        + _hidden("response_type", "code")
        + _hidden("client_id", request.client_id)
        + _hidden("redirect_uri", request.redirect_uri)
        + _hidden("state", request.state)
        + _hidden("code_challenge", request.code_challenge)
        + _hidden("code_challenge_method", "S256" if request.code_challenge else None)
        + _hidden("user_id", user.user_id)
        + '<p><label for="team">Install into team</label>\n'
        f'<select id="team" name="team_id">\n{"".join(options)}\n</select></p>\n'
        '<p><button type="submit" name="decision" value="approve">Install &amp; authorize'
        "</button>\n"
        '<button type="submit" name="decision" value="cancel">Cancel</button></p>\n'
        "</form>"
    )
    return html_response(200, _document(f"Install {app.name}", main))


def index_page(sim: Any) -> HttpResponse:
    """``GET /``: what this is, its endpoints and the registered apps (no secrets)."""
    endpoints = "".join(
        f"<li>{escape(label)}: <code>{escape(sim.base_url + path)}</code></li>"
        for label, path in (
            ("Authorize", "/oauth/authorize"),
            ("Token", "/v1/oauth/token"),
            ("Revoke (v2)", "/v2/oauth/revoke"),
            ("Token context", "/v1/oauth-token"),
            ("Test controls", "/_simulator/state"),
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
