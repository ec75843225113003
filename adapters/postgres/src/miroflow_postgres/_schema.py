"""The tables, their version, and the moves from versions 1 and 2 to version 3.

Version 2 (miroflow 0.2) keys flows by raw SHA-256 digests (``bytea``) and keeps the binding
hash in a column of its own, so a claim is one compare-and-set; tokens are keyed by app, user
and team. Version 3 adds the ``leases`` table: one row per token key whose refresh someone
holds (its holder and until when), so that one refresh runs at a time across workers.

Migrating a version 2 schema only creates ``leases`` (and its index). Migrating a version 1
schema: its flows table is recreated empty (the keys of its rows were derived differently, so
no callback could ever claim them again; they lived 15 minutes plus an hour's retention
anyway). Its token rows stay, under the client id ``''``, as *legacy* rows that the first app
to read or write the same user and team adopts (see ``_sql.py``); then it gets ``leases``
as a version 2 schema does. Set-up runs in one transaction under an advisory lock: workers
starting at once queue there, and the ones after the first find version 3 and change nothing.
"""

from __future__ import annotations

from psycopg import sql

from miroflow import RecordError

from ._sql import LEGACY_CLIENT_ID, Program

__all__ = ["SCHEMA_VERSION", "set_up"]

#: The layout of the tables (not of the records, which carry miroflow's own version).
SCHEMA_VERSION = 3
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
_LEASES = (
    "CREATE TABLE {leases} (client_id text NOT NULL, user_id text NOT NULL,"
    " team_id text NOT NULL, holder text NOT NULL, expires_at double precision NOT NULL,"
    " PRIMARY KEY (client_id, user_id, team_id))",
    # Forgetting ended leases walks this index from its oldest end: O(ended), never O(held).
    "CREATE INDEX {lease_index} ON {leases} (expires_at)",
)
_CREATE = (
    *_FLOWS,
    *_LEASES,
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
)
_FROM_V2 = (*_LEASES, "UPDATE {versions} SET version = {version}")


def set_up(schema: str, where: str) -> Program[None]:
    """Create the tables, or bring a version 1 or 2 schema to version 3; refuse a newer one."""
    names: dict[str, sql.Composable] = {
        "schema": sql.Identifier(schema),
        "flows": sql.Identifier(schema, "flows"),
        "tokens": sql.Identifier(schema, "tokens"),
        "leases": sql.Identifier(schema, "leases"),
        "lease_index": sql.Identifier("leases_expires_at"),
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
    if found in (None, 1, 2):
        moves = {None: _CREATE, 1: (*_FROM_V1, *_FROM_V2), 2: _FROM_V2}[found]
        for statement in moves:
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
