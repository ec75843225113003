"""``miroflow spec``: the transition tables, as the core holds them.

The same documents ``specs/`` keeps (``miroflow.machine.table_to_spec``) and the same Mermaid
diagrams (``table_to_mermaid``), made from the installed miroflow's tables: what this install
really does, whatever version it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.table import Table

from miroflow import machine, simulator

__all__ = ["MACHINES", "spec_documents", "spec_tables", "write_mermaid"]

#: The machines, by the names ``specs/`` files them under.
MACHINES: Mapping[str, Mapping[Any, Any]] = {
    "flow": machine.TABLE,
    "tokens": machine.TOKEN_TABLE,
    "simulator": simulator.TABLE,
}


def spec_documents(names: list[str]) -> str:
    """The JSON documents: one machine's alone (as in ``specs/<name>.json``), or several by
    name."""
    documents = {name: machine.table_to_spec(MACHINES[name], machine=name) for name in names}
    shown: Any = documents[names[0]] if len(names) == 1 else documents
    return json.dumps(shown, indent=2)


def spec_tables(names: list[str]) -> list[Table]:
    """One table per machine: every transition, with its effects and replies."""
    tables = []
    for name in names:
        document = machine.table_to_spec(MACHINES[name], machine=name)
        table = Table(
            title=f"{name}: {len(document['transitions'])} transitions", title_justify="left"
        )
        for column in ("from", "input", "to", "effects", "replies"):
            table.add_column(column, overflow="fold")
        for row in document["transitions"]:
            table.add_row(
                row["from"] or "(none)",
                row["input"],
                ", ".join(row["to"]),
                ", ".join(row["effects"]),
                ", ".join(row.get("replies", ())),
            )
        tables.append(table)
    return tables


def write_mermaid(names: list[str], directory: Path) -> list[Path]:
    """``<directory>/<name>.mmd`` for each machine (the directory made if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        path = directory / f"{name}.mmd"
        path.write_text(machine.table_to_mermaid(MACHINES[name]), encoding="utf-8")
        written.append(path)
    return written
