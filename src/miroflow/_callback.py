"""The strict parser of Miro's redirect back to the app (the callback's query string).

Rules (specs/flow.md, "The callback"):

* a parameter we read, given twice, is an error: never first-wins or last-wins, which is
  how parameter-pollution attacks pick the value they want;
* an empty value counts as absent;
* values must be printable ASCII and bounded in size;
* ``client_id`` and ``team_id`` must be decimal strings (Miro's IDs);
* ``error`` (RFC 6749 §4.1.2.1) makes an error callback; ``code`` and ``error`` together are
  an error; neither is an error;
* unknown parameters are ignored (Miro may add some).

Every failure is a ``MalformedCallback`` (HTTP 400) whose message names the parameter. An
app's login route (``team_id``, ``next``) is read by the same rules; its failures are
``MalformedLogin`` (HTTP 400).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

import attrs

from ._config import check_return_path
from ._errors import ConfigError, MalformedCallback, MalformedLogin, MiroflowError

__all__ = ["Callback", "Login", "parse_callback", "parse_login"]

MAX_QUERY_LENGTH = 16 * 1024
MAX_VALUE_LENGTH = 4096
MAX_ID_LENGTH = 32

_KNOWN = frozenset({"code", "state", "client_id", "team_id", "error", "error_description"})
_LOGIN = frozenset({"team_id", "next"})


@attrs.frozen(kw_only=True)
class Callback:
    """A parsed callback. Either ``code`` or ``error`` is set, never both."""

    code: str | None = attrs.field(default=None, repr=False)
    state: str | None = attrs.field(default=None, repr=False)
    client_id: str | None = None
    team_id: str | None = None
    error: str | None = None
    error_description: str | None = None

    @property
    def is_error(self) -> bool:
        return self.error is not None


@attrs.frozen(kw_only=True)
class Login:
    """A parsed login request: what the app's login route was asked for."""

    team_id: str | None = None
    return_path: str | None = None


def parse_callback(query: str | bytes) -> Callback:
    """Parse the raw query string of the callback request (without the leading ``?``)."""
    found = _read(query, _KNOWN, "callback", MalformedCallback)
    if "client_id" in found:
        _check_id(found, "client_id", "callback", MalformedCallback)
    if "team_id" in found:
        _check_id(found, "team_id", "callback", MalformedCallback)
    code = found.get("code")
    error = found.get("error")
    if code is not None and error is not None:
        raise MalformedCallback("The callback carries both a code and an error.")
    if code is None and error is None:
        raise MalformedCallback(
            "The callback carries neither a code nor an error: this URL is where Miro sends "
            "the browser back, not a page to open directly."
        )
    if code is not None and " " in code:
        raise MalformedCallback("The callback's 'code' contains a space.")
    if error is not None and (" " in error or '"' in error or "\\" in error):
        raise MalformedCallback("The callback's 'error' is not an RFC 6749 error code.")
    return Callback(
        code=code,
        state=found.get("state"),
        client_id=found.get("client_id"),
        team_id=found.get("team_id"),
        error=error,
        error_description=found.get("error_description") if error is not None else None,
    )


def parse_login(query: str | bytes) -> Login:
    """Parse the raw query string of an app's login route: an optional ``team_id`` (the team
    to preselect on Miro's consent page) and an optional ``next`` (where to send the browser
    after sign-in: a path on this site only, never another site)."""
    found = _read(query, _LOGIN, "login link", MalformedLogin)
    _check_id(found, "team_id", "login link", MalformedLogin)
    path = found.get("next")
    if path is not None:
        try:
            check_return_path(path)
        except ConfigError:
            raise MalformedLogin(
                "The login link's 'next' is not a path on this site (it must start with a "
                "single '/'): miroflow never sends the browser to another site after sign-in."
            ) from None
    return Login(team_id=found.get("team_id"), return_path=path)


def _read(
    query: str | bytes, known: frozenset[str], what: str, error: type[MiroflowError]
) -> dict[str, str]:
    """The known parameters of a query string, strictly (see the module's rules), each
    decoded once; empty values are dropped. ``what`` names the request in messages."""
    if isinstance(query, bytes):
        try:
            query = query.decode("ascii")
        except UnicodeDecodeError:
            raise error(f"The {what}'s query string is not ASCII.") from None
    if len(query) > MAX_QUERY_LENGTH:
        raise error(f"The {what}'s query string is longer than {MAX_QUERY_LENGTH} characters.")
    # One pass. Every known parameter given lands in ``found`` (an empty value as ""), so a
    # second one is seen at once; empty values count as absent afterwards.
    found: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        raw_name, _, value = part.partition("=")
        name = raw_name if "%" not in raw_name and "+" not in raw_name else _decode_name(raw_name)
        if name not in known:
            continue  # unknown, or not valid UTF-8 and so none of ours: ignored either way
        if name in found:
            raise error(
                f"The {what} gives the parameter {name!r} more than once; miroflow never "
                "picks one of several values."
            )
        if "%" in value or "+" in value:
            value = _decode(value, name, what, error)
        if len(value) > MAX_VALUE_LENGTH:
            raise error(f"The {what}'s {name!r} is longer than {MAX_VALUE_LENGTH} characters.")
        if not (value.isascii() and value.isprintable()):
            raise error(f"The {what}'s {name!r} holds characters other than printable ASCII.")
        found[name] = value
    if "" in found.values():
        return {name: value for name, value in found.items() if value}
    return found


def _check_id(
    found: dict[str, str], name: str, what: str, error: type[MiroflowError]
) -> None:
    identifier = found.get(name)
    if identifier is not None and (not identifier.isdigit() or len(identifier) > MAX_ID_LENGTH):
        raise error(f"The {what}'s {name!r} is not a decimal ID.")


def _decode_name(raw: str) -> str | None:
    """A parameter's name, or None when it does not decode (then it cannot be a known one)."""
    if "%" not in raw and "+" not in raw:
        return raw
    try:
        return unquote_plus(raw, errors="strict")
    except UnicodeDecodeError:
        return None


#: A percent sign not followed by two hex digits: unquote() would keep it literally.
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _decode(raw: str, name: str, what: str, error: type[MiroflowError]) -> str:
    if "%" not in raw and "+" not in raw:
        return raw
    if _BAD_ESCAPE.search(raw):
        raise error(f"The {what}'s {name!r} holds an invalid percent escape.")
    try:
        return unquote_plus(raw, errors="strict")
    except UnicodeDecodeError:
        raise error(f"The {what}'s {name!r} is not valid percent-encoded UTF-8.") from None
