"""Write the files in specs/ that are derived from the transition tables (`make spec`).

specs/flow.json, specs/tokens.json and specs/simulator.json are the machine-readable tables;
the Mermaid diagrams are spliced into specs/flow.md, specs/tokens.md, specs/simulator.md and
README.md between the GENERATED markers. tests/core/test_spec.py fails when any of them is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import miroflow
import miroflow.machine
import miroflow.records
from miroflow import simulator

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- BEGIN GENERATED DIAGRAM: {name} (make spec) -->"
END = "<!-- END GENERATED DIAGRAM: {name} -->"


def tables() -> dict[str, Any]:
    return {
        "flow": miroflow.machine.TABLE,
        "tokens": miroflow.machine.TOKEN_TABLE,
        "simulator": simulator.TABLE,
    }


def spec_json(name: str, table: Any) -> str:
    return json.dumps(miroflow.machine.table_to_spec(table, machine=name), indent=2) + "\n"


def diagram_block(name: str, table: Any) -> str:
    return (
        f"{BEGIN.format(name=name)}\n```mermaid\n{miroflow.machine.table_to_mermaid(table)}```\n"
        f"{END.format(name=name)}"
    )


def splice(text: str, name: str, table: Any) -> str:
    begin, end = BEGIN.format(name=name), END.format(name=name)
    if begin not in text:
        return text
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + diagram_block(name, table) + tail


def expected_files() -> dict[Path, str]:
    """Every generated file and the text it must hold."""
    files: dict[Path, str] = {}
    docs = [
        ROOT / "README.md",
        ROOT / "specs" / "flow.md",
        ROOT / "specs" / "tokens.md",
        ROOT / "specs" / "simulator.md",
    ]
    for name, table in tables().items():
        files[ROOT / "specs" / f"{name}.json"] = spec_json(name, table)
    for doc in docs:
        if not doc.exists():
            continue
        text = files.get(doc, doc.read_text())
        for name, table in tables().items():
            text = splice(text, name, table)
        files[doc] = text
    return files


def main() -> int:
    for path, text in expected_files().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
