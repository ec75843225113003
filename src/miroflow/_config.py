"""The app's configuration: one frozen value, checked once, with the fixed part of every
request encoded once."""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import quote, urlsplit

import attrs

from ._errors import ConfigError

__all__ = [
    "MIRO_AUTHORIZE_ENDPOINT",
    "MIRO_REVOKE_ENDPOINT",
    "MIRO_TOKEN_CONTEXT_ENDPOINT",
    "MIRO_TOKEN_ENDPOINT",
    "ClientConfig",
    "Secret",
    "TeamPolicy",
    "UnsolicitedPolicy",
]

MIRO_AUTHORIZE_ENDPOINT = "https://miro.com/oauth/authorize"
MIRO_TOKEN_ENDPOINT = "https://api.miro.com/v1/oauth/token"
MIRO_REVOKE_ENDPOINT = "https://api.miro.com/v2/oauth/revoke"
MIRO_TOKEN_CONTEXT_ENDPOINT = "https://api.miro.com/v1/oauth-token"

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

#: RFC 6265 §4.1.1 cookie-name: an RFC 2616 token (visible ASCII except separators).
_COOKIE_NAME_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


@attrs.frozen
class Secret:
    """A value that must never be printed: ``repr``, ``str`` and f-strings show ``***``."""

    _value: str = attrs.field(repr=False)

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return "Secret('***')"


def _to_secret(value: str | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


class TeamPolicy(str, enum.Enum):
    """What to do when the user installs into a team other than the ``team_id`` requested.

    Miro's ``team_id`` only pre-selects a team; the user may pick another, so accepting is
    the default."""

    ACCEPT_ANY = "accept_any"
    REQUIRE_REQUESTED = "require_requested"


class UnsolicitedPolicy(str, enum.Enum):
    """What to do with a callback that carries no ``state`` (an install started on Miro's side,
    from the app settings page or the Web SDK). Such a callback cannot be tied to a browser
    session, so it is rejected unless the app opts in."""

    REJECT = "reject"
    ACCEPT = "accept"


_Policy = TypeVar("_Policy", TeamPolicy, UnsolicitedPolicy)


def _policy(kind: type[_Policy], name: str, value: object) -> _Policy:
    """The policy named by ``value`` (a member or its string), or a ConfigError listing the
    values that exist (never a bare ValueError from the enum)."""
    try:
        return kind(value)
    except (ValueError, TypeError):
        choices = ", ".join(repr(member.value) for member in kind)
        raise ConfigError(f"{name} must be one of {choices}.") from None


def _team_policy(value: object) -> TeamPolicy:
    return _policy(TeamPolicy, "team_policy", value)


def _unsolicited_policy(value: object) -> UnsolicitedPolicy:
    return _policy(UnsolicitedPolicy, "unsolicited_policy", value)


def _check_decimal(name: str, value: object) -> None:
    if not isinstance(value, str) or not value or not value.isascii() or not value.isdigit():
        raise ConfigError(f"{name} must be a decimal string such as 3074457363680401096.")


def _check_seconds(name: str, value: object, *, zero: bool) -> None:
    # A bool is an int; NaN and infinity would make a deadline that never comes.
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (value >= 0 if zero else value > 0)
        or not value < math.inf
    ):
        kind = "non-negative" if zero else "positive"
        raise ConfigError(f"{name} must be a {kind}, finite number of seconds.")


def _check_url(name: str, value: object, *, allow_query: bool) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a URL string, not {type(value).__name__}.")
    # urlsplit silently drops tabs and newlines, so check the text it would not see; a space
    # or control character can never match the URI registered on Miro.
    if " " in value or not value.isprintable():
        raise ConfigError(f"{name} must not contain spaces or control characters, got {value!r}.")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - reading it validates the port (a ValueError when out of range)
    except ValueError:
        raise ConfigError(f"{name} is not a valid URL (host or port), got {value!r}.") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{name} must be an absolute http(s) URL, got {value!r}.")
    if parts.fragment:
        raise ConfigError(f"{name} must not have a #fragment (RFC 6749 §3.1.2), got {value!r}.")
    if parts.query and not allow_query:
        raise ConfigError(f"{name} must not have a query string, got {value!r}.")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise ConfigError(
            f"{name} uses http on a non-loopback host ({parts.hostname}); use https "
            "(RFC 9700 §2.6: plain http only for localhost, 127.0.0.1 or [::1])."
        )


