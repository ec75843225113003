"""The shape of one row of the simulator's table, and the helpers its handlers share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from .._errors import UsageError
from ._events import Respond, ServerStep
from ._model import CodeState, PairState, Registry, SessionState, TicketState

__all__ = ["MIN_SECRET_LENGTH", "Handler", "Rule", "ServerState", "absorb", "answer", "check_drawn"]

#: 128 bits in unpadded base64url: the least a code or token drawn for the machine may carry.
MIN_SECRET_LENGTH = 22

ServerState = CodeState | PairState | SessionState | TicketState
Handler = Callable[[Any, Any, Registry, float], ServerStep]


@attrs.frozen(kw_only=True)
class Rule:
    """One row of the table (the same attribute names as ``miroflow.Rule``)."""

    targets: tuple[ServerState, ...]
    effects: tuple[type[Any], ...]
    why: str
    handler: Handler = attrs.field(repr=False, eq=False)


def answer(record: Any, response: Any, *saved: Any) -> ServerStep:
    return ServerStep(record=record, effects=(*saved, Respond(response=response)))


def check_drawn(*values: str) -> None:
    if any(len(value) < MIN_SECRET_LENGTH for value in values):
        raise UsageError("Codes and tokens given to the simulator must carry at least 128 bits.")


def absorb(record: Any, event: Any, registry: Registry, now: float) -> ServerStep:
    return ServerStep(record=record)
