"""Inputs (facts, named in the past tense) and effects (orders, named as imperatives).

Don't subclass these: the machine dispatches on the exact type. Secrets (state tokens,
binding values, codes, verifiers, tokens) never appear in ``repr``.
"""

from __future__ import annotations

import attrs

from ._callback import Callback
from ._errors import MiroflowError, TransportError
from ._http import HttpRequest, HttpResponse
from ._model import Flow, TokenSet

__all__ = [
    "CallbackReceived",
    "ClockAdvanced",
    "DeleteFlow",
    "Effect",
    "FlowStarted",
    "Input",
    "RedirectBrowser",
    "RespondWithError",
    "SaveFlow",
    "SendTokenRequest",
    "SetCookie",
    "Step",
    "StoreTokens",
    "TokenResponseReceived",
    "TransportFailed",
    "UnsolicitedCallbackReceived",
    "UserRedirected",
]

# --- inputs ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FlowStarted:
    """The app asked to start a flow. The random values come from the Entropy port."""

    #: The ``state`` sent to Miro: at least 256 bits, base64url.
    state_token: str = attrs.field(repr=False)
    #: The browser's binding value (the cookie), new or reused.
    binding: str = attrs.field(repr=False)
    #: The PKCE verifier when PKCE is on.
    code_verifier: str | None = attrs.field(default=None, repr=False)
    #: Pre-select this team on Miro's consent page.
    team_id: str | None = None
    #: A same-site path to send the browser to after success.
    return_path: str | None = None


@attrs.frozen(kw_only=True)
class UserRedirected:
    """The browser was sent to Miro's consent page (for adapters that show the link first)."""


@attrs.frozen(kw_only=True)
class CallbackReceived:
    """Miro sent the browser back with this callback, whose state claimed this flow.
    ``binding`` is the cookie value the browser presented, if any."""

    callback: Callback
    binding: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class UnsolicitedCallbackReceived:
    """A callback with no state arrived: an install started on Miro's side."""

    callback: Callback


@attrs.frozen(kw_only=True)
class TokenResponseReceived:
    """The token endpoint answered (any status)."""

    response: HttpResponse


@attrs.frozen(kw_only=True)
class TransportFailed:
    """The token request did not complete; it is never retried."""

    error: TransportError


@attrs.frozen(kw_only=True)
class ClockAdvanced:
    """Time passed (``now`` is given to ``step``); deadlines are checked."""


Input = (
    FlowStarted
    | UserRedirected
    | CallbackReceived
    | UnsolicitedCallbackReceived
    | TokenResponseReceived
    | TransportFailed
    | ClockAdvanced
)

# --- effects --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SetCookie:
    """A cookie to set. SameSite=Lax, because Miro's redirect back is a cross-site top-level
    GET navigation, which Lax cookies survive and Strict ones do not."""

    name: str
    value: str = attrs.field(repr=False)
    max_age: int
    path: str = "/"
    secure: bool = True
    http_only: bool = True
    same_site: str = "Lax"

    def header_value(self) -> str:
        """The ``Set-Cookie`` header value."""
        parts = [f"{self.name}={self.value}", f"Max-Age={self.max_age}", f"Path={self.path}"]
        if self.secure:
            parts.append("Secure")
        if self.http_only:
            parts.append("HttpOnly")
        parts.append(f"SameSite={self.same_site}")
        return "; ".join(parts)


@attrs.frozen(kw_only=True)
class SaveFlow:
    """Persist this snapshot under its state hash, until its deadline."""

    flow: Flow


@attrs.frozen(kw_only=True)
class DeleteFlow:
    """Forget the flow with this state hash."""

    state_hash: str


@attrs.frozen(kw_only=True)
class RedirectBrowser:
    """Answer the browser with a 302 to ``location`` (setting ``cookie`` if given). The
    location may carry the state, so it stays out of ``repr``."""

    location: str = attrs.field(repr=False)
    cookie: SetCookie | None = None


@attrs.frozen(kw_only=True)
class SendTokenRequest:
    """POST this request to the token endpoint, once, and report the answer."""

    request: HttpRequest


@attrs.frozen(kw_only=True)
class StoreTokens:
    """Keep these tokens."""

    tokens: TokenSet


@attrs.frozen(kw_only=True)
class RespondWithError:
    """Answer the browser with ``error.status_code`` and ``error.message``."""

    error: MiroflowError


Effect = SaveFlow | DeleteFlow | RedirectBrowser | SendTokenRequest | StoreTokens | RespondWithError


@attrs.frozen(kw_only=True)
class Step:
    """What ``step`` returns: the next snapshot and the orders to carry out, in order."""

    flow: Flow
    effects: tuple[Effect, ...] = ()
