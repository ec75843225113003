"""The tables, their version, and the moves from versions 1 and 2 to version 3.

Version 2 (miroflow 0.2) keys flows by raw SHA-256 digests and keeps the binding hash in a
column of its own, so a claim is one compare-and-set; tokens are keyed by app, user and team.
Version 3 adds ``miroflow_leases``: one row per token key whose refresh someone holds (its
holder and until when), so that one refresh runs at a time across processes. Migrating a
version 2 database only creates that table (and its index); nothing else changes.

Migrating a version 1 database: its flow rows are dropped (their keys were derived
differently, so no callback could ever claim them again; they lived 15 minutes plus an hour's
retention anyway). Its token rows are kept under the client id ``''``, as *legacy* rows, and
the first app to read or write the same user and team adopts them (see ``_stores.py``).
Each move runs in one ``BEGIN IMMEDIATE`` transaction: two processes opening the same old file
at once queue on the write lock, and the second finds version 3.
"""

from __future__ import annotations

import sqlite3

from miroflow import RecordError

__all__ = ["LEGACY_CLIENT_ID", "SCHEMA_VERSION", "ensure_schema"]

#: The layout of the tables (not of the records, which carry miroflow's own version).
SCHEMA_VERSION = 3
#: The client id of token rows a version 1 database held, waiting for their app.
LEGACY_CLIENT_ID = ""

_FLOWS = (
    "CREATE TABLE miroflow_flows ("
    " state_hash BLOB PRIMARY KEY, binding_hash BLOB, record BLOB NOT NULL,"
    " deadline REAL NOT NULL, forget_at REAL NOT NULL, claimed INTEGER NOT NULL DEFAULT 0)"
    " WITHOUT ROWID",
    # Sweeping walks this index from its oldest end: O(forgotten), never O(live).
    "CREATE INDEX miroflow_flows_forget_at ON miroflow_flows (forget_at)",
)
_TOKENS = (
    "CREATE TABLE miroflow_tokens ("
    " client_id TEXT NOT NULL, user_id TEXT NOT NULL, team_id TEXT NOT NULL,"
    " record BLOB NOT NULL, version INTEGER NOT NULL,"
    " PRIMARY KEY (client_id, user_id, team_id)) WITHOUT ROWID"
)
_LEASES = (
    "CREATE TABLE miroflow_leases ("
    " client_id TEXT NOT NULL, user_id TEXT NOT NULL, team_id TEXT NOT NULL,"
    " holder TEXT NOT NULL, expires_at REAL NOT NULL,"
    " PRIMARY KEY (client_id, user_id, team_id)) WITHOUT ROWID",
    # Forgetting ended leases walks this index from its oldest end: O(ended), never O(held).
    "CREATE INDEX miroflow_leases_expires_at ON miroflow_leases (expires_at)",
)
_FROM_V1: tuple[tuple[str, tuple[object, ...]], ...] = (
    ("DROP TABLE miroflow_flows", ()),  # drops its index too
    *((statement, ()) for statement in _FLOWS),
    ("ALTER TABLE miroflow_tokens RENAME TO miroflow_tokens_v1", ()),
    (_TOKENS, ()),
    (
        "INSERT INTO miroflow_tokens (client_id, user_id, team_id, record, version)"
        " SELECT ?, user_id, team_id, record, version FROM miroflow_tokens_v1",
        (LEGACY_CLIENT_ID,),
    ),
    ("DROP TABLE miroflow_tokens_v1", ()),
)
_FROM_V2 = _LEASES


def ensure_schema(connection: sqlite3.Connection, where: object) -> None:
    """Create the tables, or bring a version 1 or 2 database to version 3; refuse a newer
    one."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("CREATE TABLE IF NOT EXISTS miroflow_schema (version INTEGER NOT NULL)")
        found = connection.execute("SELECT max(version) FROM miroflow_schema").fetchone()[0]
        if found is None:
            for statement in (*_FLOWS, _TOKENS, *_LEASES):
                connection.execute(statement)
            connection.execute(
                "INSERT INTO miroflow_schema (version) VALUES (?)", (SCHEMA_VERSION,)
            )
        elif found in (1, 2):
            if found == 1:
                for statement, parameters in _FROM_V1:
                    connection.execute(statement, parameters)
            for statement in _FROM_V2:
                connection.execute(statement)
            connection.execute("UPDATE miroflow_schema SET version = ?", (SCHEMA_VERSION,))
        elif found > SCHEMA_VERSION:
            raise RecordError(
                f"The SQLite database at {where} has miroflow schema version {found}; "
                f"this miroflow-sqlite knows version {SCHEMA_VERSION}. Upgrade "
                "miroflow-sqlite (a newer one created the database)."
            )
        elif found != SCHEMA_VERSION:
            raise RecordError(
                f"The SQLite database at {where} has unknown miroflow schema version {found}."
            )
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
