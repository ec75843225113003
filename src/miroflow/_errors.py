"""One hierarchy for every error miroflow raises.

Two kinds, as h11 does it:

* ``UsageError``: the caller misused the API (a bug in the app or adapter). Raised as an
  exception; nothing changes.
* Everything else describes something the outside world did: the browser, Miro, the network
  or a store. The flow machine turns these into a legal transition to a terminal state, and an
  adapter answers ``error.status_code`` with ``error.message``.

Every error carries a stable machine-readable ``code``, the HTTP status an adapter should
answer, and two texts: ``message``, short and plain, for the person in the browser; and
``detail`` (also ``str(error)``), for the operator's log. Where the two differ (a store, the
network, the token endpoint), the detail may name hosts and statuses and the message never
does. Neither ever holds a secret: both are built from fixed text and non-secret facts only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ._model import TokenKey

__all__ = [
    "AuthorizationDenied",
    "BindingMismatch",
    "CallbackError",
    "ClientIdMismatch",
    "ClockSkew",
    "CodeRejected",
    "ConfigError",
    "FlowExpired",
    "InvalidTransition",
    "MalformedCallback",
    "MalformedLogin",
    "MiroflowError",
    "MissingBindingCookie",
    "RecordError",
    "RefreshPending",
    "SignInRequired",
    "StaleTokenWrite",
    "StateAlreadyUsed",
    "StoreError",
    "StoreUnavailable",
    "TeamMismatch",
    "TokenEndpointError",
    "TokenRequestRejected",
    "TokenResponseMalformed",
    "TransportError",
    "TransportTimeout",
    "UnknownState",
    "UnsolicitedCallback",
    "UsageError",
]


class MiroflowError(Exception):
    """Base of every miroflow error.

    ``code`` is stable and machine-readable; ``status_code`` is what an adapter answers the
    browser; ``detail`` is the operator's text; ``message`` is the person's.
    """

    code: str = "miroflow_error"
    status_code: int = 500
    #: What the person in the browser reads instead of the detail, for errors whose detail is
    #: for the operator only (it may name a host, a port or a status from Miro).
    public_message: ClassVar[str | None] = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def message(self) -> str:
        """Short plain text for the person in the browser: no secret, no internal host."""
        return self.public_message or self.detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The default rebuilds an exception by calling ``type(self)(*self.args)``, which breaks
        # (or garbles) every error whose constructor takes other arguments than the message.
        # Errors cross process boundaries (worker pools, task queues), so rebuild from state.
        return (_rebuild, (type(self), self.args), self.__dict__)


def _rebuild(cls: type[MiroflowError], args: tuple[Any, ...]) -> MiroflowError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    return error


# --- the caller misused the API -------------------------------------------------------------


class UsageError(MiroflowError):
    """The app or adapter used miroflow wrongly. Fix the calling code."""

    code = "usage_error"
    public_message = "Signing in with Miro is not set up correctly on this site."


class InvalidTransition(UsageError):
    """An input arrived in a state whose table row does not accept it; nothing changed."""

    code = "invalid_transition"


class ConfigError(UsageError):
    """The configuration is missing a value or holds an invalid one."""

    code = "config_error"


# --- the browser (or Miro, through the browser) sent something wrong -------------------------


class MalformedLogin(MiroflowError):
    """The login route's query string breaks the rules: a ``next`` that is not a path on this
    site (an open redirect), a ``team_id`` that is not a decimal ID, a parameter given twice."""

    code = "malformed_login"
    status_code = 400


class CallbackError(MiroflowError):
    """The callback request cannot complete a flow."""

    code = "callback_error"
    status_code = 400


class MalformedCallback(CallbackError):
    """The callback's query string breaks the rules (a duplicate, a bad value, a missing one)."""

    code = "malformed_callback"


