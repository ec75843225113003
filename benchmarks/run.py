"""miroflow beside a hand-tuned stdlib floor, a plain stdlib version and the peer libraries,
all in one run; prints the tables (and with --report writes BENCHMARKS.md and its plots).

    make bench        # .venv-bench/bin/python benchmarks/run.py --services --report .
    .venv/bin/python benchmarks/run.py --quick --json out.json [--services]
    .venv-bench/bin/python benchmarks/run.py --only stores --services   # the store claims

The floor (``_floor.py``) does the same work with the stdlib and no safety beyond the
essentials: about the fastest a Python implementation can be. See benchmarks/README.md for
what each row measures and where its aim comes from.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import miroflow

import _floor
import _http
import _measure
import _ours
import _peers
import _plain
import _profile
import _store_rows
from _rows import (
    AIM_BYTES,
    AIM_GROWTH,
    AIM_RATIO,
    Row,
    count_text,
    peer_table,
    table,
)

_QUERY_TAIL = f"&client_id={_floor.CLIENT_ID}&team_id={_floor.TEAM_ID}"


@dataclasses.dataclass(frozen=True)
class Sizes:
    number: int  # most operations per batch, micro rows
    batch_seconds: float  # micro rows: each side's batch is sized to take about this long
    repeat: int  # rounds (after a warm-up round), each timing one batch of every side
    flows: int  # pending flows weighed for the memory row
    scale: tuple[int, ...]  # flows stored in MemoryFlowStore for the scaling rows
    scale_batch: int  # operations per batch, scaling rows
    scale_repeat: int
    expired: tuple[int, ...]  # expired flows swept
    live: int  # live flows stored behind them
    sweep_repeat: int
    sqlite: tuple[int, int]  # flows stored in SQLiteFlowStore, start+claim growth
    redis: tuple[int, int]
    postgres: tuple[int, int]
    store_batch: int  # start+claim operations per batch, stores with I/O
    claims: int  # claims per side per round, store rows
    claim_repeat: int
    #: SQLite's files on /dev/shm, where a commit costs no fsync (quick runs, which only
    #: check the rows), rather than in the temp dir, on disk.
    sqlite_on_tmpfs: bool = False


QUICK = Sizes(
    number=300, batch_seconds=0.002, repeat=2, flows=5_000, scale=(1_000, 5_000),
    scale_batch=200, scale_repeat=2, expired=(100, 1_000), live=1_000, sweep_repeat=1,
    sqlite=(100, 1_000), redis=(100, 1_000), postgres=(100, 1_000), store_batch=20,
    claims=20, claim_repeat=2, sqlite_on_tmpfs=os.path.isdir("/dev/shm"),
)
FULL = Sizes(
    number=2_000, batch_seconds=0.02, repeat=20, flows=100_000,
    scale=(1_000, 100_000, 1_000_000), scale_batch=1_000, scale_repeat=12,
    expired=(1_000, 10_000, 100_000), live=10_000, sweep_repeat=3,
    sqlite=(1_000, 100_000), redis=(1_000, 20_000), postgres=(1_000, 5_000), store_batch=100,
    claims=200, claim_repeat=10,
)


def _stats(times: Sequence[Sequence[float]]) -> list[dict[str, Any]]:
    """For each side: median µs, and the median and quartiles of its per-round ratio to the
    first side (the floor)."""
    out = []
    for seconds in times:
        ratios = _measure.ratios(times[0], seconds)
        out.append({"us": _measure.median_us(seconds), "ratio": statistics.median(ratios),
                    "spread": list(_measure.quartiles(ratios))})
    return out


def _sized(make: Callable[[int], _measure.Batch], sizes: Sizes) -> _measure.Batch:
    """A batch of about ``sizes.batch_seconds``: ten operations timed first to size it."""
    probe = make(10)
    probe()
    each = max(probe(), 1e-7)
    return make(max(10, min(sizes.number, round(sizes.batch_seconds / each))))


def compare(key: str, name: str, sides: dict[str, Callable[[int], _measure.Batch]],
            sizes: Sizes) -> Row:
    """One micro row: every side's batch in each round, in turn; ratios to the floor."""
    names = list(sides)
    if names[0] != "floor" or "miroflow" not in names:
        raise ValueError(f"a row needs the floor first and miroflow: {names}")
    batches = [_sized(sides[side], sizes) for side in names]
    stats = dict(zip(names, _stats(_measure.rounds(batches, sizes.repeat)), strict=True))
    ours = stats["miroflow"]
    return Row(key, name, "µs", stats["floor"]["us"], ours["us"], ours["ratio"],
               tuple(ours["spread"]), f"≤{AIM_RATIO:g}x", ours["ratio"] <= AIM_RATIO,
               {side: stats[side] for side in names if side not in ("floor", "miroflow")})


