"""The token endpoint's answer, parsed without trust.

Accepts Miro's success JSON, Miro's error shape (``{"status","code","message","type"}``) and
RFC 6749 §5.2 errors (``{"error","error_description"}``). IDs stay exact strings even when
they arrive as JSON numbers above 2**53 (Miro sometimes sends ``team_id`` that way): integers
are never parsed through a float. Wrong types, missing fields, NaN, huge numbers,
booleans-as-ints, deep nesting and oversized bodies all become ``TokenResponseMalformed``.
"""

from __future__ import annotations

import json
from typing import Any

from ._errors import CodeRejected, TokenRequestRejected, TokenResponseMalformed
from ._http import HttpResponse
from ._model import TokenSet

__all__ = ["parse_token_response"]

MAX_BODY = 64 * 1024
MAX_ID_LENGTH = 64
MAX_TOKEN_LENGTH = 8192
#: Ten years: anything longer is not a real access-token lifetime.
MAX_EXPIRES_IN = 10 * 365 * 24 * 3600
_MAX_TEXT = 300


class _IntLiteral(str):
    """A JSON integer, kept as its exact digits."""

    __slots__ = ()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


class _FieldGivenTwice(ValueError):
    """A JSON object names a field twice."""


def _unique_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        # As with a callback parameter given twice: never let the first or the last one win.
        raise _FieldGivenTwice("a JSON object in the body gives a field twice")
    return document


# Built once: json.loads with options builds a new decoder on every call.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_fields,
    parse_int=_IntLiteral,
    parse_float=_parse_float,
    parse_constant=_reject_constant,
)


def _load_json(body: bytes) -> Any:
    return _DECODER.decode(body.decode("utf-8"))


def _safe_text(value: object) -> str | None:
    """Text from Miro shown to a person: printable ASCII, bounded."""
    if not isinstance(value, str) or isinstance(value, _IntLiteral):
        return None
    cleaned = "".join(ch for ch in value if ch.isascii() and ch.isprintable())
    return cleaned[:_MAX_TEXT] or None


def _malformed(reason: str) -> TokenResponseMalformed:
    return TokenResponseMalformed(f"Miro's token endpoint sent an unusable answer: {reason}.")


def parse_token_response(response: HttpResponse, *, now: float, client_id: str) -> TokenSet:
    """The tokens in ``response`` (issued to the app ``client_id`` at ``now``), or
    ``TokenRequestRejected`` / ``TokenResponseMalformed``."""
    status = response.status
    if 300 <= status < 400:
        raise _malformed(f"HTTP {status}, a redirect (miroflow never follows one)")
    if len(response.body) > MAX_BODY:
        raise _malformed(f"the body is larger than {MAX_BODY} bytes")
    try:
        document = _load_json(response.body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        document = None
        if status == 200:
            twice = isinstance(error, _FieldGivenTwice)
            raise _malformed(
                str(error) if twice else "HTTP 200 with a body that is not JSON"
            ) from None
    if status != 200 or (isinstance(document, dict) and "error" in document):
        raise _rejection(status, document)
    if not isinstance(document, dict):
        raise _malformed("the JSON is not an object")
    return _token_set(document, now, client_id)


def _rejection(status: int, document: Any) -> TokenRequestRejected:
    error, description = "server_error" if status >= 500 else "http_error", None
    if isinstance(document, dict):
        if "error" in document:  # RFC 6749 §5.2
            error = _safe_text(document.get("error")) or "unknown_error"
            description = _safe_text(document.get("error_description"))
        elif "message" in document or "code" in document:  # Miro's shape
            error = _safe_text(document.get("code")) or "error"
            description = _safe_text(document.get("message"))
    if description is None and error in ("server_error", "http_error"):
        description = "the answer carried no error details"
    kind = CodeRejected if _dead_code(status, error, description) else TokenRequestRejected
    return kind(status, error, description)


def _dead_code(status: int, error: str, description: str | None) -> bool:
    """Miro's answer for an expired or already redeemed code: 401 "Invalid authorization
    code" (an oauthError); RFC 6749 §5.2 calls it invalid_grant."""
    if status not in (400, 401):
        return False
    return error == "invalid_grant" or (
        description is not None and "invalid authorization code" in description.lower()
    )


def _string(
    document: dict[str, Any], name: str, *, limit: int, required: bool = True
) -> str | None:
    value = document.get(name)
    if value is None:
        if required:
            raise _malformed(f"'{name}' is missing")
        return None
    if not isinstance(value, str) or isinstance(value, _IntLiteral):
        raise _malformed(f"'{name}' is not a string")
    if not value or len(value) > limit or not (value.isascii() and value.isprintable()):
        raise _malformed(f"'{name}' is empty, too long, or not printable ASCII")
    return value


def _identifier(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if value is None:
        raise _malformed(f"'{name}' is missing")
    if isinstance(value, _IntLiteral):
        if value.startswith("-"):
            raise _malformed(f"'{name}' is negative")
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:  # floats, booleans, objects: never an ID
        raise _malformed(f"'{name}' is neither a string nor an integer")
    # Miro's IDs are decimal (the callback parser holds team_id to the same rule), so a token
    # set can always be matched with the team a callback named.
    if not text or len(text) > MAX_ID_LENGTH or not (text.isascii() and text.isdigit()):
        raise _malformed(f"'{name}' is not a decimal ID of at most {MAX_ID_LENGTH} digits")
    return text


def _token_set(document: dict[str, Any], now: float, client_id: str) -> TokenSet:
    access_token = _string(document, "access_token", limit=MAX_TOKEN_LENGTH)
    assert access_token is not None
    token_type = _string(document, "token_type", limit=32)
    if token_type is None or token_type.lower() != "bearer":
        raise _malformed("'token_type' is not bearer")
    refresh_token = _string(document, "refresh_token", limit=MAX_TOKEN_LENGTH, required=False)
    scope = _string(document, "scope", limit=4096, required=False)
    expires_at: float | None = None
    raw_expires = document.get("expires_in")
    if raw_expires is not None:
        if not isinstance(raw_expires, _IntLiteral):
            raise _malformed("'expires_in' is not an integer")
        if len(raw_expires) > 12:
            raise _malformed("'expires_in' is out of range")
        expires_in = int(raw_expires)
        if not 0 < expires_in <= MAX_EXPIRES_IN:
            raise _malformed("'expires_in' is out of range")
        expires_at = now + expires_in
    return TokenSet(
        client_id=client_id,
        access_token=access_token,
        refresh_token=refresh_token,
        token_type="bearer",
        user_id=_identifier(document, "user_id"),
        team_id=_identifier(document, "team_id"),
        scopes=tuple(scope.split()) if scope else (),
        obtained_at=now,
        expires_at=expires_at,
    )
