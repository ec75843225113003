"""Transition tables as documents: the machine-readable spec file and the Mermaid diagram.

Both are derived from a table (a mapping from ``(state or None, input type)`` to a rule with
``targets``, ``effects`` and ``why``), so ``specs/`` can never drift from the code: a test
compares the committed files with what these functions produce.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

__all__ = ["table_to_mermaid", "table_to_spec"]


def _name(value: object) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, type):
        return value.__name__
    return str(value)


def _ordered(table: Mapping[tuple[Any, type[Any]], Any]) -> list[tuple[Any, type[Any], Any]]:
    states: list[Any] = []
    inputs: list[type[Any]] = []
    for state, input_type in table:
        if state not in states:
            states.append(state)
        if input_type not in inputs:
            inputs.append(input_type)

    # None (before any flow) first, then the states in their enum order; inputs as declared.
    def state_rank(state: Any) -> tuple[int, int]:
        if state is None:
            return (0, 0)
        members = list(type(state).__members__.values())
        return (1, members.index(state))

    rows = [(state, input_type, rule) for (state, input_type), rule in table.items()]
    rows.sort(key=lambda row: (state_rank(row[0]), inputs.index(row[1])))
    return rows


def table_to_spec(table: Mapping[tuple[Any, type[Any]], Any], *, machine: str) -> dict[str, Any]:
    """The JSON document kept in ``specs/<machine>.json``."""
    transitions = []
    for state, input_type, rule in _ordered(table):
        row: dict[str, Any] = {
            "from": None if state is None else _name(state),
            "input": _name(input_type),
            "to": [_name(target) for target in rule.targets],
            "effects": [_name(effect) for effect in rule.effects],
        }
        replies = getattr(rule, "replies", None)  # a machine that answers a browser has them
        if replies is not None:
            row["replies"] = list(replies)
        row["why"] = rule.why
        transitions.append(row)
    # A table may hold several machines (the simulator's codes and token pairs): list every
    # member of every state enum it uses, each enum in the order it first appears.
    state_types: list[type[Any]] = []
    for state, _ in table:
        if state is not None and type(state) not in state_types:
            state_types.append(type(state))
    states = [_name(member) for kind in state_types for member in kind.__members__.values()]
    return {"machine": machine, "states": states, "transitions": transitions}


def table_to_mermaid(table: Mapping[tuple[Any, type[Any]], Any]) -> str:
    """A Mermaid ``stateDiagram-v2`` of the table. Rows whose only target is their own state
    (terminal states absorbing every input) are left out and noted once."""
    rows = _ordered(table)
    # A state absorbs when every one of its rows leads only back to itself; such rows are
    # left out of the drawing. A self-loop of a state that also has other rows is drawn.
    absorbing: list[str] = []
    for state, _, _ in rows:
        own = [rule for other, _, rule in rows if other is state]
        if (
            state is not None
            and _name(state) not in absorbing
            and all(tuple(rule.targets) == (state,) for rule in own)
        ):
            absorbing.append(_name(state))
    edges: dict[tuple[str, str], list[str]] = {}
    for state, input_type, rule in rows:
        source = "[*]" if state is None else _name(state)
        if source in absorbing:
            continue
        for target in [_name(target) for target in rule.targets]:
            edges.setdefault((source, target), []).append(_name(input_type))
    lines = ["stateDiagram-v2"]
    for (source, target), labels in edges.items():
        lines.append(f"    {source} --> {target} : {', '.join(labels)}")
    if absorbing:
        lines.append(f"    note right of {absorbing[0]}")
        lines.append(f"        terminal, absorb every input: {', '.join(absorbing)}")
        lines.append("    end note")
    return "\n".join(lines) + "\n"
