"""What the sync and async stores share: the SQL, and every decision about its results.

Each store operation is a *program*: a generator that yields ``(query, params)`` steps and
receives each step's rows, then returns the answer (or raises). The sync and async databases
only run programs, inside one transaction, so no store logic exists twice.

Concurrency: a claim is one ``UPDATE … RETURNING`` whose WHERE clause only matches an
unclaimed, live flow. PostgreSQL locks the row; a concurrent claim waits, then re-checks the
WHERE clause against the committed row and matches nothing. Only after losing does a program
read the row to say why (in READ COMMITTED, that read sees the winner's commit).
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator, Sequence
from typing import Any, TypeAlias, TypeVar

import attrs
import psycopg
import psycopg_pool
from psycopg import sql

from miroflow import (
    FLOW_RETENTION,
    Claim,
    ClaimOutcome,
    Flow,
    RecordError,
    StaleTokenWrite,
    StoredTokens,
    StoreError,
    StoreUnavailable,
    TokenKey,
    TokenSet,
    dumps_flow,
    dumps_tokens,
    loads_flow,
    loads_tokens,
)

__all__ = [
    "SCHEMA_VERSION",
    "SWEEP_EVERY",
    "Program",
    "Statements",
    "claim",
    "delete_flow",
    "delete_tokens",
    "describe",
    "errors",
    "get_tokens",
    "put_tokens",
    "save",
    "set_up",
    "sweep",
]

#: The layout of the tables (not of the records, which carry miroflow's own version).
SCHEMA_VERSION = 1
#: Every this many saves, a save also forgets the flows past their retention.
SWEEP_EVERY = 256
# Serializes schema creation between workers that start at once (CREATE … IF NOT EXISTS alone
# can still collide in the catalog). The number is arbitrary but fixed: "miroflow" in ASCII.
_SETUP_LOCK = 0x6D69726F666C6F77

T = TypeVar("T")
Rows: TypeAlias = list[tuple[Any, ...]]
Step: TypeAlias = tuple[sql.SQL | sql.Composed, Sequence[Any] | None]
Program: TypeAlias = Generator[Step, Rows, T]


@attrs.frozen
class Statements:
    """Every statement, with the schema's name quoted into it."""

    schema: str
    create: tuple[sql.Composed, ...]
    version: sql.Composed
    set_version: sql.Composed
    save: sql.Composed
    claim: sql.Composed
    why_not: sql.Composed
    delete_flow: sql.Composed
    sweep: sql.Composed
    get_tokens: sql.Composed
    upsert_tokens: sql.Composed
    insert_tokens: sql.Composed
    update_tokens: sql.Composed
    token_version: sql.Composed
    delete_tokens: sql.Composed

    @classmethod
    def for_schema(cls, schema: str) -> Statements:
        names = {
            "schema": sql.Identifier(schema),
            "flows": sql.Identifier(schema, "flows"),
            "tokens": sql.Identifier(schema, "tokens"),
            "versions": sql.Identifier(schema, "schema_version"),
            "index": sql.Identifier("flows_forget_at"),
        }

        def q(text: str) -> sql.Composed:
            return sql.SQL(text).format(**names)

        return cls(
            schema=schema,
            create=(
                q("CREATE SCHEMA IF NOT EXISTS {schema}"),
                q("CREATE TABLE IF NOT EXISTS {versions} (version integer NOT NULL)"),
                q(
                    "CREATE TABLE IF NOT EXISTS {flows} (state_hash text PRIMARY KEY,"
                    " record bytea NOT NULL, deadline double precision NOT NULL,"
                    " forget_at double precision NOT NULL, claimed boolean NOT NULL)"
                ),
                q("CREATE INDEX IF NOT EXISTS {index} ON {flows} (forget_at)"),
                q(
                    "CREATE TABLE IF NOT EXISTS {tokens} (user_id text NOT NULL,"
                    " team_id text NOT NULL, record bytea NOT NULL, version bigint NOT NULL,"
                    " PRIMARY KEY (user_id, team_id))"
                ),
            ),
            version=q("SELECT max(version) FROM {versions}"),
            set_version=q("INSERT INTO {versions} (version) VALUES (%s)"),
            save=q(
                "INSERT INTO {flows} (state_hash, record, deadline, forget_at, claimed)"
                " VALUES (%s, %s, %s, %s, false) ON CONFLICT (state_hash) DO UPDATE SET"
                " record = excluded.record, deadline = excluded.deadline,"
                " forget_at = excluded.forget_at, claimed = false"
            ),
            claim=q(
                "UPDATE {flows} SET claimed = true"
                " WHERE state_hash = %s AND NOT claimed AND deadline > %s RETURNING record"
            ),
            why_not=q("SELECT record, claimed, forget_at FROM {flows} WHERE state_hash = %s"),
            delete_flow=q("DELETE FROM {flows} WHERE state_hash = %s"),
            sweep=q(
                "WITH gone AS (DELETE FROM {flows} WHERE forget_at <= %s RETURNING 1)"
                " SELECT count(*) FROM gone"
            ),
            get_tokens=q(
                "SELECT record, version FROM {tokens} WHERE user_id = %s AND team_id = %s"
            ),
            upsert_tokens=q(
                "INSERT INTO {tokens} AS t (user_id, team_id, record, version)"
                " VALUES (%s, %s, %s, 1) ON CONFLICT (user_id, team_id) DO UPDATE"
                " SET record = excluded.record, version = t.version + 1 RETURNING version"
            ),
            insert_tokens=q(
                "INSERT INTO {tokens} (user_id, team_id, record, version)"
                " VALUES (%s, %s, %s, 1) ON CONFLICT DO NOTHING RETURNING version"
            ),
            update_tokens=q(
                "UPDATE {tokens} SET record = %s, version = version + 1"
                " WHERE user_id = %s AND team_id = %s AND version = %s RETURNING version"
            ),
            token_version=q("SELECT version FROM {tokens} WHERE user_id = %s AND team_id = %s"),
            delete_tokens=q("DELETE FROM {tokens} WHERE user_id = %s AND team_id = %s"),
        )