class MissingBindingCookie(CallbackError):
    """The browser did not send back the cookie set when the flow started."""

    code = "missing_binding_cookie"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or (
                "The sign-in cookie did not come back with Miro's redirect, so this callback "
                "cannot be tied to the browser that started it. Common causes: the flow started "
                "on one host name and the redirect URI uses another (localhost vs 127.0.0.1), "
                "the cookie is Secure but the site is served over http, a tunnel or proxy "
                "changed the host, or the browser blocks cookies. Start again from the same "
                "host as the redirect URI."
            )
        )


class BindingMismatch(CallbackError):
    """The state belongs to a flow started by another browser."""

    code = "binding_mismatch"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or (
                "This sign-in was started in another browser (or its cookie was replaced), so "
                "this browser cannot finish it. Start again in this browser."
            )
        )


class UnknownState(CallbackError):
    """No flow matches the callback's state (never issued, or long forgotten)."""

    code = "unknown_state"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or (
                "This sign-in link is not known here: it was never issued by this app, or it "
                "was forgotten (a restart with an in-memory store, or a different store per "
                "worker). Start again."
            )
        )


class StateAlreadyUsed(CallbackError):
    """A callback for this flow was already handled (double submit, back button, replay)."""

    code = "state_already_used"
    status_code = 409

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or (
                "This sign-in was already completed or is being completed by another request "
                "(a double-submitted or replayed callback). Start again if you are not signed in."
            )
        )


class FlowExpired(CallbackError):
    """The flow outlived its deadline before the callback arrived."""

    code = "flow_expired"

    def __init__(self, expired_for: float, message: str | None = None) -> None:
        self.expired_for = max(0.0, float(expired_for))
        super().__init__(
            message
            or (
                f"This sign-in expired {self.expired_for:.0f} seconds ago before Miro sent the "
                "browser back. Start again and finish within the time allowed."
            )
        )


class ClockSkew(CallbackError):
    """The callback arrived at a time before its flow was created: the server's clock went
    back (or the flow was made by a server whose clock runs ahead). A deadline measured on such
    a clock cannot be trusted, so the flow is refused rather than kept alive longer."""

    code = "clock_skew"

    def __init__(self, behind: float, message: str | None = None) -> None:
        self.behind = max(0.0, float(behind))
        super().__init__(
            message
            or (
                f"This sign-in cannot be checked: the server's clock is {self.behind:.0f} "
                "seconds behind the time the sign-in started. Start again."
            )
        )


class UnsolicitedCallback(CallbackError):
    """A callback without a state arrived (an install started on Miro's side) and the policy
    rejects those."""

    code = "unsolicited_callback"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or (
                "This callback carries no state, so it was not started by this app (an install "
                "from Miro's side). The app does not accept those; start from the app instead."
            )
        )


class ClientIdMismatch(CallbackError):
    """The callback names a client_id other than the configured one."""

    code = "client_id_mismatch"


class TeamMismatch(CallbackError):
    """The user installed into a team other than the requested one, and the policy rejects it."""

    code = "team_mismatch"


class AuthorizationDenied(CallbackError):
    """Miro redirected back with ``error=...`` (RFC 6749 §4.1.2.1): the user said no, or the
    authorization server refused."""

    code = "authorization_denied"
    status_code = 403

    def __init__(self, error: str, description: str | None = None) -> None:
        self.error = error
        self.description = description
        if error == "access_denied":
            text = "The authorization was cancelled on Miro's consent page."
        else:
            text = f"Miro refused the authorization request ({error})."
        if description:
            # The description comes from the browser's query string (up to 4096 characters):
            # keep it whole on ``.description`` but short in a message meant for a person.
            text += f" Miro said: {_shortened(description)}"
        super().__init__(text)
        if error in ("server_error", "temporarily_unavailable"):
            self.status_code = 502


#: How much of a browser-supplied description an error message quotes.
_DESCRIPTION_LIMIT = 300


def _shortened(text: str) -> str:
    if len(text) <= _DESCRIPTION_LIMIT:
        return text
    return text[:_DESCRIPTION_LIMIT] + "\u2026"


