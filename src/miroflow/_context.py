"""What comes back from Miro's token context and revoke endpoints, parsed without trust.

``GET /v1/oauth-token`` answers the token's ``type``, ``organization``, ``team``,
``createdBy``, ``user`` and ``scopes``: ``parse_token_context`` makes a ``TokenContext`` of it
through one strict cattrs converter (a number is never taken for a name, nor a string for a
list; IDs stay exact decimal strings even when they arrive as JSON numbers above 2**53).
Fields Miro may add later are ignored. ``revoke_error`` reads the v2 revoke's answer.
"""

from __future__ import annotations

from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ._errors import TokenEndpointError, TokenResponseMalformed
from ._http import HttpRequest, HttpResponse
from ._token_response import MAX_BODY, MAX_ID_LENGTH, _IntLiteral, _load_json, _rejection

__all__ = [
    "ContextEntity",
    "TokenContext",
    "context_request",
    "parse_token_context",
    "revoke_error",
]

_MAX_TEXT = 1024


@attrs.frozen(kw_only=True)
class ContextEntity:
    """An organization, team or user as the token context names it."""

    type: str
    id: str
    name: str | None = None


@attrs.frozen(kw_only=True)
class TokenContext:
    """What Miro says about an access token (``GET /v1/oauth-token``)."""

    type: str
    organization: ContextEntity
    team: ContextEntity
    #: The user who installed the app (Miro's ``createdBy``).
    created_by: ContextEntity
    user: ContextEntity
    scopes: tuple[str, ...]


def _text(value: object, _: object) -> str:
    # Exact class: _IntLiteral (a JSON number) is a str subclass and never a name.
    if value.__class__ is not str:
        raise TypeError("not a string")
    assert isinstance(value, str)
    if len(value) > _MAX_TEXT or not value.isprintable():
        raise ValueError("too long or not printable")
    return value


def _identifier(value: object, _: object) -> str:
    if isinstance(value, _IntLiteral):
        text = str.__str__(value)
    elif value.__class__ is str:
        assert isinstance(value, str)
        text = value
    else:
        raise TypeError("neither a string nor an integer")
    if not text or len(text) > MAX_ID_LENGTH or not (text.isascii() and text.isdigit()):
        raise ValueError("not a decimal ID")
    return text


def _scopes(value: object, _: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return tuple(_text(item, str) for item in value)


_converter = cattrs.Converter(forbid_extra_keys=False)
_converter.register_structure_hook(str, _text)
_converter.register_structure_hook(
    ContextEntity,
    make_dict_structure_fn(ContextEntity, _converter, id=override(struct_hook=_identifier)),
)
_converter.register_structure_hook(
    TokenContext,
    make_dict_structure_fn(
        TokenContext,
        _converter,
        created_by=override(rename="createdBy"),
        scopes=override(struct_hook=_scopes),
    ),
)


def _malformed(reason: str) -> TokenResponseMalformed:
    return TokenResponseMalformed(
        f"Miro's token context endpoint sent an unusable answer: {reason}."
    )


def parse_token_context(response: HttpResponse) -> TokenContext:
    """The ``TokenContext`` in ``response``; ``TokenRequestRejected`` for an error answer
    (Miro's or RFC 6749's shape; a 401 means the token does not work), else
    ``TokenResponseMalformed``."""
    status = response.status
    if len(response.body) > MAX_BODY:
        raise _malformed(f"the body is larger than {MAX_BODY} bytes")
    try:
        document: Any = _load_json(response.body)
    except (ValueError, RecursionError):
        document = None
    if status != 200:
        raise _rejection(status, document)
    if not isinstance(document, dict):
        raise _malformed("HTTP 200 without a JSON object")
    try:
        context: TokenContext = _converter.structure(document, TokenContext)
    except Exception as error:  # cattrs' ClassValidationError groups name fields, never values
        fields = ", ".join(sorted(_failed_fields(error))) or "its fields"
        raise _malformed(f"wrong or missing {fields}") from None
    return context


def _failed_fields(error: BaseException) -> set[str]:
    names: set[str] = set()
    if isinstance(error, cattrs.ClassValidationError):
        with_notes, _ = error.group_exceptions()
        for inner, note in with_notes:
            names.add(note.name)
            names |= {f"{note.name}.{name}" for name in _failed_fields(inner)}
    return names


def context_request(endpoint: str, access_token: str) -> HttpRequest:
    """``GET /v1/oauth-token`` with the token in the Authorization header (never the URL)."""
    headers = (("Authorization", f"Bearer {access_token}"), ("Accept", "application/json"))
    return HttpRequest(method="GET", url=endpoint, headers=headers)


def revoke_error(response: HttpResponse) -> TokenEndpointError | None:
    """None when the v2 revoke's answer means the token no longer works: 204 (revoked) or
    404 (unknown to Miro: already revoked, rotated or expired). Else the rejection."""
    if 200 <= response.status < 300 or response.status == 404:
        return None
    try:
        document: Any = _load_json(response.body[:MAX_BODY])
    except (ValueError, RecursionError):
        document = None
    return _rejection(response.status, document)
