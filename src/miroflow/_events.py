"""Inputs (facts, named in the past tense), effects (orders to a port, named as imperatives),
and ``Step``, what the machine returns: the next snapshot, its effects, and its reply.

Don't subclass these: the machine dispatches on the exact type. Secrets (entropy, binding
values, tokens) never appear in ``repr``.
"""

from __future__ import annotations

import attrs

from ._answer import Answer
from ._callback import Callback
from ._errors import TransportError
from ._http import HttpRequest, HttpResponse
from ._model import Flow, TokenSet

__all__ = [
    "CallbackReceived",
    "ClockAdvanced",
    "Effect",
    "FlowStarted",
    "Input",
    "RevokeTokens",
    "SaveFlow",
    "SendTokenRequest",
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
    """The app asked to start a flow.

    ``entropy`` is ``ENTROPY_BYTES`` unpredictable bytes from the Entropy port: the state, a
    new binding and the PKCE verifier are cut from it. ``binding_cookie`` is the binding the
    browser presented, if any: a well-formed one is kept, so that flows started in several
    tabs of one browser all stay valid."""

    entropy: bytes = attrs.field(repr=False)
    binding_cookie: str | None = attrs.field(default=None, repr=False)
    #: Pre-select this team on Miro's consent page.
    team_id: str | None = None
    #: A same-site path to send the browser to after success.
    return_path: str | None = None


@attrs.frozen(kw_only=True)
class UserRedirected:
    """The browser is being sent to Miro's consent page (the start's 302, or a terminal login
    opening the link): the flow is saved from here on."""


@attrs.frozen(kw_only=True)
class CallbackReceived:
    """Miro sent the browser back with this callback, and its claim won this flow (the store
    matched the state and the browser's binding; see ``claim_outcome``)."""

    callback: Callback


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
    """Time passed (``now`` is given to ``step``); the flow's deadline is checked."""


Input = (
    FlowStarted
    | UserRedirected
    | CallbackReceived
    | UnsolicitedCallbackReceived
    | TokenResponseReceived
    | TransportFailed
    | ClockAdvanced
)

# --- effects: orders to a port, carried out in order -----------------------------------------


@attrs.frozen(kw_only=True)
class SaveFlow:
    """Insert or replace this snapshot (unclaimed) under its state hash."""

    flow: Flow


@attrs.frozen(kw_only=True)
class SendTokenRequest:
    """POST this request to the token endpoint, once; its answer is the next input
    (``TokenResponseReceived``, or ``TransportFailed``)."""

    request: HttpRequest


@attrs.frozen(kw_only=True)
class StoreTokens:
    """Keep these tokens. If the store fails, the driver revokes them at Miro (best effort)
    before answering: tokens Miro issued are never left live and unowned."""

    tokens: TokenSet


@attrs.frozen(kw_only=True)
class RevokeTokens:
    """POST this revocation to Miro, best effort: its answer is not an input, and a failure
    to deliver it changes nothing but the log."""

    request: HttpRequest = attrs.field(repr=False)


Effect = SaveFlow | SendTokenRequest | StoreTokens | RevokeTokens


@attrs.frozen(kw_only=True)
class Step:
    """What ``step`` returns: the next snapshot, the effects to carry out in order, and the
    reply to give the browser once they are done (None while a port's answer is awaited: the
    token request's answer is the next input)."""

    flow: Flow
    effects: tuple[Effect, ...] = ()
    reply: Answer | None = None