# --- the token endpoint --------------------------------------------------------------------


class TokenEndpointError(MiroflowError):
    """The token endpoint did not give usable tokens."""

    code = "token_endpoint_error"
    status_code = 502
    public_message = (
        "Miro did not complete the sign-in. Try again; if it keeps failing, tell the site's "
        "operator."
    )


class TokenRequestRejected(TokenEndpointError):
    """The token endpoint answered with an error (Miro-shaped or RFC 6749 §5.2)."""

    code = "token_request_rejected"

    def __init__(self, http_status: int, error: str, description: str | None = None) -> None:
        self.http_status = http_status
        self.error = error
        self.description = description
        text = f"Miro's token endpoint rejected the request (HTTP {http_status}, {error})"
        text += f": {description}" if description else "."
        super().__init__(text)


class CodeRejected(TokenRequestRejected):
    """Miro refused the code itself: it expired (10 minutes after issue) or was already
    redeemed. The person's sign-in ended, Miro is fine: a 400 that says to start again."""

    code = "code_rejected"
    status_code = 400
    public_message = "This sign-in link expired or was already used. Start again."


class TokenResponseMalformed(TokenEndpointError):
    """The token endpoint's answer is not a token response miroflow can trust."""

    code = "token_response_malformed"


# --- the network and the stores -----------------------------------------------------------


class TransportError(MiroflowError):
    """The HTTP request did not complete (connection, TLS, size cap). A code exchange that
    failed this way is never retried: the server may have redeemed the code."""

    code = "transport_error"
    status_code = 502
    public_message = "Miro could not be reached to complete the sign-in. Try again in a moment."


class TransportTimeout(TransportError):
    """The HTTP request did not complete within its deadline."""

    code = "transport_timeout"
    status_code = 504


class StoreError(MiroflowError):
    """A store failed to do what was asked."""

    code = "store_error"
    status_code = 503
    public_message = "Signing in is unavailable for a moment. Try again shortly."


class StoreUnavailable(StoreError):
    """The store's server could not be reached."""

    code = "store_unavailable"


class StaleTokenWrite(StoreError):
    """A token write lost a compare-and-set: someone else wrote a newer version first."""

    code = "stale_token_write"
    status_code = 409

    @classmethod
    def for_key(cls, key: TokenKey, found: int, expected: int) -> StaleTokenWrite:
        """The error every store raises when a write to the tokens under ``key`` (a
        ``TokenKey``) expected ``expected`` but found ``found``: one wording for all of them.
        Client, user and team ids are not secrets."""
        return cls(
            f"The tokens of app {key.client_id} for user {key.user_id} in team {key.team_id} "
            f"are at version {found}, not {expected}: another writer got there first."
        )


class RecordError(StoreError):
    """A stored record cannot be read: corrupt, or written by a newer schema version."""

    code = "record_error"
    status_code = 500


# --- the token lifecycle ------------------------------------------------------------------


class SignInRequired(MiroflowError):
    """No usable tokens: none are stored, or Miro refused to refresh them (revoked, the refresh
    token past its 60 days, the app uninstalled), so they were deleted. Send the user to
    ``login_url`` (the app's login route, for their team) to sign in again."""

    code = "sign_in_required"
    status_code = 401
    public_message = "Sign in with Miro again to continue."

    def __init__(self, key: TokenKey, login_url: str, reason: str) -> None:
        self.key = key
        self.login_url = login_url
        super().__init__(
            f"No usable tokens of app {key.client_id} for user {key.user_id} in team "
            f"{key.team_id}: {reason} Send the user to {login_url} to sign in again."
        )


class RefreshPending(MiroflowError):
    """Another caller holds the refresh lease of these tokens and has not stored new ones
    within ``refresh_wait`` seconds (it may be slow, or it died: its lease then lapses)."""

    code = "refresh_pending"
    status_code = 503
    public_message = "Access to Miro is being renewed. Try again in a moment."