def _calls(function: Callable[[], object]) -> Callable[[int], _measure.Batch]:
    return lambda number: _measure.calls(function, number)


def _callbacks(start: Callable[[], tuple[str, str]], handle: Callable[[str, str], Any],
               succeeded: Callable[[Any], bool]) -> Callable[[int], _measure.Batch]:
    return lambda number: _measure.callbacks(start, handle, succeeded, number, _floor.CODE,
                                             _QUERY_TAIL)


def check_same_work() -> None:
    """The floor must build what miroflow builds: the same link (but the random values), the
    same cookie (but its value), the same token request body."""
    for floor, ours in (
        (_floor.MemoryFloor().start(), _ours.Ours(miroflow.MemoryFlowStore()).start()),
        (_floor.MemoryFloor().start_pkce(),
         _ours.Ours(miroflow.MemoryFlowStore(), _ours.PKCE).start()),
    ):
        for mine, theirs in zip(floor, ours, strict=True):
            if _measure.blank(mine) != _measure.blank(theirs):
                raise RuntimeError(f"the floor's {mine!r} is not miroflow's {theirs!r}")
    if _floor.token_request(_floor.CODE)[1] != _ours.token_body():
        raise RuntimeError("the floor's token request body is not miroflow's")


def micro(sizes: Sizes, peers: dict[str, dict[str, _peers.Timed]]) -> list[Row]:
    """(a)-(e) and the whole callback; each side with a store of its own."""
    check_same_work()

    def peer_sides(op: str, wrap: Callable[[dict[str, _peers.Timed]], Any]) -> dict[str, Any]:
        return {name: wrap(timed) for name, timed in peers.items() if op in timed}

    floor, plain, ours = _floor.MemoryFloor(), _plain.Plain(), _ours.Ours(
        miroflow.MemoryFlowStore())
    rows = [compare("start", "(a) start", {
        "floor": _calls(floor.start), "plain": _calls(plain.start),
        **peer_sides("start", lambda t: _calls(t["start"])), "miroflow": _calls(ours.start),
    }, sizes)]

    pkce = _ours.Ours(miroflow.MemoryFlowStore(), _ours.PKCE)
    rows.append(compare("start_pkce", "(a) start, PKCE S256", {
        "floor": _calls(floor.start_pkce), "plain": _calls(plain.start_pkce),
        **peer_sides("start_pkce", lambda t: _calls(t["start_pkce"])),
        "miroflow": _calls(pkce.start),
    }, sizes))

    floor, plain, ours = _floor.MemoryFloor(), _plain.Plain(), _ours.Ours(
        miroflow.MemoryFlowStore())
    rows.append(compare("callback", "(b) callback to token request", {
        "floor": _callbacks(floor.start, floor.callback, _is_not_none),
        "plain": _callbacks(plain.start, plain.callback, _is_not_none),
        **peer_sides("callback", lambda t: _callbacks(t["start"], t["callback"], _is_not_none)),
        "miroflow": _callbacks(ours.start, ours.callback, _ours.callback_ok),
    }, sizes))

    def floor_token() -> object:
        _floor.token_request(_floor.CODE)
        return _floor.parse_tokens(200, _floor.TOKEN_BODY, time.time())

    rows.append(compare("token", "(c) token request + parse", {
        "floor": _calls(floor_token), "plain": _calls(_plain.token),
        **peer_sides("token", lambda t: _calls(t["token"])),
        "miroflow": _calls(lambda: _ours.token(time.time())),
    }, sizes))

    record: _floor.FlowRecord = ("redirected", b"s" * 32, b"b" * 16, 1.0, 901.0)
    check(_floor.client_step(record, "callback", _floor.CODE)[0][0] == "code_received")
    check(_ours.client_step_ok(_ours.client_step()))
    rows.append(compare("step_client", "(d) step, client flow machine", {
        "floor": _calls(lambda: _floor.client_step(record, "callback", _floor.CODE)),
        "miroflow": _calls(_ours.client_step),
    }, sizes))

    code: _floor.CodeRecord = ("issued", _floor.CLIENT_ID, _floor.REDIRECT_URI, "1",
                               _floor.TEAM_ID, 1_700_000_000.0)

    def redeem() -> object:
        return _floor.redeem(code, _floor.CLIENT_ID, _floor.CLIENT_SECRET, _floor.REDIRECT_URI,
                             "a" * 43, "r" * 43, 1_700_000_010.0)

    check(_floor.redeem(code, _floor.CLIENT_ID, _floor.CLIENT_SECRET, _floor.REDIRECT_URI,
                        "a" * 43, "r" * 43, 1_700_000_010.0)[2][0] == 200)
    check(_ours.simulator_step_ok(_ours.simulator_step()))
    rows.append(compare("step_simulator", "(d) step, simulator machine (code redeemed)", {
        "floor": _calls(redeem), "miroflow": _calls(_ours.simulator_step),
    }, sizes))

    check(_floor.loads_record(_floor.dumps_record(record)) == record)
    check(_ours.snapshot() == _ours.FLOW)
    rows.append(compare("snapshot", "(e) snapshot round trip (dumps+loads)", {
        "floor": _calls(lambda: _floor.loads_record(_floor.dumps_record(record))),
        "miroflow": _calls(_ours.snapshot),
    }, sizes))

    floor, ours = _floor.MemoryFloor(), _ours.Ours(miroflow.MemoryFlowStore())
    rows.append(compare("handle_callback", "whole client.handle_callback", {
        "floor": _callbacks(floor.start, floor.handle_callback, lambda r: r[0] == 303),
        "miroflow": _callbacks(ours.start, ours.handle_callback, lambda a: a.status == 303),
    }, sizes))
    return rows


