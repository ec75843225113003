"""What goes out on the wire, as pure functions: the authorization link and the token-endpoint
requests, exactly to Miro's contract (specs/flow.md, "The wire").

The fixed part of each is encoded once per ``ClientConfig``; a call only concatenates.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
from urllib.parse import quote

from ._config import ClientConfig
from ._errors import UsageError
from ._http import HttpRequest

__all__ = [
    "authorize_url",
    "b64url",
    "code_challenge",
    "refresh_request",
    "revoke_request",
    "token_request",
]

_FORM_HEADERS = (
    ("Content-Type", "application/x-www-form-urlencoded"),
    ("Accept", "application/json"),
)
_JSON_HEADERS = (("Content-Type", "application/json"), ("Accept", "application/json"))


_URL_SAFE = bytes.maketrans(b"+/", b"-_")
#: RFC 3986 unreserved characters only: a value made of these needs no percent-encoding.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*")


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5): 32 bytes become 43 URL-safe characters."""
    # binascii and a translation table: the same bytes as base64.urlsafe_b64encode, faster.
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_URL_SAFE).decode()


def _encoded(value: str) -> str:
    """``value`` percent-encoded for a query or form; returned as it is when it needs no
    encoding (states, codes and verifiers usually don't), which skips quote()'s cost."""
    # A regular expression: twice as fast as str.rstrip over the 66 allowed characters.
    return value if _UNRESERVED.fullmatch(value) else quote(value, safe="")


def code_challenge(verifier: str) -> str:
    """The PKCE S256 challenge of ``verifier`` (RFC 7636 §4.2)."""
    try:
        ascii_verifier = verifier.encode("ascii")
    except UnicodeEncodeError:
        # RFC 7636 §4.1 verifiers are unreserved ASCII; say so rather than leak a codec error.
        raise UsageError("A PKCE code_verifier must be ASCII (RFC 7636 §4.1).") from None
    return b64url(hashlib.sha256(ascii_verifier).digest())


def authorize_url(
    config: ClientConfig,
    state: str,
    *,
    team_id: str | None = None,
    code_verifier: str | None = None,
) -> str:
    """The link that sends the browser to Miro's consent page.

    ``team_id`` only pre-selects a team (the user may pick another). Every value is
    percent-encoded, so a caller's odd value can never add or change a parameter.
    """
    url = f"{config._authorize_prefix}&state={_encoded(state)}"
    if team_id is not None:
        url += f"&team_id={_encoded(team_id)}"
    if code_verifier is not None:
        url += f"&code_challenge={code_challenge(code_verifier)}&code_challenge_method=S256"
    return url


def token_request(
    config: ClientConfig, code: str, *, code_verifier: str | None = None
) -> HttpRequest:
    """The code exchange: a form-encoded POST with the secret in the body, never the URL, and
    the redirect URI identical to the authorization request's."""
    if not code:
        raise UsageError("token_request needs the authorization code.")
    body = (
        f"grant_type=authorization_code&code={_encoded(code)}"
        f"{config._redirect_uri_param}{config._client_credentials}"
    )
    if code_verifier is not None:
        body += f"&code_verifier={_encoded(code_verifier)}"
    return HttpRequest(
        method="POST", url=config.token_endpoint, headers=_FORM_HEADERS, body=body.encode()
    )


def refresh_request(config: ClientConfig, refresh_token: str) -> HttpRequest:
    """A refresh-token grant. Miro rotates: the answer carries a new pair and the old pair
    stops working at once, so refreshes of one token set must be serialized."""
    if not refresh_token:
        raise UsageError("refresh_request needs a refresh token.")
    body = (
        f"grant_type=refresh_token&refresh_token={_encoded(refresh_token)}"
        f"{config._client_credentials}"
    )
    return HttpRequest(
        method="POST", url=config.token_endpoint, headers=_FORM_HEADERS, body=body.encode()
    )


def revoke_request(config: ClientConfig, access_token: str) -> HttpRequest:
    """Miro's v2 revoke (JSON body; 204 on success, 404 for an unknown token). It also kills
    the refresh token; the app stays installed."""
    if not access_token:
        raise UsageError("revoke_request needs an access token.")
    body = json.dumps(
        {
            "accessToken": access_token,
            "clientId": config.client_id,
            "clientSecret": config.client_secret.reveal(),
        },
        separators=(",", ":"),
    )
    return HttpRequest(
        method="POST", url=config.revoke_endpoint, headers=_JSON_HEADERS, body=body.encode()
    )
