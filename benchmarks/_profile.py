"""Where the time of ``client.start()`` and the callback goes: a cProfile pass over many
calls (its overhead inflates small functions, so the shares are indicative), and the direct
cost, without a profiler, of building the frozen attrs values they build."""

from __future__ import annotations

import cProfile
import dataclasses
import pstats
import timeit
from collections.abc import Callable
from hashlib import sha256
from typing import Any

import miroflow

import _measure
import _ours


@dataclasses.dataclass(frozen=True)
class Profile:
    operation: str
    calls: int
    total_us: float  # per operation, under the profiler
    attrs_inits: float  # attrs-generated __init__ calls per operation
    attrs_own_share: float  # their own time / total
    attrs_cumulative_share: float  # their time with what they call (validators, converters)
    attrs_classes: dict[str, float]  # class -> objects built per operation
    top: list[tuple[str, float, float]]  # (function, own µs per op, calls per op)


def _name(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    if filename.startswith("<attrs generated"):
        return filename.strip("<>").replace("attrs generated ", "attrs ")
    if filename == "~":
        return function
    short = filename.rpartition("/src/")[2] or filename.rpartition("/")[2]
    return f"{short}:{line}({function})"


def profile(operation: str, run: Callable[[], object], count: int) -> Profile:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        run()
    profiler.disable()
    # {key: (primitive calls, calls, own time, cumulative time, callers)}
    stats: Any = vars(pstats.Stats(profiler))["stats"]
    total = sum(entry[2] for entry in stats.values())
    attrs_keys = [key for key in stats if key[0].startswith("<attrs generated")]
    own = sum(stats[key][2] for key in attrs_keys)
    # Cumulative time of the outermost attrs inits only (one init building another would
    # otherwise count twice): those with no attrs init among their callers.
    cumulative = sum(
        stats[key][3] for key in attrs_keys
        if not any(caller[0].startswith("<attrs generated") for caller in stats[key][4])
    )
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:8]
    return Profile(
        operation=operation,
        calls=count,
        total_us=total / count * 1e6,
        attrs_inits=sum(stats[key][1] for key in attrs_keys) / count,
        attrs_own_share=own / total,
        attrs_cumulative_share=cumulative / total,
        attrs_classes={key[0].strip("<>").rpartition(".")[2]: stats[key][1] / count
                       for key in attrs_keys},
        top=[(_name(key), entry[2] / count * 1e6, entry[1] / count) for key, entry in ranked],
    )


def construction_costs(number: int) -> dict[str, float]:
    """µs to build one stored ``Flow`` (frozen, slotted, kw_only attrs, with its validators),
    beside a tuple and a plain slotted class holding the same fields; and an ``attrs.evolve``
    of it (how a transition makes the next flow)."""
    fields: dict[str, Any] = {
        "state": miroflow.FlowState.REDIRECTED, "state_hash": sha256(b"s").digest(),
        "binding_hash": sha256(b"b").digest()[:16], "created_at": 1.0, "deadline": 901.0,
    }

    class Slotted:
        __slots__ = ("binding_hash", "created_at", "deadline", "state", "state_hash")

        def __init__(self, *, state: object, state_hash: bytes, binding_hash: bytes,
                     created_at: float, deadline: float) -> None:
            self.state, self.state_hash, self.binding_hash = state, state_hash, binding_hash
            self.created_at, self.deadline = created_at, deadline

    import attrs

    flow = miroflow.Flow(**fields)
    values = tuple(fields.values())
    makers: dict[str, Callable[[], object]] = {
        "Flow(...)": lambda: miroflow.Flow(**fields),
        "attrs.evolve(flow, state=...)": lambda: attrs.evolve(
            flow, state=miroflow.FlowState.CODE_RECEIVED),
        "plain slotted class": lambda: Slotted(**fields),
        "tuple(...)": lambda: tuple(values),
    }
    costs = {}
    with _measure.no_gc():
        for label, make in makers.items():
            costs[label] = min(timeit.repeat(make, number=number, repeat=5)) / number * 1e6
    return costs


def run(count: int, number: int) -> tuple[list[Profile], dict[str, float]]:
    ours = _ours.Ours(miroflow.MemoryFlowStore())
    started = [_measure.split(*ours.start()) for _ in range(count)]
    queries = iter(
        (f"code=c&state={state}&client_id={_ours.CONFIG.client_id}", binding)
        for state, binding in started
    )

    def callback() -> object:
        query, binding = next(queries)
        return ours.handle_callback(query, binding)

    profiles = [profile("client.start()", ours.start, count),
                profile("client.handle_callback()", callback, count)]
    return profiles, construction_costs(number)
