"""specs/ equals the code: the table files, the diagrams in the docs, and the vectors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import miroflow
import miroflow.machine
import miroflow.records
from miroflow import simulator

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("specs_generate", ROOT / "specs" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(document: dict[str, object]) -> set[tuple[object, ...]]:
    rows = document["transitions"]
    assert isinstance(rows, list)
    return {(row["from"], row["input"], tuple(row["to"]), tuple(row["effects"])) for row in rows}


def test_flow_spec_file_equals_the_table_in_both_directions() -> None:
    on_disk = json.loads((ROOT / "specs" / "flow.json").read_text())
    from_code = miroflow.machine.table_to_spec(miroflow.machine.TABLE, machine="flow")
    # Every row of the table is in the file, and every row of the file is in the table.
    assert _rows(from_code) - _rows(on_disk) == set()
    assert _rows(on_disk) - _rows(from_code) == set()
    assert on_disk == from_code


def test_simulator_spec_file_equals_its_table() -> None:
    on_disk = json.loads((ROOT / "specs" / "simulator.json").read_text())
    from_code = miroflow.machine.table_to_spec(simulator.TABLE, machine="simulator")
    assert _rows(from_code) - _rows(on_disk) == set()
    assert _rows(on_disk) - _rows(from_code) == set()
    assert on_disk == from_code
    assert {"code_issued", "pair_active"} <= set(on_disk["states"])


def test_every_table_key_is_one_spec_row() -> None:
    on_disk = json.loads((ROOT / "specs" / "flow.json").read_text())
    keys = {(row["from"], row["input"]) for row in on_disk["transitions"]}
    assert len(keys) == len(on_disk["transitions"]) == len(miroflow.machine.TABLE)
    table_keys = {
        (None if state is None else state.value, input_type.__name__)
        for state, input_type in miroflow.machine.TABLE
    }
    assert keys == table_keys


def test_generated_files_are_fresh() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in _generator().expected_files().items()
        if not path.exists() or path.read_text() != text
    ]
    assert stale == [], f"run `make spec`: stale {stale}"


def test_diagram_has_an_edge_for_every_non_absorbing_target() -> None:
    diagram = miroflow.machine.table_to_mermaid(miroflow.machine.TABLE)
    for (state, _), rule in miroflow.machine.TABLE.items():
        source = "[*]" if state is None else state.value
        for target in rule.targets:
            if target is state:
                continue
            assert f"{source} --> {target.value} :" in diagram


def test_tokens_spec_file_equals_the_token_table_in_both_directions() -> None:
    on_disk = json.loads((ROOT / "specs" / "tokens.json").read_text())
    from_code = miroflow.machine.table_to_spec(miroflow.machine.TOKEN_TABLE, machine="tokens")
    assert _rows(from_code) - _rows(on_disk) == set()
    assert _rows(on_disk) - _rows(from_code) == set()
    assert on_disk == from_code
    keys = {(row["from"], row["input"]) for row in on_disk["transitions"]}
    assert len(keys) == len(on_disk["transitions"]) == len(miroflow.machine.TOKEN_TABLE)
    assert set(on_disk["states"]) == {state.value for state in miroflow.machine.TokenState}


def test_token_diagram_has_an_edge_for_every_non_absorbing_target() -> None:
    diagram = miroflow.machine.table_to_mermaid(miroflow.machine.TOKEN_TABLE)
    for (state, _), rule in miroflow.machine.TOKEN_TABLE.items():
        source = "[*]" if state is None else state.value
        for target in rule.targets:
            if target is state:
                continue
            assert f"{source} --> {target.value} :" in diagram
    assert "```mermaid\n" + diagram in (ROOT / "specs" / "tokens.md").read_text()
