"""What the simulated Miro puts on the wire: Miro-shaped JSON answers, the redirects of the
consent page, and the parsing of parameters that Miro accepts in the query or a form body.

Every token-endpoint answer carries ``Cache-Control: no-store`` (RFC 6749 §5.1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit

from .._errors import MiroflowError
from .._http import HttpRequest, HttpResponse
from ._model import ACCESS_TOKEN_LIFETIME, App, AuthorizationRequest, Registry, TokenPair

__all__ = [
    "BadParameters",
    "append_query",
    "bearer_token",
    "check_verifier",
    "code_redirect",
    "denial_redirect",
    "miro_error",
    "no_content",
    "request_params",
    "token_context",
    "token_success",
]

_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
JSON_HEADERS = (("Content-Type", "application/json;charset=UTF-8"), *_NO_STORE)

#: Confirmed by Miro's documentation and its users' reports.
INVALID_CODE = "Invalid authorization code"
REDIRECT_MISMATCH = "Redirect URI mismatch."
#: UNCONFIRMED: Miro's wording for these is not documented; the shape is Miro's.
INVALID_CLIENT = "Invalid client credentials"
INVALID_REFRESH = "Invalid refresh token"
INVALID_VERIFIER = "Invalid code verifier"
INVALID_TOKEN = "Invalid access token"
UNEXPECTED_VERIFIER = "code_verifier sent for a code issued without a code_challenge"

#: RFC 7636 §4.1: 43 to 128 characters of [A-Za-z0-9-._~].
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


class BadParameters(MiroflowError):
    """The request's parameters cannot be read; ``response`` is the 400 to answer. Caught
    inside the server: it never reaches a caller."""

    code = "bad_parameters"
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.response = miro_error(400, "invalidParameters", message)


def check_verifier(verifier: str | None) -> None:
    """Refuse a ``code_verifier`` that breaks RFC 7636 §4.1 (a 400, the code untouched: a
    malformed parameter proves nothing about the code). An absent one is the machine's call."""
    if verifier is not None and _VERIFIER.fullmatch(verifier) is None:
        raise BadParameters(
            "The parameter 'code_verifier' must be 43 to 128 characters of "
            "A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 7636 §4.1)."
        )


def _json(status: int, document: object) -> HttpResponse:
    body = json.dumps(document, separators=(",", ":")).encode()
    return HttpResponse(status=status, headers=JSON_HEADERS, body=body)


def miro_error(status: int, code: str, message: str) -> HttpResponse:
    """Miro's error shape: ``{"status","code","message","type":"error"}``."""
    return _json(status, {"status": status, "code": code, "message": message, "type": "error"})


def oauth_error(message: str) -> HttpResponse:
    return miro_error(401, "oauthError", message)


def no_content() -> HttpResponse:
    return HttpResponse(status=204, headers=_NO_STORE)


def token_success(
    pair: TokenPair, registry: Registry, access_token: str, refresh_token: str
) -> HttpResponse:
    """Miro's success JSON, fields in Miro's order. Non-expiring apps get neither
    ``refresh_token`` nor ``expires_in``."""
    document: dict[str, object] = {"user_id": registry.id_value("user_id", pair.user_id)}
    if pair.refresh_hash is not None:
        document["refresh_token"] = refresh_token
    document["access_token"] = access_token
    if pair.access_expires_at is not None:
        document["expires_in"] = ACCESS_TOKEN_LIFETIME
    document.update(
        team_id=registry.id_value("team_id", pair.team_id),
        scope=" ".join(pair.scopes),
        token_type="bearer",
    )
    return _json(200, document)


def token_context(pair: TokenPair, registry: Registry) -> HttpResponse:
    """``GET /v1/oauth-token``: the token's type, organization, team, creator, user, scopes."""
    team = registry.teams.get(pair.team_id)
    user = registry.users.get(pair.user_id)
    user_id = registry.id_value("user_id", pair.user_id)
    user_doc = {"type": "user", "name": user.name if user else "", "id": user_id}
    return _json(
        200,
        {
            "type": "token",
            "organization": {
                "type": "organization",
                "name": registry.organization.name,
                "id": registry.id_value("organization_id", registry.organization.org_id),
            },
            "team": {
                "type": "team",
                "name": team.name if team else "",
                "id": registry.id_value("team_id", pair.team_id),
            },
            "createdBy": user_doc,
            "user": user_doc,
            "scopes": list(pair.scopes),
        },
    )


