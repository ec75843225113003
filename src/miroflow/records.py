"""Storage records, for store adapters: every snapshot crosses a boundary through these.

A record carries its schema version (``SCHEMA_VERSION``); reading a corrupt record, or one
from a newer miroflow, raises ``miroflow.RecordError`` naming the field, never its value.
"""

from ._serde import (
    SCHEMA_VERSION,
    dumps_flow,
    dumps_tokens,
    flow_from_record,
    flow_to_record,
    loads_flow,
    loads_tokens,
    tokens_from_record,
    tokens_to_record,
)

__all__ = [
    "SCHEMA_VERSION",
    "dumps_flow",
    "dumps_tokens",
    "flow_from_record",
    "flow_to_record",
    "loads_flow",
    "loads_tokens",
    "tokens_from_record",
    "tokens_to_record",
]