@attrs.frozen(kw_only=True)
class ClientConfig:
    """Everything miroflow needs to know about one Miro app.

    ``redirect_uri`` must equal, character for character (trailing slash included), one of the
    redirect URIs in the app's settings on Miro.
    """

    client_id: str
    client_secret: Secret = attrs.field(converter=_to_secret, repr=False)
    redirect_uri: str
    authorize_endpoint: str = MIRO_AUTHORIZE_ENDPOINT
    token_endpoint: str = MIRO_TOKEN_ENDPOINT
    revoke_endpoint: str = MIRO_REVOKE_ENDPOINT
    token_context_endpoint: str = MIRO_TOKEN_CONTEXT_ENDPOINT
    #: Seconds a started flow may wait for its callback.
    flow_lifetime: float = 900.0
    #: Access tokens this close (seconds) to their expiry are refreshed before use.
    refresh_margin: float = 120.0
    #: Seconds a caller waits for another's refresh of the same tokens; also the life of the
    #: refresh lease (a holder that has not stored new tokens by then is presumed dead).
    refresh_wait: float = 10.0
    #: Send a PKCE S256 challenge (RFC 7636). Miro's REST realm does not document PKCE, so it
    #: is off by default; the simulator supports it.
    pkce: bool = False
    team_policy: TeamPolicy = attrs.field(default=TeamPolicy.ACCEPT_ANY, converter=_team_policy)
    unsolicited_policy: UnsolicitedPolicy = attrs.field(
        default=UnsolicitedPolicy.REJECT,
        converter=_unsolicited_policy,
    )
    #: Where the browser goes after a successful flow, unless the flow asked for another
    #: same-site path.
    success_path: str = "/"
    #: Where the app's login route is (a web adapter mounts it there): the link an app sends a
    #: user to when they need to sign in (again).
    login_path: str = "/miro/login"
    #: The binding cookie's name; by default ``__Host-miroflow`` over https and
    #: ``miroflow_binding`` over http.
    cookie_name: str | None = None

    # Derived once, so the hot paths only concatenate.
    _authorize_prefix: str = attrs.field(init=False, repr=False, eq=False)
    _client_credentials: str = attrs.field(init=False, repr=False, eq=False)
    _redirect_uri_param: str = attrs.field(init=False, repr=False, eq=False)
    #: The binding cookie's ``Set-Cookie`` value is ``_cookie_prefix + value + _cookie_suffix``.
    _cookie_prefix: str = attrs.field(init=False, repr=False, eq=False)
    _cookie_suffix: str = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        _check_decimal("client_id", self.client_id)
        secret: object = self.client_secret.reveal()
        if not isinstance(secret, str) or not secret:
            raise ConfigError("client_secret must be a non-empty string.")
        _check_url("redirect_uri", self.redirect_uri, allow_query=True)
        for name in (
            "authorize_endpoint",
            "token_endpoint",
            "revoke_endpoint",
            "token_context_endpoint",
        ):
            _check_url(name, getattr(self, name), allow_query=name == "authorize_endpoint")
        lifetime: object = self.flow_lifetime
        # A bool is an int, and an infinite lifetime would overflow the cookie's Max-Age.
        if (
            isinstance(lifetime, bool)
            or not isinstance(lifetime, (int, float))
            or not 0 < lifetime < math.inf
        ):
            raise ConfigError("flow_lifetime must be a positive, finite number of seconds.")
        _check_seconds("refresh_margin", self.refresh_margin, zero=True)
        _check_seconds("refresh_wait", self.refresh_wait, zero=False)
        if not isinstance(self.success_path, str):
            raise ConfigError("success_path must be a same-site path such as '/'.")
        check_return_path(self.success_path)
        if not isinstance(self.login_path, str):
            raise ConfigError("login_path must be a same-site path such as '/miro/login'.")
        check_return_path(self.login_path)
        self._check_cookie_name()
        separator = "&" if "?" in self.authorize_endpoint else "?"
        object.__setattr__(
            self,
            "_authorize_prefix",
            f"{self.authorize_endpoint}{separator}response_type=code"
            f"&client_id={quote(self.client_id, safe='')}"
            f"&redirect_uri={quote(self.redirect_uri, safe='')}",
        )
        object.__setattr__(
            self,
            "_client_credentials",
            f"&client_id={quote(self.client_id, safe='')}"
            f"&client_secret={quote(self.client_secret.reveal(), safe='')}",
        )
        object.__setattr__(
            self, "_redirect_uri_param", f"&redirect_uri={quote(self.redirect_uri, safe='')}"
        )
        object.__setattr__(self, "_cookie_prefix", f"{self.binding_cookie_name}=")
        secure = "; Secure" if self.secure_cookies else ""
        object.__setattr__(
            self,
            "_cookie_suffix",
            f"; Max-Age={int(self.flow_lifetime)}; Path=/{secure}; HttpOnly; SameSite=Lax",
        )

    def _check_cookie_name(self) -> None:
        name: object = self.cookie_name
        if not name:
            return  # None (or empty) picks the default name
        if not isinstance(name, str) or not set(name) <= _COOKIE_NAME_CHARS:
            raise ConfigError(
                "cookie_name must be an RFC 6265 cookie name: ASCII letters, digits and "
                "!#$%&'*+-.^_`|~ only."
            )
        # Browsers drop a __Host-/__Secure- cookie that is not Secure (prefixes match in any
        # case), which would only show later as a puzzling MissingBindingCookie.
        if name.lower().startswith(("__host-", "__secure-")) and not self.secure_cookies:
            raise ConfigError(
                f"cookie_name {name!r} has a prefix browsers accept only on Secure cookies, but "
                "the redirect_uri is plain http: use https or a name without the prefix."
            )

    @property
    def callback_path(self) -> str:
        """The redirect URI's path: where a web adapter mounts the callback route."""
        return urlsplit(self.redirect_uri).path or "/"

    @property
    def secure_cookies(self) -> bool:
        """Cookies are Secure when the redirect URI is https (the scheme in any case)."""
        return self.redirect_uri[:6].lower() == "https:"

    @property
    def binding_cookie_name(self) -> str:
        if self.cookie_name:
            return self.cookie_name
        return "__Host-miroflow" if self.secure_cookies else "miroflow_binding"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> ClientConfig:
        """Read ``MIRO_CLIENT_ID``, ``MIRO_CLIENT_SECRET`` and ``MIRO_REDIRECT_URL`` (the names
        Miro's official SDK reads), and, when set, the endpoint overrides
        ``MIRO_AUTHORIZE_URL``, ``MIRO_TOKEN_URL``, ``MIRO_REVOKE_URL`` and
        ``MIRO_TOKEN_CONTEXT_URL`` (to point an app at a simulator with the environment
        alone); ``overrides`` set any field and win over the environment."""
        known = {field.alias for field in attrs.fields(cls) if field.init}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(
                f"ClientConfig.from_env got unknown settings: {', '.join(unknown)}. The "
                f"settings are: {', '.join(sorted(known))}."
            )
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field, variable in _REQUIRED_VARIABLES:
            if field in overrides:
                continue
            value = env.get(variable, "").strip()
            if not value:
                raise ConfigError(
                    f"The environment variable {variable} is not set; it must hold the Miro "
                    f"app's {field.replace('_', ' ')} (see the app's settings on Miro)."
                )
            values[field] = value
        read: dict[str, str] = {}
        for field, variable in _ENDPOINT_VARIABLES:
            value = env.get(variable, "").strip()
            if value and field not in overrides:
                values[field] = value
                read[field] = variable
        values.update(overrides)
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ConfigError as error:
            # Name the variable a bad endpoint came from: the field name alone is no clue.
            for field, variable in read.items():
                if str(error).startswith(f"{field} "):
                    raise ConfigError(
                        f"{error} (from the environment variable {variable})"
                    ) from None
            raise


_REQUIRED_VARIABLES = (
    ("client_id", "MIRO_CLIENT_ID"),
    ("client_secret", "MIRO_CLIENT_SECRET"),
    ("redirect_uri", "MIRO_REDIRECT_URL"),
)
#: Optional: each, when set and not blank, replaces one of Miro's endpoints.
_ENDPOINT_VARIABLES = (
    ("authorize_endpoint", "MIRO_AUTHORIZE_URL"),
    ("token_endpoint", "MIRO_TOKEN_URL"),
    ("revoke_endpoint", "MIRO_REVOKE_URL"),
    ("token_context_endpoint", "MIRO_TOKEN_CONTEXT_URL"),
)


def check_return_path(path: str) -> str:
    """A same-site path to send the browser to after sign-in; never another site (an open
    redirect)."""
    if (
        not isinstance(path, str)
        or not path.startswith("/")
        or path.startswith("//")
        or "\\" in path
        or not path.isascii()
        or not path.isprintable()
        or len(path) > 2048
    ):
        raise ConfigError(
            f"A return path must be a same-site path starting with '/', got {path!r}."
        )
    return path
