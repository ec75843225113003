"""The tables, their version, and the move from version 1 to version 2.

Version 2 (miroflow 0.2) keys flows by raw SHA-256 digests (``bytea``) and keeps the binding
hash in a column of its own, so a claim is one compare-and-set; tokens are keyed by app, user
and team.

Migrating a version 1 schema: its flows table is recreated empty (the keys of its rows were
derived differently, so no callback could ever claim them again; they lived 15 minutes plus
an hour's retention anyway). Its token rows stay, under the client id ``''``, as *legacy*
rows that the first app to read or write the same user and team adopts (see ``_sql.py``).
Set-up runs in one transaction under an advisory lock: workers starting at once queue there,
and the ones after the first find version 2 and change nothing.
"""

from __future__ import annotations

from psycopg import sql

from miroflow import RecordError

from ._sql import LEGACY_CLIENT_ID, Program

__all__ = ["SCHEMA_VERSION", "set_up"]

#: The layout of the tables (not of the records, which carry miroflow's own version).
SCHEMA_VERSION = 2
# Serializes set-up between workers that start at once (CREATE … IF NOT EXISTS alone can
# still collide in the catalog). The number is arbitrary but fixed: "miroflow" in ASCII.
_SETUP_LOCK = 0x6D69726F666C6F77

_FLOWS = (
    "CREATE TABLE {flows} (state_hash bytea PRIMARY KEY, binding_hash bytea,"
    " record bytea NOT NULL, deadline double precision NOT NULL,"
    " forget_at double precision NOT NULL, claimed boolean NOT NULL)",
    # Sweeping walks this index from its oldest end: O(forgotten), never O(live).
    "CREATE INDEX {index} ON {flows} (forget_at)",
)
_CREATE = (
    *_FLOWS,
    "CREATE TABLE {tokens} (client_id text NOT NULL, user_id text NOT NULL,"
    " team_id text NOT NULL, record bytea NOT NULL, version bigint NOT NULL,"
    " PRIMARY KEY (client_id, user_id, team_id))",
    "INSERT INTO {versions} (version) VALUES ({version})",
)
_FROM_V1 = (
    "DROP TABLE {flows}",  # drops its index too
    *_FLOWS,
    # Version 1 keyed tokens by user and team; its rows become legacy rows.
    "ALTER TABLE {tokens} ADD COLUMN client_id text NOT NULL DEFAULT {legacy}",
    "ALTER TABLE {tokens} DROP CONSTRAINT {v1_key}",
    "ALTER TABLE {tokens} ADD PRIMARY KEY (client_id, user_id, team_id)",
    "ALTER TABLE {tokens} ALTER COLUMN client_id DROP DEFAULT",
    "UPDATE {versions} SET version = {version}",
)


def set_up(schema: str, where: str) -> Program[None]:
    """Create the tables, or bring a version 1 schema to version 2; refuse a newer one."""
    names: dict[str, sql.Composable] = {
        "schema": sql.Identifier(schema),
        "flows": sql.Identifier(schema, "flows"),
        "tokens": sql.Identifier(schema, "tokens"),
        "versions": sql.Identifier(schema, "schema_version"),
        "index": sql.Identifier("flows_forget_at"),
        # The name PostgreSQL gave version 1's inline PRIMARY KEY.
        "v1_key": sql.Identifier("tokens_pkey"),
        "legacy": sql.Literal(LEGACY_CLIENT_ID),
        "version": sql.Literal(SCHEMA_VERSION),
    }

    def q(text: str) -> sql.Composed:
        return sql.SQL(text).format(**names)

    yield sql.SQL("SELECT pg_advisory_xact_lock(%s)"), (_SETUP_LOCK,)
    yield q("CREATE SCHEMA IF NOT EXISTS {schema}"), None
    yield q("CREATE TABLE IF NOT EXISTS {versions} (version integer NOT NULL)"), None
    rows = yield q("SELECT max(version) FROM {versions}"), None
    found = rows[0][0]
    if found == SCHEMA_VERSION:
        return
    if found is None or found == 1:
        for statement in _CREATE if found is None else _FROM_V1:
            yield q(statement), None
        return
    if found > SCHEMA_VERSION:
        raise RecordError(
            f"The PostgreSQL schema {schema!r} at {where} has miroflow schema version "
            f"{found}; this miroflow-postgres knows version {SCHEMA_VERSION}. Upgrade "
            "miroflow-postgres (a newer one created the schema)."
        )
    raise RecordError(
        f"The PostgreSQL schema {schema!r} at {where} has unknown miroflow schema version {found}."
    )
