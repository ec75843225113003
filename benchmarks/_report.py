"""BENCHMARKS.md and its plots (benchmarks/plots/*.png), from one run's numbers.

Every figure in the report comes from the run that writes it; nothing is copied from an
earlier run. matplotlib is needed (``make bench`` installs it into .venv-bench).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import sqlite3
from collections.abc import Sequence
from typing import Any

import _rows as bench

_PLOTS = "benchmarks/plots"
_LABELS = {"floor": "floor (hand-tuned stdlib)", "plain": "plain stdlib"}


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _machine() -> list[str]:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    model = line.partition(":")[2].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as file:
            kib = int(file.readline().split()[1])
            memory = f", {kib / 2**20:.0f} GiB memory"
    except (OSError, ValueError, IndexError):
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return [
        f"- Machine: {model}, {os.cpu_count()} cores{memory}; {platform.system()} "
        f"{platform.release()} (a shared host: its speed drifts, hence the paired ratios); "
        f"load average when the report was written {load[0]:.1f}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"SQLite {sqlite3.sqlite_version}",
    ]


def _versions(document: dict[str, Any]) -> str:
    names = ["miroflow", "attrs", "cattrs", "miroflow-sqlite", "miroflow-redis",
             "miroflow-postgres", "redis", "psycopg", "matplotlib"]
    found = [f"{name} {_version(name)}" for name in names]
    found += [f"{name} {version}" for name, version in document["peers"].items()]
    return "- Versions: " + ", ".join(found)


def _classes(profile: dict[str, Any]) -> str:
    return ", ".join(f"{count:g}× {name}" if count != 1 else name
                     for name, count in profile["attrs_classes"].items())


def _fmt(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _ratio(row: bench.Row) -> str:
    if row.ratio is None:
        return "–" if row.spread is None else (
            f"quartiles {row.spread[0]:.2f}–{row.spread[1]:.2f}")
    spread = "" if row.spread is None else f" ({row.spread[0]:.2f}–{row.spread[1]:.2f})"
    return f"{row.ratio:.2f}×{spread}"


def _result(row: bench.Row) -> str:
    return "" if row.met is None else ("met" if row.met else "**missed**")


def peers_table(rows: Sequence[bench.Row], present: Sequence[str]) -> list[str]:
    head = ["op", *(_LABELS.get(side, side) for side in present)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row.name]
        for side in present:
            if side == "floor":
                cells.append(_fmt(row.floor))
            elif side == "miroflow":
                cells.append(f"**{_fmt(row.miroflow)}** ({row.ratio or 0:.1f}×)")
            elif side in row.others:
                other = row.others[side]
                cells.append(f"{_fmt(other['us'])} ({other['ratio']:.1f}×)")
            else:
                cells.append("–")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def aims_table(rows: Sequence[bench.Row]) -> list[str]:
    lines = ["| measure | floor / reference | miroflow | ratio: median (quartiles) | aim | "
             "result |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.name} | {bench.number(row.floor, row.unit)} | "
                     f"{bench.number(row.miroflow, row.unit)} | {_ratio(row)} | {row.aim} | "
                     f"{_result(row)} |")
    return lines


def http_section(row: bench.Row, notes: Sequence[str]) -> list[str]:
    """The HTTP row (``_http.py``): both servers' callbacks/s, the ratio, where the gap goes."""
    o, result = row.others, "met" if row.met else "**missed**"
    how = next((note for note in notes if note.startswith("HTTP: ")), "HTTP: -")[6:]
    gap_us = 1e6 / o["miroflow_rate"] - 1e6 / o["bare_rate"]
    app_gap, core_gap = o["app_gap_us"], o["core_gap_us"]
    lines = [
        "## HTTP: callbacks per second through miroflow-starlette under uvicorn",
        "",
        "| server (uvicorn, one worker) | callbacks per CPU second it got | callbacks/s "
        "(wall clock) | its share of its core | latency p50 / p99 |",
        "|---|---|---|---|---|",
    ]
    for side, name in (("bare", "bare Starlette handler, the floor's callback"),
                       ("miroflow", "miroflow-starlette, `Miroflow(client).routes`")):
        lines.append(
            f"| {name} | **{o[f'{side}_per_cpu_s']:,.0f}** | {o[f'{side}_rate']:,.0f}/s | "
            f"{o[f'{side}_server_cpu']:.0%} | {o[f'{side}_p50_us']:.0f} / "
            f"{o[f'{side}_p99_us']:.0f} µs |")
    lines += [
        "",
        f"miroflow / bare, callbacks per CPU second each server got: **{_ratio(row)}** "
        "(median over rounds of the ratio within a round, quartiles in parentheses); aim "
        f"{row.aim}: {result}. By the wall clock: {o['wall_ratio']:.2f}× "
        f"({o['wall_q1']:.2f}–{o['wall_q3']:.2f}). The aim is judged per CPU second: each "
        "server is pinned to one core, but this host's other work shares that core (the "
        "share each server got is in the table, read from `/proc` around every point), so "
        "the wall-clock rate mostly says how much of the core a server was left, which "
        "differs from point to point; where a server has its core to itself the two "
        "figures are the same.",
        "",
        f"How: {how}. Each server prepares its flows in its own memory before the clock "
        "starts, so every timed request is a fresh, valid callback with its binding cookie; "
        "miroflow's transport answers the token request in-process at once with Miro's "
        "success JSON, and the bare handler runs the floor's whole callback (its (b), the "
        "same JSON parsed, the tokens kept). Both sit behind the same `SessionMiddleware`, "
        "write the same session entry and send the same 303 to `/` (same headers). Every "
        "response is checked after its point (a 303 to `/` that sets the session) and the "
        "point's first callback is replayed (refused). The load generator (this process: "
        "keep-alive connections, one request in flight on each) used "
        f"{o['miroflow_load_cpu']:.0%} of its core during the miroflow points and "
        f"{o['bare_load_cpu']:.0%} during the bare ones: the servers, not the load, set the "
        "pace.",
        "",
        "Where the gap goes, measured in this process with no server (µs per callback, "
        "paired rounds, the cyclic GC on as in the servers): the floor's whole callback "
        f"{o['floor_callback_us']:.1f}, miroflow's "
        f"`client.handle_callback` {o['core_callback_us']:.1f}; the bare app called through "
        f"ASGI (Starlette, the session, the response) {o['bare_app_us']:.1f}, the miroflow "
        f"app {o['miroflow_app_us']:.1f}. Of the {app_gap:.0f} µs by which a miroflow "
        f"request exceeds a bare one there (median over rounds), {core_gap:.0f} µs are the "
        "core's callback beyond the floor's; the rest is the adapter's translation (the "
        "answer rendered into a `Page`, then a Starlette `Response`: a few µs, about what "
        "the bare handler's own `Response` costs) and the cyclic GC, which runs more often "
        "behind miroflow's allocations. Over "
        f"HTTP the gap is {gap_us:.0f} µs of wall time per callback, "
        f"{1e6 / o['miroflow_per_cpu_s'] - 1e6 / o['bare_per_cpu_s']:.0f} µs of the server's "
        "CPU time (the rest waits for the core, shared with other processes).",
        "",
    ]
    return lines


