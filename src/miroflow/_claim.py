"""What a callback's claim means: the one decision, beside the table.

A store's claim is a compare-and-set and nothing more: it marks the flow with this state hash
claimed if it is unclaimed and its binding hash equals the one the browser presented, and
returns the stored flow (or None) and whether this call won. Whether a lost claim means the
flow is unknown, forgotten, expired (and how long ago), bound to another browser, missing its
cookie or already used is decided here, once, for every store.

A callback that presents another browser's binding, or none, claims nothing: whoever learns a
state (from a log, a Referer, over a shoulder) cannot stop the sign-in of the browser that
started it.
"""

from __future__ import annotations

import enum

from ._errors import (
    BindingMismatch,
    CallbackError,
    ClockSkew,
    FlowExpired,
    MissingBindingCookie,
    StateAlreadyUsed,
    UnknownState,
    UsageError,
)
from ._machine import overdue
from ._model import Flow, hash_binding, is_issued_token

__all__ = ["CLOCK_TOLERANCE", "ClaimOutcome", "claim_error", "claim_outcome", "presented_binding"]

#: How far before a flow's creation a callback may arrive (clocks of two workers disagree by a
#: little); further back, the clock went back and the flow's deadline cannot be trusted.
CLOCK_TOLERANCE = 60.0

#: The binding hash of a cookie that is present but is not one this library issued: it is no
#: browser's binding, so it never matches a stored one.
_NO_BINDING = b""


def presented_binding(cookie: str | None) -> bytes | None:
    """What a callback's binding cookie presents to a claim: None when there is none, the hash
    of one this library could have issued, and otherwise a value that matches nothing (a
    malformed cookie, a lone surrogate included, is never hashed)."""
    if not cookie:
        return None
    return hash_binding(cookie) if is_issued_token(cookie) else _NO_BINDING


class ClaimOutcome(str, enum.Enum):
    """What a callback's claim amounts to."""

    #: This callback won a live flow: ``CallbackReceived`` goes on to the machine.
    CLAIMED = "claimed"
    #: The flow's deadline passed. If this callback won it, ``ClockAdvanced`` expires it.
    EXPIRED = "expired"
    #: No such flow: never saved here, or forgotten after its retention (or a state of a
    #: form this library never issues, refused before any look-up).
    UNKNOWN = "unknown"
    #: The callback is dated before its flow was made: the clock went back.
    CLOCK_SKEW = "clock_skew"
    #: The browser sent no binding cookie, so it cannot be the one that started the flow.
    MISSING_COOKIE = "missing_cookie"
    #: The browser's binding is not the one the flow was started with.
    OTHER_BROWSER = "other_browser"
    #: The right browser, but an earlier callback already claimed the flow.
    ALREADY_USED = "already_used"


def claim_outcome(
    flow: Flow | None, won: bool, binding_hash: bytes | None, now: float
) -> ClaimOutcome:
    """Turn a store's claim (the flow it holds, whether this call won it) into the outcome,
    given the binding hash this callback presented and the time."""
    if flow is None or now >= flow.forget_at:
        return ClaimOutcome.UNKNOWN
    if now < flow.created_at - CLOCK_TOLERANCE:
        return ClaimOutcome.CLOCK_SKEW
    if overdue(flow, now) is not None:
        return ClaimOutcome.EXPIRED
    if won:
        return ClaimOutcome.CLAIMED
    if binding_hash is None:
        return ClaimOutcome.MISSING_COOKIE
    if binding_hash != flow.binding_hash:
        return ClaimOutcome.OTHER_BROWSER
    return ClaimOutcome.ALREADY_USED


def claim_error(outcome: ClaimOutcome, flow: Flow | None, now: float) -> CallbackError:
    """The error that tells the browser why its callback did not go on."""
    if outcome is ClaimOutcome.UNKNOWN:
        return UnknownState()
    if outcome is ClaimOutcome.MISSING_COOKIE:
        return MissingBindingCookie()
    if outcome is ClaimOutcome.OTHER_BROWSER:
        return BindingMismatch()
    if outcome is ClaimOutcome.ALREADY_USED:
        return StateAlreadyUsed()
    if outcome is ClaimOutcome.CLOCK_SKEW and flow is not None:
        return ClockSkew(flow.created_at - now)
    late = None if flow is None else overdue(flow, now)
    if outcome is ClaimOutcome.EXPIRED and late is not None:
        return FlowExpired(late)
    raise UsageError(f"A claim that is {outcome.value} at this time carries no error.")
