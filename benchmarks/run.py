"""miroflow's hot paths beside a hand-tuned stdlib floor, in one run; prints the ratios.

    make bench                       # = .venv/bin/python benchmarks/run.py
    .venv/bin/python benchmarks/run.py --quick --json out.json [--services]

The floor (``_floor.py``) does the same work with the stdlib and no safety beyond the
essentials: about the fastest a Python implementation can be. See benchmarks/README.md for
what each row measures and where its aim comes from.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

import miroflow

import _floor
import _measure
import _ours

#: (a)-(d): miroflow may take this many times the floor's time.
AIM_RATIO = 3.0
#: (e): bytes one pending flow may keep in MemoryFlowStore.
AIM_BYTES = 350.0
#: (f): how much slower an operation may get when the store holds many more flows.
AIM_GROWTH = 1.2

_QUERY_TAIL = f"&client_id={_floor.CLIENT_ID}&team_id={_floor.TEAM_ID}"


@dataclasses.dataclass(frozen=True)
class Sizes:
    number: int  # operations per batch, (a)-(d)
    repeat: int  # rounds (after a warm-up round), each timing one batch of every side
    flows: int  # (e): pending flows weighed
    memory: tuple[int, int]  # (f): flows stored in MemoryFlowStore, small and large
    sqlite: tuple[int, int]  # (f): flows stored in SQLiteFlowStore
    redis: tuple[int, int]  # (f): flows stored in Redis
    postgres: tuple[int, int]  # (f): flows stored in PostgreSQL (each save() pays a commit)
    batch: int  # (f): start+claim operations per batch, memory store
    store_batch: int  # (f): start+claim operations per batch, stores with I/O
    #: SQLite's files on /dev/shm, where a commit costs no fsync (quick runs, which only
    #: check the rows), rather than in the temp dir, on disk.
    sqlite_on_tmpfs: bool = False


QUICK = Sizes(
    number=1_000, repeat=2, flows=5_000, memory=(1_000, 5_000), sqlite=(100, 1_000),
    redis=(100, 1_000), postgres=(100, 1_000), batch=500, store_batch=20,
    sqlite_on_tmpfs=os.path.isdir("/dev/shm"),
)
FULL = Sizes(
    number=2_000, repeat=25, flows=100_000, memory=(1_000, 1_000_000), sqlite=(1_000, 100_000),
    redis=(1_000, 100_000), postgres=(1_000, 10_000), batch=1_000, store_batch=100,
)


@dataclasses.dataclass(frozen=True)
class Row:
    key: str
    name: str
    #: "µs" per operation (the best batch), "B" per flow, or "x": a growth factor (the
    #: median over rounds of large-store time / small-store time).
    unit: str
    floor: float
    miroflow: float
    #: miroflow/floor: for times, the median over rounds of the ratio within a round; None
    #: for a growth row.
    ratio: float | None
    aim: str = ""
    met: bool | None = None


def _compare(key: str, name: str, floor: _measure.Batch, ours: _measure.Batch, repeat: int) -> Row:
    floor_times, ours_times = _measure.rounds([floor, ours], repeat)
    ratio = _measure.paired_ratio(floor_times, ours_times)
    return Row(key, name, "µs", _measure.best(floor_times), _measure.best(ours_times), ratio,
               f"≤{AIM_RATIO:g}x", ratio <= AIM_RATIO)


def check_same_work() -> None:
    """The floor must build what miroflow builds: the same link (but the state), the same
    cookie (but its value), the same token request body."""
    floor, ours = _floor.MemoryFloor().start(), _ours.Ours(miroflow.MemoryFlowStore()).start()
    for mine, theirs in zip(floor, ours, strict=True):
        if _measure.blank(mine) != _measure.blank(theirs):
            raise RuntimeError(f"the floor's {mine!r} is not miroflow's {theirs!r}")
    if _floor.token_request(_floor.CODE)[1] != _ours.token_body():
        raise RuntimeError("the floor's token request body is not miroflow's")


def hot_paths(sizes: Sizes) -> list[Row]:
    """(a)-(d), each side with a store of its own."""
    check_same_work()
    number, repeat = sizes.number, sizes.repeat
    floor, ours = _floor.MemoryFloor(), _ours.Ours(miroflow.MemoryFlowStore())
    rows = [_compare("start", "(a) start", _measure.calls(floor.start, number),
                     _measure.calls(ours.start, number), repeat)]

    floor, ours = _floor.MemoryFloor(), _ours.Ours(miroflow.MemoryFlowStore())
    rows.append(_compare(
        "callback", "(b) callback to token request",
        _measure.callbacks(floor.start, floor.callback, _is_not_none, number, _floor.CODE,
                           _QUERY_TAIL),
        _measure.callbacks(ours.start, ours.callback, _ours.callback_ok, number, _floor.CODE,
                           _QUERY_TAIL),
        repeat,
    ))

    def floor_token() -> object:
        _floor.token_request(_floor.CODE)
        return _floor.parse_tokens(200, _floor.TOKEN_BODY, time.time())

    rows.append(_compare("token", "(c) token request + parse", _measure.calls(floor_token, number),
                         _measure.calls(lambda: _ours.token(time.time()), number), repeat))

    floor, ours = _floor.MemoryFloor(), _ours.Ours(miroflow.MemoryFlowStore())
    rows.append(_compare(
        "handle_callback", "(d) client.handle_callback",
        _measure.callbacks(floor.start, floor.handle_callback, lambda r: r[0] == 303, number,
                           _floor.CODE, _QUERY_TAIL),
        _measure.callbacks(ours.start, ours.handle_callback, lambda a: a.status == 303, number,
                           _floor.CODE, _QUERY_TAIL),
        repeat,
    ))
    return rows


def _is_not_none(value: object) -> bool:
    return value is not None


def memory(sizes: Sizes) -> Row:
    """(e): bytes each pending flow keeps, ``sizes.flows`` flows started."""
    floor = _measure.bytes_per_flow(_floor.MemoryFloor().start, sizes.flows)
    ours = _measure.bytes_per_flow(_ours.Ours(miroflow.MemoryFlowStore()).start, sizes.flows)
    name = f"(e) memory per pending flow, {_count(sizes.flows)}"
    return Row("memory_per_flow", name, "B", floor, ours, ours / floor, f"≤{AIM_BYTES:g} B",
               ours <= AIM_BYTES)


def scaling(
    key: str,
    label: str,
    make_floor: _measure.Maker,
    make_ours: _measure.Maker,
    counts: tuple[int, int],
    number: int,
    repeat: int,
    notes: list[str],
    *,
    rebuild_small: bool = False,
    gc_costs: bool = False,
) -> list[Row]:
    """(f): start+claim per operation with ``counts`` flows stored, and the growth.

    Each round times all four stores in turn (floor and miroflow, small and large), so a slow
    phase of the machine hits them alike; round 0 warms up. The timed operations add claimed
    flows to each store (``number`` a round): with ``rebuild_small`` the small stores are
    built afresh every round to stay small. (Not for files: a new SQLite file's first
    commits grow its WAL, and so cost more than those of a store that has been running.)"""
    small, large = counts
    tracked = _measure.tracked() if gc_costs else 0
    big_floor, big_ours = make_floor(), make_ours()
    build_floor = _measure.timed(functools.partial(big_floor.populate, 0, large))
    floor_tracked = _measure.tracked() if gc_costs else 0
    build_ours = _measure.timed(functools.partial(big_ours.populate, 0, large))
    notes.append(f"{label}: {_count(large)} flows saved in {build_floor:.1f} s (floor), "
                 f"{build_ours:.1f} s (miroflow, one save() each)")
    if gc_costs:
        notes.append(
            f"with {_count(large)} flows in each store, a full gc.collect() takes "
            f"{_measure.gc_pass() * 1e3:.0f} ms; per stored flow, MemoryFlowStore adds "
            f"{(_measure.tracked() - floor_tracked) / large:.2f} GC-tracked objects "
            f"(the Flow), the floor {(floor_tracked - tracked) / large:.2f}"
        )
    times: list[list[float]] = [[], [], [], []]
    sides: list[_measure.Side] = []
    try:
        for round_ in range(repeat + 1):
            if round_ == 0 or rebuild_small:
                for side in sides:
                    side.close()
                sides = [make_floor(), make_ours()]
                for side in sides:
                    side.populate(0, small)
            elapsed = [_measure.start_claim(side, number)()
                       for side in (*sides, big_floor, big_ours)]
            if round_:  # round 0 warms up
                for seconds, value in zip(times, elapsed, strict=True):
                    seconds.append(value)
    finally:
        for side in (*sides, big_floor, big_ours):
            side.close()
    floor_small, ours_small, floor_large, ours_large = times
    growth = _measure.paired_ratio(ours_small, ours_large)
    return [
        Row(f"{key}_small", f"(f) {label} start+claim, {_count(small)} flows", "µs",
            _measure.best(floor_small), _measure.best(ours_small),
            _measure.paired_ratio(floor_small, ours_small)),
        Row(f"{key}_large", f"(f) {label} start+claim, {_count(large)} flows", "µs",
            _measure.best(floor_large), _measure.best(ours_large),
            _measure.paired_ratio(floor_large, ours_large)),
        Row(f"{key}_growth", f"(f) {label} {_count(small)} -> {_count(large)}", "x",
            _measure.paired_ratio(floor_small, floor_large), growth, None,
            f"≤{AIM_GROWTH:g}x", growth <= AIM_GROWTH),
    ]


def sqlite_scaling(sizes: Sizes, notes: list[str]) -> list[Row]:
    try:
        from miroflow_sqlite import SQLiteFlowStore
    except ImportError as error:
        notes.append(f"SQLite rows skipped: miroflow_sqlite does not import ({error})")
        return []
    scratch = "/dev/shm" if os.path.isdir("/dev/shm") else None
    if sizes.sqlite_on_tmpfs:
        notes.append("SQLite files on /dev/shm (tmpfs: commits cost no fsync)")
    elif scratch is not None:
        notes.append("SQLite files in the temp dir (commits pay an fsync); miroflow's "
                     "populations saved into a copy on /dev/shm, then copied back")
    with tempfile.TemporaryDirectory(
        prefix="miroflow-bench-", dir=scratch if sizes.sqlite_on_tmpfs else None
    ) as directory:
        names = itertools.count()

        def make_floor() -> _measure.Side:
            return _floor.SQLiteFloor(os.path.join(directory, f"floor-{next(names)}.sqlite3"))

        def make_ours() -> _measure.Side:
            return _ours.FileStoreSide(
                lambda path: SQLiteFlowStore(path=path),
                os.path.join(directory, f"miroflow-{next(names)}.sqlite3"),
                None if sizes.sqlite_on_tmpfs else scratch,
            )

        return scaling("sqlite_store", "SQLiteFlowStore", make_floor, make_ours, sizes.sqlite,
                       sizes.store_batch, sizes.repeat, notes)


def service_scaling(sizes: Sizes, notes: list[str]) -> list[Row]:
    import _services  # needs redis-py and psycopg, which only --services does

    rows = []
    for key, label, open_makers in _services.SERVICES:
        with open_makers(notes) as makers:
            if makers is not None:
                counts = sizes.redis if key == "redis_store" else sizes.postgres
                rows += scaling(key, label, *makers, counts, sizes.store_batch, sizes.repeat,
                                notes)
    return rows


def _count(count: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count >= size and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


def _number(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"


def table(rows: Sequence[Row]) -> str:
    width = max(len(row.name) for row in rows)
    lines = [f"{'operation':{width}}  {'floor':>11}  {'miroflow':>11}  {'ratio':>6}  "
             f"{'aim':>8}  result"]
    for row in rows:
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        result = "" if row.met is None else ("met" if row.met else "MISSED")
        lines.append(
            f"{row.name:{width}}  {_number(row.floor, row.unit):>11}  "
            f"{_number(row.miroflow, row.unit):>11}  {ratio:>6}  {row.aim:>8}  {result}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (tests, CI)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    parser.add_argument("--services", action="store_true",
                        help="also Redis and PostgreSQL (skipped when unreachable)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    notes: list[str] = []
    steps: list[Callable[[], list[Row]]] = [
        lambda: hot_paths(sizes),
        lambda: [memory(sizes)],
        lambda: scaling("memory_store", "MemoryFlowStore", _floor.MemoryFloor,
                        lambda: _ours.Ours(miroflow.MemoryFlowStore()), sizes.memory,
                        sizes.batch, sizes.repeat, notes, rebuild_small=True, gc_costs=True),
        lambda: sqlite_scaling(sizes, notes),
    ]
    if args.services:
        steps.append(lambda: service_scaling(sizes, notes))
    began = time.perf_counter()
    rows: list[Row] = []
    for run in steps:
        rows.extend(run())
    print(f"miroflow {miroflow.__version__}, Python {platform.python_version()}, "
          f"{'quick' if args.quick else 'full'} run, best of {sizes.repeat} "
          f"(took {time.perf_counter() - began:.0f} s)\n")
    print(table(rows))
    print("\nµs: the best batch; ratio, and growth (the large store's time over the small "
          "one's): the median over rounds of the ratio within a round.")
    for note in notes:
        print(f"- {note}")
    if args.json:
        document = {
            "miroflow": miroflow.__version__, "python": platform.python_version(),
            "quick": args.quick, "repeat": sizes.repeat, "notes": notes,
            "rows": [dataclasses.asdict(row) for row in rows],
        }
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
