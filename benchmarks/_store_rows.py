"""The rows of the stores with I/O: start+claim with a small and a large population (the
floor's own table or keys beside), and claims beside the raw client's primitive."""

from __future__ import annotations

import functools
import itertools
import os
import statistics
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import _floor
import _measure
import _ours
import _stores
from _rows import AIM_GROWTH, AIM_STORE, Row, count_text

if TYPE_CHECKING:
    from run import Sizes


def scaling(
    key: str,
    label: str,
    make_floor: _measure.Maker,
    make_ours: _measure.Maker,
    counts: tuple[int, int],
    number: int,
    repeat: int,
    notes: list[str],
) -> list[Row]:
    """Start+claim per operation in a store with I/O, ``counts`` flows stored, and the
    growth. Each round times all four stores in turn (floor and miroflow, small and large);
    round 0 warms up. The stores are not rebuilt: a new SQLite file's first commits grow its
    WAL, and so cost more than those of a store that has been running."""
    small, large = counts
    big_floor, big_ours = make_floor(), make_ours()
    build_floor = _measure.timed(functools.partial(big_floor.populate, 0, large))
    build_ours = _measure.timed(functools.partial(big_ours.populate, 0, large))
    notes.append(f"{label}: {count_text(large)} flows saved in {build_floor:.1f} s (floor), "
                 f"{build_ours:.1f} s (miroflow, one save() each)")
    times: list[list[float]] = [[], [], [], []]
    sides = [make_floor(), make_ours()]
    try:
        for side in sides:
            side.populate(0, small)
        for round_ in range(repeat + 1):
            elapsed = [_measure.start_claim(side, number)()
                       for side in (*sides, big_floor, big_ours)]
            if round_:
                for seconds, value in zip(times, elapsed, strict=True):
                    seconds.append(value)
    finally:
        for side in (*sides, big_floor, big_ours):
            side.close()
    floor_small, ours_small, floor_large, ours_large = times
    growth = _measure.ratios(ours_small, ours_large)
    rows = []
    for size, floor_times, ours_times in ((small, floor_small, ours_small),
                                          (large, floor_large, ours_large)):
        ratios = _measure.ratios(floor_times, ours_times)
        rows.append(Row(f"{key}_{'small' if size == small else 'large'}",
                        f"{label} start+claim, {count_text(size)} flows", "µs",
                        _measure.median_us(floor_times), _measure.median_us(ours_times),
                        statistics.median(ratios), _measure.quartiles(ratios)))
    name = f"{label} start+claim, {count_text(small)} -> {count_text(large)}"
    rows.append(Row(f"{key}_growth", name,
                    "x", _measure.paired_ratio(floor_small, floor_large),
                    statistics.median(growth), None, _measure.quartiles(growth),
                    f"≤{AIM_GROWTH:g}x", statistics.median(growth) <= AIM_GROWTH))
    return rows


def sqlite_scaling(sizes: Sizes, notes: list[str], directory: str) -> list[Row]:
    from miroflow_sqlite import SQLiteFlowStore

    scratch = "/dev/shm" if os.path.isdir("/dev/shm") and not sizes.sqlite_on_tmpfs else None
    names = itertools.count()

    def make_floor() -> _measure.Side:
        return _floor.SQLiteFloor(os.path.join(directory, f"floor-{next(names)}.sqlite3"))

    def make_ours() -> _measure.Side:
        return _ours.FileStoreSide(
            lambda path: SQLiteFlowStore(path=path),
            os.path.join(directory, f"miroflow-{next(names)}.sqlite3"), scratch)

    return scaling("sqlite_store", "SQLiteFlowStore", make_floor, make_ours, sizes.sqlite,
                   sizes.store_batch, sizes.repeat, notes)


def service_scaling(sizes: Sizes, notes: list[str]) -> list[Row]:
    import _services  # needs redis-py and psycopg, which only --services does

    rows = []
    for key, label, open_makers in _services.SERVICES:
        with open_makers(notes) as makers:
            if makers is not None:
                counts = sizes.redis if key == "redis_store" else sizes.postgres
                rows += scaling(key, label, *makers, counts, sizes.store_batch,
                                min(sizes.repeat, 10), notes)
    return rows


def store_claims(sizes: Sizes, notes: list[str], directory: str, services: bool) -> list[Row]:
    """Each store's claims beside the raw client's, same server, same run."""
    name = f"miroflow_bench_{os.getpid()}"
    count = sizes.claims * (sizes.claim_repeat + 1)
    profiled = sizes.claims  # more flows, claimed under cProfile after the race
    total = count + profiled
    pairs: list[tuple[str, str, AbstractContextManager[_stores.Opened]]] = [
        ("sqlite_claim", "SQLiteFlowStore claim", _stores.sqlite_pair(directory, total, notes))]
    if services:
        pairs += [
            ("redis_claim", "RedisFlowStore claim", _stores.redis_pair(name, total, notes)),
            ("postgres_claim", "PostgresFlowStore claim",
             _stores.postgres_pair(name, total, notes)),
        ]
    rows = []
    for key, label, opener in pairs:
        with opener as opened:
            if opened is None:
                continue
            raw, ours = opened
            flows = _stores.keys(total)
            figures = _stores.race(raw, ours, flows[:count], sizes.claims, sizes.claim_repeat)
            shares = _stores.profile_claims(ours.store, flows[count:])
        rows.append(Row(
            key, label, "/s", figures.raw_per_second, figures.ours_per_second, figures.ratio,
            figures.spread, f"≥{AIM_STORE:.0%}", figures.ratio >= AIM_STORE,
            {"raw_p50_us": figures.raw_p50, "raw_p99_us": figures.raw_p99,
             "miroflow_p50_us": figures.ours_p50, "miroflow_p99_us": figures.ours_p99,
             "claims": figures.claims, "profiled": total - count, "profile": shares}))
    return rows