def append_query(uri: str, params: Iterable[tuple[str, str]]) -> str:
    """``uri`` with ``params`` added, keeping the registered URI's own query string."""
    encoded = urlencode(list(params))
    if not encoded:
        return uri
    if uri.endswith(("?", "&")):  # the registered URI already ends where params go
        return f"{uri}{encoded}"
    separator = "&" if urlsplit(uri).query else "?"
    return f"{uri}{separator}{encoded}"


def _redirect(location: str) -> HttpResponse:
    return HttpResponse(status=302, headers=(("Location", location), *_NO_STORE))


def code_redirect(request: AuthorizationRequest, code: str, team_id: str) -> HttpResponse:
    """The 302 after "Install & authorize": code, state (only if sent), client_id, team_id."""
    params = [("code", code)]
    if request.state is not None:
        params.append(("state", request.state))
    params += [("client_id", request.client_id), ("team_id", team_id)]
    return _redirect(append_query(request.redirect_uri, params))


def denial_redirect(request: AuthorizationRequest) -> HttpResponse:
    """The 302 after "Cancel" (UNCONFIRMED for Miro; RFC 6749 §4.1.2.1)."""
    params = [
        ("error", "access_denied"),
        ("error_description", "The user cancelled the installation."),
    ]
    if request.state is not None:
        params.append(("state", request.state))
    return _redirect(append_query(request.redirect_uri, params))


def _pairs(text: str, where: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadParameters(f"The {where} is not valid percent-encoded UTF-8.") from None


def request_params(request: HttpRequest, *, keep_blank: tuple[str, ...] = ()) -> dict[str, str]:
    """Parameters from the query string and a form-encoded body, as Miro accepts both. A
    parameter given twice with different values is refused rather than guessed at. Empty
    values count as absent, except for the names in ``keep_blank``."""
    found: dict[str, str] = {}
    pairs = _pairs(urlsplit(request.url).query, "query string")
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if request.body and content_type in ("", "application/x-www-form-urlencoded"):
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadParameters("The form body is not UTF-8.") from None
        pairs += _pairs(text, "form body")
    for name, value in pairs:
        if found.get(name, value) != value:
            raise BadParameters(f"The parameter '{name}' is given twice with different values.")
        found[name] = value
    return {name: value for name, value in found.items() if value != "" or name in keep_blank}


def bearer_token(request: HttpRequest) -> str | None:
    """The access token from ``Authorization: Bearer`` or the ``access_token`` query
    parameter (Miro documents both for ``GET /v1/oauth-token``)."""
    header = request.header("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        return value.strip() or None if scheme.lower() == "bearer" else None
    return dict(_pairs(urlsplit(request.url).query, "query string")).get("access_token") or None


def json_object(request: HttpRequest) -> Mapping[str, object]:
    try:
        document = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadParameters("The body is not JSON.") from None
    if not isinstance(document, dict):
        raise BadParameters("The body is not a JSON object.")
    return document


def app_redirect_matches(app: App, redirect_uri: str) -> bool:
    """Character for character: no normalisation of case, slashes or ``www.``."""
    return redirect_uri in app.redirect_uris


def token_not_found() -> HttpResponse:
    """UNCONFIRMED body: Miro documents only the 404 status of the v2 revoke."""
    return miro_error(404, "notFound", "Token not found")


def legacy_revoke_unknown(registry: Registry) -> HttpResponse:
    """The v1 revoke's answer for a token that does not work (UNCONFIRMED either way)."""
    return no_content() if registry.v1_revoke_unknown_ok else token_not_found()


def invalid_token() -> HttpResponse:
    """UNCONFIRMED body: Miro's shape for a bad bearer token on the REST API."""
    return miro_error(401, "tokenNotFound", INVALID_TOKEN)
