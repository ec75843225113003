"""A result row, the aims, and the plain-text tables the run prints."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

#: Micro rows: miroflow may take this many times the floor's time.
AIM_RATIO = 3.0
#: Bytes one pending flow may keep in MemoryFlowStore.
AIM_BYTES = 350.0
#: Scaling: how much slower an operation may get when the store holds many more flows.
AIM_GROWTH = 1.2
#: Stores: miroflow's claim throughput, as a share of the raw primitive's.
AIM_STORE = 0.8

#: The micro table's columns, in order (peers only where installed).
SIDES = ("floor", "plain", "oauthlib", "authlib", "requests-oauthlib", "miro-api", "miroflow")


@dataclasses.dataclass(frozen=True)
class Row:
    key: str
    name: str
    #: "µs" per operation (the median batch), "B" per flow, "x" a growth factor (the median
    #: over rounds of large-store time / small-store time), "/s" claims per second.
    unit: str
    floor: float
    miroflow: float
    #: miroflow/floor (for "/s", miroflow/raw): the median over rounds of the ratio within a
    #: round; None for a growth row.
    ratio: float | None
    #: The quartiles of the per-round ratios (the spread beside the median).
    spread: tuple[float, float] | None = None
    aim: str = ""
    met: bool | None = None
    #: Micro rows: every other side, {"us": median µs, "ratio": median ratio to the floor,
    #: "spread": [q1, q3]}; store rows: latencies.
    others: dict[str, Any] = dataclasses.field(default_factory=dict)


def count_text(count: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count >= size and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


def number(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "B":
        return f"{value:.0f} B"
    return f"{value:.2f} µs" if value < 100 else f"{value:.0f} µs"


def ratio_text(row: Row) -> str:
    if row.ratio is None:
        return "" if row.spread is None else f"[{row.spread[0]:.2f}-{row.spread[1]:.2f}]"
    spread = "" if row.spread is None else f" [{row.spread[0]:.2f}-{row.spread[1]:.2f}]"
    return f"{row.ratio:.2f}x{spread}"


def table(rows: Sequence[Row]) -> str:
    width = max(len(row.name) for row in rows)
    lines = [f"{'operation':{width}}  {'floor':>12}  {'miroflow':>12}  {'ratio [IQR]':>20}  "
             f"{'aim':>7}  result"]
    for row in rows:
        result = "" if row.met is None else ("met" if row.met else "MISSED")
        lines.append(
            f"{row.name:{width}}  {number(row.floor, row.unit):>12}  "
            f"{number(row.miroflow, row.unit):>12}  {ratio_text(row):>20}  {row.aim:>7}  {result}"
        )
    return "\n".join(lines)


def peer_table(rows: Sequence[Row]) -> str:
    """µs per operation of every side (x the floor)."""
    present = [side for side in SIDES
               if any(side in ("floor", "miroflow") or side in row.others for row in rows)]
    lines = ["operation".ljust(44) + "".join(f"{side:>20}" for side in present)]
    for row in rows:
        cells = []
        for side in present:
            if side == "floor":
                cells.append(f"{row.floor:.2f}")
            elif side == "miroflow":
                cells.append(f"{row.miroflow:.2f} ({row.ratio or 0:.1f}x)")
            elif side in row.others:
                other = row.others[side]
                cells.append(f"{other['us']:.2f} ({other['ratio']:.1f}x)")
            else:
                cells.append("-")
        lines.append(row.name.ljust(44) + "".join(f"{cell:>20}" for cell in cells))
    return "\n".join(lines)