def check(condition: bool) -> None:
    if not condition:
        raise RuntimeError("a benchmarked callable did not do its work")


def _is_not_none(value: object) -> bool:
    return value is not None


def memory(sizes: Sizes) -> Row:
    """Bytes each pending flow keeps, ``sizes.flows`` flows started."""
    floor = _measure.bytes_per_flow(_floor.MemoryFloor().start, sizes.flows)
    ours = _measure.bytes_per_flow(_ours.Ours(miroflow.MemoryFlowStore()).start, sizes.flows)
    name = f"memory per pending flow, {count_text(sizes.flows)}"
    return Row("memory_per_flow", name, "B", floor, ours, ours / floor, None,
               f"≤{AIM_BYTES:g} B", ours <= AIM_BYTES)


def memory_scaling(sizes: Sizes, notes: list[str]) -> list[Row]:
    """(a) and (b) with each of ``sizes.scale`` flows stored in MemoryFlowStore (and in the
    floor's dict). Every round times every size and side in turn; the smallest stores are
    rebuilt every round (the timed operations add ``2 * scale_batch`` flows a round)."""
    tracked = _measure.tracked()
    stores: dict[int, tuple[_floor.MemoryFloor, _ours.Ours]] = {}
    for count in sizes.scale[1:]:
        floor, ours = _floor.MemoryFloor(), _ours.Ours(miroflow.MemoryFlowStore())
        floor_seconds = _measure.timed(functools.partial(floor.populate, 0, count))
        floor_tracked = _measure.tracked()
        ours_seconds = _measure.timed(functools.partial(ours.populate, 0, count))
        stores[count] = floor, ours
        notes.append(f"MemoryFlowStore, {count_text(count)} flows saved in {ours_seconds:.1f} s "
                     f"(one save() each; the floor's dict: {floor_seconds:.1f} s)")
    large = sizes.scale[-1]
    notes.append(
        f"with {count_text(large)} flows in each store, a full gc.collect() takes "
        f"{_measure.gc_pass() * 1e3:.0f} ms; per stored flow, MemoryFlowStore adds "
        f"{(_measure.tracked() - floor_tracked) / large:.2f} GC-tracked objects "
        f"(the Flow), the floor {(floor_tracked - tracked) / large:.2f} (the batches run "
        "with the cyclic GC off)"
    )
    small = sizes.scale[0]
    ops = ("start", "callback")
    times: dict[tuple[str, int, str], list[float]] = {
        (op, count, side): [] for op in ops for count in sizes.scale
        for side in ("floor", "miroflow")}
    for round_ in range(sizes.scale_repeat + 1):
        floor, ours = _floor.MemoryFloor(), _ours.Ours(miroflow.MemoryFlowStore())
        floor.populate(0, small)
        ours.populate(0, small)
        stores[small] = floor, ours
        for count in sizes.scale:
            floor, ours = stores[count]
            batches = {
                ("start", "floor"): _measure.calls(floor.start, sizes.scale_batch),
                ("start", "miroflow"): _measure.calls(ours.start, sizes.scale_batch),
                ("callback", "floor"): _callbacks(floor.start, floor.callback, _is_not_none)(
                    sizes.scale_batch),
                ("callback", "miroflow"): _callbacks(ours.start, ours.callback,
                                                     _ours.callback_ok)(sizes.scale_batch),
            }
            for (op, side), batch in batches.items():
                elapsed = batch()
                if round_:
                    times[op, count, side].append(elapsed)
    rows = []
    for op, label in (("start", "(a) start"), ("callback", "(b) callback")):
        for count in sizes.scale:
            floor_times, ours_times = times[op, count, "floor"], times[op, count, "miroflow"]
            ratios = _measure.ratios(floor_times, ours_times)
            rows.append(Row(f"scale_{op}_{count_text(count)}",
                            f"{label}, {count_text(count)} flows stored", "µs",
                            _measure.median_us(floor_times), _measure.median_us(ours_times),
                            statistics.median(ratios), _measure.quartiles(ratios)))
        growth = _measure.ratios(times[op, small, "miroflow"], times[op, large, "miroflow"])
        rows.append(Row(
            f"scale_{op}_growth", f"{label}, {count_text(small)} -> {count_text(large)} flows", "x",
            _measure.paired_ratio(times[op, small, "floor"], times[op, large, "floor"]),
            statistics.median(growth), None, _measure.quartiles(growth),
            f"≤{AIM_GROWTH:g}x", statistics.median(growth) <= AIM_GROWTH))
    stores.clear()
    return rows


