"""How the benchmarks time and weigh things: rounds of batches taking turns (floor and
miroflow, small and large stores), best-of-N times, ratios as medians of per-round ratios,
the cyclic GC off while a batch runs (as ``timeit`` does), and tracemalloc for memory."""

from __future__ import annotations

import gc
import statistics
import time
import timeit
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol, TypeVar

R = TypeVar("R")

#: Runs one batch of an operation; returns seconds per operation.
Batch = Callable[[], float]


class Side(Protocol):
    """What a store-backed side (the floor's or miroflow's) offers the scaling runs."""

    def start(self) -> tuple[str, str]: ...

    def claim(self, state: str, binding: str, now: float) -> bool: ...

    def populate(self, start: int, stop: int) -> None: ...

    def close(self) -> None: ...


#: Makes a new, empty side.
Maker = Callable[[], Side]


@contextmanager
def no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def rounds(batches: Sequence[Batch], repeat: int) -> list[list[float]]:
    """Each batch once per round, in turn, for a warm-up round and ``repeat`` more; the
    seconds per operation of each batch in each counted round."""
    times: list[list[float]] = [[] for _ in batches]
    for round_ in range(repeat + 1):
        for batch, seconds in zip(batches, times, strict=True):
            elapsed = batch()
            if round_:
                seconds.append(elapsed)
    return times


def best(seconds: Sequence[float]) -> float:
    """The best time, in microseconds."""
    return min(seconds) * 1e6


def median_us(seconds: Sequence[float]) -> float:
    """The median time, in microseconds."""
    return statistics.median(seconds) * 1e6


def ratios(before: Sequence[float], after: Sequence[float]) -> list[float]:
    """after/before in each round."""
    return [b / a for a, b in zip(before, after, strict=True)]


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """The 25th and 75th percentiles (the spread reported beside a median)."""
    if len(values) < 2:
        return values[0], values[0]
    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return low, high


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def paired_ratio(before: Sequence[float], after: Sequence[float]) -> float:
    """The median over rounds of after/before. Both ran back to back in each round, so a
    slow phase of the machine (seconds long, here) slows both and cancels out."""
    return statistics.median(b / a for a, b in zip(before, after, strict=True))


def calls(function: Callable[[], object], number: int) -> Batch:
    """``number`` calls of ``function``."""
    timer = timeit.Timer(function)
    return lambda: timer.timeit(number) / number


def split(location: str, set_cookie: str) -> tuple[str, str]:
    """The raw state (in the authorization URL) and binding (the cookie's value)."""
    return (location.partition("&state=")[2].partition("&")[0],
            set_cookie.partition(";")[0].partition("=")[2])


def blank(text: str) -> str:
    """An authorization URL or Set-Cookie value with its random values taken out."""
    if "&state=" not in text:
        return text.replace(split(text, text)[1], "")
    for name in ("state", "code_challenge"):
        value = text.partition(f"&{name}=")[2].partition("&")[0]
        if value:
            text = text.replace(value, "")
    return text


def callbacks(
    start: Callable[[], tuple[str, str]],
    handle: Callable[[str, str], R],
    succeeded: Callable[[R], bool],
    number: int,
    code: str,
    extra: str,
) -> Batch:
    """``number`` callbacks, each for a flow ``start`` made before the clock started."""

    def batch() -> float:
        items = []
        for _ in range(number):
            state, binding = split(*start())
            items.append((f"code={code}&state={state}{extra}", binding))
        with no_gc():
            began = time.perf_counter()
            results = [handle(query, cookie) for query, cookie in items]
            elapsed = time.perf_counter() - began
        if not all(map(succeeded, results)):
            raise RuntimeError("a benchmarked callback failed")
        return elapsed / number

    return batch


def start_claim(side: Side, number: int) -> Batch:
    """``number`` times: start a flow, then claim it with its binding."""

    def batch() -> float:
        lost = 0
        with no_gc():
            began = time.perf_counter()
            for _ in range(number):
                state, binding = split(*side.start())
                if not side.claim(state, binding, time.time()):
                    lost += 1
            elapsed = time.perf_counter() - began
        if lost:
            raise RuntimeError(f"{lost} claims of fresh flows failed")
        return elapsed / number

    return batch


def gc_pass() -> float:
    """The best of three full collections, in seconds."""
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        gc.collect()
        best = min(best, time.perf_counter() - began)
    return best


def tracked() -> int:
    """How many objects the cyclic GC tracks (each costs every full collection time)."""
    gc.collect()
    return len(gc.get_objects())


def bytes_per_flow(start: Callable[[], object], count: int) -> float:
    """What ``count`` more starts keep allocated, per start (the answers are dropped)."""
    start()  # lazily built state (the store's first table, a cached regex) is not a flow's
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(count):
            start()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / count


def timed(function: Callable[[], object]) -> float:
    """Seconds one call of ``function`` takes."""
    began = time.perf_counter()
    function()
    return time.perf_counter() - began