def _plot(document: dict[str, Any], sections: dict[str, list[bench.Row]], root: str,
          present: Sequence[str]) -> list[str]:
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    folder = os.path.join(root, _PLOTS)
    os.makedirs(folder, exist_ok=True)
    written = []

    # Time per operation against pending flows; the sweep against expired flows.
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    scaling = [row for row in sections["scaling"] if row.unit == "µs"]
    for op, marker, color in (("start", "o", "C0"), ("callback", "s", "C1")):
        mine = [row for row in scaling if row.key.startswith(f"scale_{op}_")]
        counts = [int(row.key.rpartition("_")[2].replace("k", "000").replace("M", "000000"))
                  for row in mine]
        label = "(a) start" if op == "start" else "(b) callback"
        left.plot(counts, [row.miroflow for row in mine], marker=marker, color=color,
                  label=f"{label}, miroflow")
        left.plot(counts, [row.floor for row in mine], marker=marker, linestyle="--",
                  color=color, alpha=0.6, label=f"{label}, floor")
    left.set_xscale("log")
    left.set_ylim(bottom=0)
    left.set_xlabel("pending flows in MemoryFlowStore")
    left.set_ylabel("µs per operation (median)")
    left.set_title("Time per operation against pending flows")
    left.legend(fontsize=8)
    sweep = [row for row in sections["sweep"] if row.unit == "µs"]
    expired = [int(row.key.rpartition("_")[2].replace("k", "000").replace("M", "000000"))
               for row in sweep]
    right.plot(expired, [row.miroflow * n / 1e3 for row, n in zip(sweep, expired, strict=True)],
               marker="o", label="MemoryFlowStore.sweep")
    right.plot(expired, [row.floor * n / 1e3 for row, n in zip(sweep, expired, strict=True)],
               marker="o", linestyle="--", label="floor (dict + deque)")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("expired flows swept")
    right.set_ylabel("ms per sweep (median)")
    right.set_title("Expiry sweep against expired flows")
    right.legend(fontsize=8)
    figure.tight_layout()
    path = os.path.join(folder, "scaling.png")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    written.append(path)

    # miroflow against the peers, per operation.
    rows = sections["micro"]
    figure, axis = plt.subplots(figsize=(11, 0.3 * len(rows) * len(present) / 2 + 1.5))
    height = 0.8 / len(present)
    for index, side in enumerate(present):
        values, positions = [], []
        for position, row in enumerate(rows):
            value = (row.floor if side == "floor" else row.miroflow if side == "miroflow"
                     else row.others.get(side, {}).get("us"))
            if value is not None:
                values.append(value)
                positions.append(position + index * height)
        axis.barh(positions, values, height=height, label=_LABELS.get(side, side))
    axis.set_yticks([position + 0.4 - height / 2 for position in range(len(rows))])
    axis.set_yticklabels([row.name for row in rows], fontsize=8)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlabel("µs per operation (median, log scale)")
    axis.set_title("miroflow against the floor, plain stdlib and the peers, per operation")
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    path = os.path.join(folder, "peers.png")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    written.append(path)

    stores = sections["stores"]
    if stores:
        figure, axis = plt.subplots(figsize=(8, 3.8))
        labels = [row.name.replace(" claim", "") for row in stores]
        width = 0.2
        series = (("raw_p50_us", "raw client p50"), ("miroflow_p50_us", "miroflow p50"),
                  ("raw_p99_us", "raw client p99"), ("miroflow_p99_us", "miroflow p99"))
        for index, (key, label) in enumerate(series):
            axis.bar([position + index * width for position in range(len(stores))],
                     [row.others[key] for row in stores], width=width, label=label)
        axis.set_xticks([position + 1.5 * width for position in range(len(stores))])
        axis.set_xticklabels(labels)
        axis.set_yscale("log")
        axis.set_ylabel("µs per claim")
        axis.set_title("Claim latency: each store beside the raw client's primitive")
        axis.legend(fontsize=8)
        figure.tight_layout()
        path = os.path.join(folder, "stores.png")
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def write(root: str, document: dict[str, Any], sections: dict[str, list[bench.Row]], *,
          command: str) -> None:
    present = [side for side in bench.SIDES if side in ("floor", "miroflow")
               or any(side in row.others for row in sections["micro"])]
    plots = _plot(document, sections, root, present)
    rows = {row.key: row for section in sections.values() for row in section}
    profiles = document["profiles"]
    costs = document["construction_us"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` "
        f"(`.venv-bench/bin/python {command}`) in {document['seconds']:.0f} s; every figure "
        "below comes from that one run, each beside its references measured in the same run. "
        "How it measures, and what each side does: [benchmarks/README.md]"
        "(benchmarks/README.md).",
        "",
        *_machine(),
        _versions(document),
        "",
        "Times are medians over rounds; in each round every side runs one batch in turn, so a "
        "slow phase of the (shared) machine slows them all. A ratio is the median over rounds "
        "of the ratio within a round, with its quartiles in parentheses (the spread). "
        "Peers only do part of the work (see the README): what a peer leaves to the app "
        "(keeping the state between the two requests, the cookie) is the same thin glue for "
        "each of them.",
        "",
        "## miroflow against the floor, plain stdlib and the peers (µs per operation, × the "
        "floor)",
        "",
        *peers_table(sections["micro"], present),
        "",
        "(c) for oauthlib, plain, floor and miroflow builds the request body and parses the "
        "token JSON; authlib, requests-oauthlib and miro-api only offer the exchange as one "
        "call that sends the request, so theirs includes their HTTP stack (requests, urllib3) "
        "down to a faked transport. miro-api makes no state of its own (the glue draws it) and "
        "has no PKCE. No peer has a state machine or a record format: (d) and (e) are "
        "miroflow against the floor only, and so is the whole callback.",
        "",
        f"![miroflow against the peers per operation]({_PLOTS}/peers.png)",
        "",
        "## Aims",
        "",
        *aims_table([row for row in rows.values() if row.aim]),
        "",
        "## Scaling: pending flows, expired flows",
        "",
        *aims_table(sections["scaling"] + sections["sweep"]),
        "",
        f"![time per operation against pending flows]({_PLOTS}/scaling.png)",
        "",
        "## Stores: claim throughput and latency beside the raw primitive",
        "",
        "| store | raw client | miroflow | ratio (quartiles) | raw p50 / p99 | "
        "miroflow p50 / p99 | aim | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sections["stores"]:
        other = row.others
        lines.append(
            f"| {row.name} | {bench.number(row.floor, row.unit)} | "
            f"{bench.number(row.miroflow, row.unit)} | {_ratio(row)} | "
            f"{other['raw_p50_us']:.0f} / {other['raw_p99_us']:.0f} µs | "
            f"{other['miroflow_p50_us']:.0f} / {other['miroflow_p99_us']:.0f} µs | {row.aim} | "
            f"{_result(row)} |")
    lines += [
        "",
        "The raw client runs the same compare-and-set as the store, as one statement or "
        "script (see `benchmarks/_stores.py`). miroflow's PostgreSQL and Redis stores send "
        "that one statement or script too (PostgreSQL in autocommit, as the raw client); its "
        "SQLite store runs it inside `BEGIN IMMEDIATE` ... `COMMIT` (in-process, so no round "
        "trips: the record is decoded before the commit). Each store also decodes the record "
        "into a `Flow` and goes through its port. One client, one connection, claims in "
        "sequence.",
        "",
        "Where a miroflow claim's time goes (cProfile over "
        f"{sections['stores'][0].others['profiled'] if sections['stores'] else 0} more "
        "claims after the race, own time by layer):",
        "",
        *(f"- {row.name}: " + ", ".join(f"{layer} {share:.0%}" if share else layer
                                        for layer, share in row.others["profile"][:6])
          for row in sections["stores"]),
        "",
    ]
    if plots and sections["stores"]:
        lines += [f"![claim latency per store]({_PLOTS}/stores.png)", ""]
    lines += [
        "Start+claim in the stores with I/O, small and large populations (one `save()` per "
        "stored flow), beside the floor's own table or keys:",
        "",
        *aims_table(sections["store_scaling"]),
        "",
    ]
    if sections.get("http"):
        lines += http_section(sections["http"][0], document["notes"])
    lines += ["## Where miroflow misses an aim, and why", ""]
    missed = [row for row in rows.values() if row.met is False]
    if missed:
        lines.append("Missed in this run: " + "; ".join(
            f"{row.name} ({_ratio(row)}, aim {row.aim})" for row in missed) + ".")
    else:
        lines.append("Every aim was met in this run.")
    lines += ["", "Profile (cProfile over many calls; its overhead inflates small functions, "
              "so shares are indicative):", ""]
    for profile in profiles:
        top = ", ".join(f"`{name}` {own:.2f} µs" for name, own, _ in profile["top"][:5])
        lines.append(
            f"- `{profile['operation']}`: {profile['attrs_inits']:.0f} frozen attrs objects "
            f"built per call, {profile['attrs_own_share']:.0%} of the profiled time inside "
            f"their generated `__init__`s; the largest own times per call: {top}.")
    flow, evolve = costs["Flow(...)"], costs["attrs.evolve(flow, state=...)"]
    start_gap = max(rows["start"].miroflow - rows["start"].floor, 1e-9)
    callback_gap = max(rows["handle_callback"].miroflow - rows["handle_callback"].floor, 1e-9)
    lines += [
        "",
        "Construction measured directly (no profiler, µs per object): "
        + ", ".join(f"{name} {value:.2f}" for name, value in costs.items()) + ". "
        f"A frozen attrs `Flow` costs {flow / costs['tuple(...)']:.0f}× a tuple of the same "
        f"fields and {flow / costs['plain slotted class']:.1f}× a plain slotted class; each "
        f"transition's `attrs.evolve` costs {evolve:.2f} µs. `client.start()` builds "
        f"{profiles[0]['attrs_inits']:.0f} such objects ({_classes(profiles[0])}); the whole "
        f"callback {profiles[1]['attrs_inits']:.0f} ({_classes(profiles[1])}). At "
        f"{flow:.2f} µs apiece that is ~{profiles[0]['attrs_inits'] * flow:.0f} µs of the "
        f"{start_gap:.0f} µs by which (a) exceeds the floor "
        f"({profiles[0]['attrs_inits'] * flow / start_gap:.0%}), and "
        f"~{profiles[1]['attrs_inits'] * flow:.0f} µs of the {callback_gap:.0f} µs of the whole "
        f"callback ({profiles[1]['attrs_inits'] * flow / callback_gap:.0%}); the rest of the "
        "callback is the strict parsing of the query and of the token JSON (the largest own "
        "times above). So frozen attrs construction is the largest single cost of a start, "
        "but not all of the gap: the profile puts "
        f"{profiles[0]['attrs_own_share']:.0%} of a start and "
        f"{profiles[1]['attrs_own_share']:.0%} of a callback inside the generated "
        "`__init__`s, the rest in the machine's and driver's own Python. (The construction "
        "costs are timed at the end of the run, minutes after the rows: on this host the two "
        "can differ by the machine's drift.)",
        "",
        "The store claims: a won claim sends one statement or script in every store, as the "
        "raw client does (counted in the store section above), so the gap is Python around "
        "the same call, mostly the record decoded into a `Flow` (`loads_flow`: json and "
        "cattrs, the core's), which costs about twice as much right after the claim's I/O as "
        "in a tight loop; on SQLite the commit's fsync dominates both sides (p99s in "
        "milliseconds, a wide spread).",
        "",
        "What limits it is the values the project's rules require: frozen, slotted, "
        "kw_only attrs classes, each built through `object.__setattr__` per field (see the "
        "construction costs above), and a pure machine that returns a new snapshot, effects "
        "and a reply for every step. Already done in `src/` along the levers these numbers "
        "pointed at: a start makes one `Flow` and one `Step` (the clients take "
        "`FlowStarted` and `UserRedirected` in one call, which a property test holds equal "
        "to the two steps); no transition calls `attrs.evolve`; the callback hashes its "
        "state once, for the claim; per-app strings are built once per `ClientConfig`; "
        "flow records are read and written without cattrs' generic path (held to the "
        "converter by property tests). What is left is the lever the rules rule out: a "
        "plain slotted class or a tuple for the hot values, which costs a fraction of a "
        "frozen attrs one (above).",
        "",
        "## Not done",
        "",
        "- pyperf is not used: it times each benchmark in its own worker processes, one "
        "after the other, so a floor and miroflow are never measured side by side; on this "
        "shared 2-core host, whose speed drifts by up to 2× in phases of seconds, the paired "
        "rounds here give steadier ratios, and a pyperf run of every side would not fit the "
        "~5 minute budget.",
        "",
        "## Notes from this run",
        "",
        *(f"- {note}" for note in document["notes"]),
        "",
    ]
    with open(os.path.join(root, "BENCHMARKS.md"), "w", encoding="utf-8") as file:
        file.write("\n".join(lines))