def sweeping(sizes: Sizes) -> list[Row]:
    """MemoryFlowStore.sweep against the number of expired flows, ``sizes.live`` live flows
    saved behind them; µs per forgotten flow (the total is that times the count)."""
    rows = []
    per_flow: dict[int, tuple[list[float], list[float]]] = {}
    old = time.time() - 10 * 86_400
    for count in sizes.expired:
        floor_times, ours_times = [], []
        for _ in range(sizes.sweep_repeat):
            store = miroflow.MemoryFlowStore()
            _ours.save_flows(store, 0, count, old, old + 900)
            _ours.save_flows(store, count, count + sizes.live, old, time.time() + 900)
            floor = _floor.SweepFloor()
            for index in range(count + sizes.live):
                seed = index.to_bytes(8, "big")
                forget_at = old + 900 + 3600 if index < count else time.time() + 4500
                floor.add(seed, seed, forget_at)
            now = time.time()
            with _measure.no_gc():
                began = time.perf_counter()
                floor.sweep(now)
                floor_times.append((time.perf_counter() - began) / count)
                began = time.perf_counter()
                forgotten = store.sweep(now)
                ours_times.append((time.perf_counter() - began) / count)
            if forgotten != count or len(store) != sizes.live or len(floor.flows) != sizes.live:
                raise RuntimeError(f"the sweep forgot {forgotten} of {count} flows")
        per_flow[count] = floor_times, ours_times
        ratios = _measure.ratios(floor_times, ours_times)
        rows.append(Row(f"sweep_{count_text(count)}",
                        f"sweep {count_text(count)} expired ({count_text(sizes.live)} live),"
                        " per flow",
                        "µs", _measure.median_us(floor_times), _measure.median_us(ours_times),
                        statistics.median(ratios), _measure.quartiles(ratios)))
    first, last = sizes.expired[0], sizes.expired[-1]
    rows.append(Row(
        "sweep_growth", f"sweep per flow, {count_text(first)} -> {count_text(last)} expired", "x",
        statistics.median(per_flow[last][0]) / statistics.median(per_flow[first][0]),
        statistics.median(per_flow[last][1]) / statistics.median(per_flow[first][1]), None))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (tests, CI)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    parser.add_argument("--services", action="store_true",
                        help="also Redis and PostgreSQL (skipped when unreachable)")
    parser.add_argument("--report", metavar="DIR",
                        help="write DIR/BENCHMARKS.md and its plots (needs matplotlib)")
    parser.add_argument("--only", choices=["stores"],
                        help="run one section and print it (no --report: the report needs "
                             "every section)")
    args = parser.parse_args(argv)
    if args.only == "stores":
        if args.report:
            parser.error("--report needs every section; run without --only")
        return stores_only(QUICK if args.quick else FULL, args.services, args.json)
    sizes = QUICK if args.quick else FULL
    notes: list[str] = []
    began = time.perf_counter()
    peers = _peers.available(notes)
    sections: dict[str, list[Row]] = {}
    sections["micro"] = micro(sizes, peers)
    sections["memory"] = [memory(sizes)]
    sections["scaling"] = memory_scaling(sizes, notes)
    sections["sweep"] = sweeping(sizes)
    scratch = "/dev/shm" if sizes.sqlite_on_tmpfs else None
    notes.append("SQLite files on /dev/shm (tmpfs: commits cost no fsync)" if scratch else
                 "SQLite files in the temp dir, on disk (commits pay an fsync); miroflow's "
                 "populations saved into a copy on /dev/shm, then copied back")
    with tempfile.TemporaryDirectory(prefix="miroflow-bench-", dir=scratch) as directory:
        sections["stores"] = _store_rows.store_claims(sizes, notes, directory, args.services)
        sections["store_scaling"] = _store_rows.sqlite_scaling(sizes, notes, directory)
    if args.services:
        sections["store_scaling"] += _store_rows.service_scaling(sizes, notes)
    sections["http"] = _http.callbacks(args.quick, notes)
    profiles, costs = _profile.run(2_000 if args.quick else 20_000,
                                   2_000 if args.quick else 100_000)
    seconds = time.perf_counter() - began
    rows = [row for section in sections.values() for row in section]
    header = (f"miroflow {miroflow.__version__}, Python {platform.python_version()}, "
              f"{'quick' if args.quick else 'full'} run, {sizes.repeat} rounds "
              f"(took {seconds:.0f} s)")
    print(header + "\n")
    print(table(rows))
    print("\nµs: the median batch; ratio: the median over rounds of the ratio within a round "
          "[its quartiles]; /s: claims per second (ratio = miroflow/raw).\n")
    print(peer_table(sections["micro"]))
    print()
    for profile in profiles:
        print(f"profile {profile.operation}: {profile.attrs_inits:.0f} attrs inits per call, "
              f"{profile.attrs_own_share:.0%} of the time in them")
    print("construction, µs: " + ", ".join(f"{k} {v:.2f}" for k, v in costs.items()))
    for note in notes:
        print(f"- {note}")
    document: dict[str, Any] = {
        "miroflow": miroflow.__version__, "python": platform.python_version(),
        "quick": args.quick, "repeat": sizes.repeat, "seconds": seconds, "notes": notes,
        "peers": _peers.versions(), "sections": {k: [r.key for r in v] for k, v in
                                                  sections.items()},
        "rows": [dataclasses.asdict(row) for row in rows],
        "profiles": [dataclasses.asdict(profile) for profile in profiles],
        "construction_us": costs,
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2, ensure_ascii=False)
    if args.report:
        import _report

        _report.write(args.report, document, sections, command=_command(argv))
    return 0


def stores_only(sizes: Sizes, services: bool, json_path: str | None) -> int:
    """Only the store claims beside the raw client (and where a claim's time goes)."""
    notes: list[str] = []
    scratch = "/dev/shm" if sizes.sqlite_on_tmpfs else None
    with tempfile.TemporaryDirectory(prefix="miroflow-bench-", dir=scratch) as directory:
        rows = _store_rows.store_claims(sizes, notes, directory, services)
    print(table(rows))
    for row in rows:
        print(f"{row.name}: raw p50/p99 {row.others['raw_p50_us']:.0f}/"
              f"{row.others['raw_p99_us']:.0f} µs, miroflow "
              f"{row.others['miroflow_p50_us']:.0f}/{row.others['miroflow_p99_us']:.0f} µs; "
              + ", ".join(f"{name} {share:.0%}" if share else name
                          for name, share in row.others["profile"]))
    for note in notes:
        print(f"- {note}")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as file:
            json.dump({"rows": [dataclasses.asdict(row) for row in rows], "notes": notes},
                      file, indent=2, ensure_ascii=False)
    return 0


def _command(argv: Sequence[str] | None) -> str:
    arguments = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["benchmarks/run.py", *arguments])


if __name__ == "__main__":
    sys.exit(main())