# --- programs --------------------------------------------------------------------------------


def set_up(s: Statements, where: str) -> Program[None]:
    """Create the schema if needed; refuse one made by a newer miroflow-postgres."""
    yield sql.SQL("SELECT pg_advisory_xact_lock(%s)"), (_SETUP_LOCK,)
    for statement in s.create:
        yield statement, None
    rows = yield s.version, None
    found = rows[0][0]
    if found is None:
        yield s.set_version, (SCHEMA_VERSION,)
    elif found > SCHEMA_VERSION:
        raise RecordError(
            f"The PostgreSQL schema {s.schema!r} at {where} has miroflow schema version "
            f"{found}; this miroflow-postgres knows version {SCHEMA_VERSION}. Upgrade "
            "miroflow-postgres (a newer one created the schema)."
        )


def save(s: Statements, flow: Flow, *, sweep_now: float | None) -> Program[None]:
    forget_at = flow.deadline + FLOW_RETENTION
    yield s.save, (flow.state_hash, dumps_flow(flow), flow.deadline, forget_at)
    if sweep_now is not None:
        yield s.sweep, (sweep_now,)


def claim(s: Statements, state_hash: str, now: float) -> Program[Claim]:
    won = yield s.claim, (state_hash, now)
    if won:
        return Claim(outcome=ClaimOutcome.CLAIMED, flow=loads_flow(won[0][0]))
    rows = yield s.why_not, (state_hash,)
    if not rows or now >= rows[0][2]:
        return Claim(outcome=ClaimOutcome.UNKNOWN)
    if rows[0][1]:
        return Claim(outcome=ClaimOutcome.ALREADY_CLAIMED)
    return Claim(outcome=ClaimOutcome.EXPIRED, flow=loads_flow(rows[0][0]))


def delete_flow(s: Statements, state_hash: str) -> Program[None]:
    yield s.delete_flow, (state_hash,)


def sweep(s: Statements, now: float) -> Program[int]:
    rows = yield s.sweep, (now,)
    return int(rows[0][0])


def get_tokens(s: Statements, key: TokenKey) -> Program[StoredTokens | None]:
    rows = yield s.get_tokens, (key.user_id, key.team_id)
    if not rows:
        return None
    return StoredTokens(tokens=loads_tokens(rows[0][0]), version=int(rows[0][1]))


def put_tokens(s: Statements, tokens: TokenSet, expected: int | None) -> Program[StoredTokens]:
    user, team, record = tokens.user_id, tokens.team_id, dumps_tokens(tokens)
    if expected is None:
        rows = yield s.upsert_tokens, (user, team, record)
    elif expected == 0:
        rows = yield s.insert_tokens, (user, team, record)
    else:
        rows = yield s.update_tokens, (record, user, team, expected)
    if rows:
        return StoredTokens(tokens=tokens, version=int(rows[0][0]))
    assert expected is not None, "the upsert always returns the new version"
    # Lost the compare-and-set; this later statement sees the winner's commit.
    found = yield s.token_version, (user, team)
    version = int(found[0][0]) if found else 0
    raise StaleTokenWrite.for_key(user, team, found=version, expected=expected)


def delete_tokens(s: Statements, key: TokenKey) -> Program[None]:
    yield s.delete_tokens, (key.user_id, key.team_id)


# --- errors ----------------------------------------------------------------------------------


def describe(conninfo: object) -> str:
    """Where the server is, for messages: host, port and database, never a password."""
    if not isinstance(conninfo, str):
        return "(a connection string the pool computes)"
    try:
        parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "(an unreadable connection string)"
    host = parts.get("host") or "localhost"
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


@contextlib.contextmanager
def errors(where: str) -> Iterator[None]:
    """Turn psycopg's exceptions into miroflow's (works around ``await`` too)."""
    try:
        yield
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
        raise StoreUnavailable(
            f"PostgreSQL at {where} is not reachable or dropped the connection "
            f"({type(exc).__name__}). Is the server running, and is the URL right?"
        ) from None
    except psycopg.Error as exc:
        # The SQLSTATE, not the message: a message's detail can quote the values involved.
        raise StoreError(
            f"PostgreSQL at {where} failed ({type(exc).__name__}, SQLSTATE {exc.sqlstate})."
        ) from None
