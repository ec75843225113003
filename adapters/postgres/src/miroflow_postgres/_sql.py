"""What the sync and async stores share: the SQL, and every decision about its results.

Each store operation is a *program*: a generator that yields ``(query, params)`` steps and
receives each step's rows, then returns the answer (or raises). The sync and async databases
only run programs, inside one transaction, so no store logic exists twice. A program whose
every write is one statement, atomic on its own (``SINGLE``: a claim, a save that does not
sweep), runs outside a transaction on an autocommit connection instead: each statement
commits by itself, so a won claim costs one round trip, as the bare ``UPDATE`` does, not
three (``BEGIN``, the statement, ``COMMIT``).

Concurrency: a claim is one ``UPDATE … RETURNING`` whose WHERE clause only matches an
unclaimed flow with the presented binding hash. PostgreSQL locks the row; a concurrent claim
waits, then re-checks the WHERE clause against the committed row and matches nothing. Only
after losing does a program read the row (a later statement, so it sees the winner's commit,
as it did inside a READ COMMITTED transaction) and return it for the caller to judge: the
store decides nothing. A won record this miroflow cannot read (a newer one wrote it, or it is
corrupt) is given back: one more statement clears the claim it made, then ``RecordError`` is
raised, so the flow is left unclaimed as if the claim had been rolled back (in between, for
those few microseconds, a concurrent claim of it finds it claimed).

Token rows a version 1 schema held wait under the client id ``''`` (see ``_schema.py``). An
app's first ``get`` or ``put`` for that user and team adopts such a row: it locks it
(``FOR UPDATE``), moves it to the app with its record rewritten and its version kept, and
deletes the original, all in the operation's transaction; a concurrent adopter waits on the
lock and then finds the row gone and the app's row in place.

A refresh lease is one ``INSERT … ON CONFLICT DO UPDATE … WHERE`` (the lease ended)
``RETURNING``: PostgreSQL inserts or locks the key's row atomically, and a
concurrent lease waits on that lock, then re-checks the WHERE clause against the committed
row, so of any number of callers one takes it. A row comes back only if this call took it.
Before it, the program forgets ended leases of any key (a holder that died never released
its row) through the ``expires_at`` index, skipping rows another transaction has locked, so
the forgetting never waits or deadlocks.
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
    ClaimResult,
    Flow,
    StaleTokenWrite,
    StoredTokens,
    StoreError,
    StoreUnavailable,
    TokenKey,
    TokenSet,
)
from miroflow.records import dumps_flow, dumps_tokens, loads_flow, loads_tokens

__all__ = [
    "LEGACY_CLIENT_ID",
    "SWEEP_EVERY",
    "Program",
    "Statements",
    "claim",
    "delete_tokens",
    "describe",
    "errors",
    "get_tokens",
    "lease",
    "put_tokens",
    "release",
    "save",
    "sweep",
]

#: Every this many saves, a save also forgets the flows past their retention.
SWEEP_EVERY = 256
#: The client id of token rows a version 1 schema held, waiting for their app.
LEGACY_CLIENT_ID = ""

T = TypeVar("T")
Rows: TypeAlias = list[tuple[Any, ...]]
Step: TypeAlias = tuple[sql.SQL | sql.Composed, Sequence[Any] | None]
Program: TypeAlias = Generator[Step, Rows, T]

#: Programs whose every write is one statement, atomic on its own: run outside a transaction.
SINGLE = True


@attrs.frozen
class Statements:
    """Every statement, with the schema's name quoted into it once, here: a ``Composed``
    would be walked and rendered again on every call."""

    schema: str
    save: sql.SQL
    claim: sql.SQL
    unclaim: sql.SQL
    read_flow: sql.SQL
    sweep: sql.SQL
    get_tokens: sql.SQL
    lock_legacy: sql.SQL
    adopt: sql.SQL
    drop_legacy: sql.SQL
    upsert_tokens: sql.SQL
    insert_tokens: sql.SQL
    update_tokens: sql.SQL
    token_version: sql.SQL
    delete_tokens: sql.SQL
    forget_leases: sql.SQL
    lease: sql.SQL
    release: sql.SQL

    @classmethod
    def for_schema(cls, schema: str) -> Statements:
        names: dict[str, sql.Composable] = {
            "flows": sql.Identifier(schema, "flows"),
            "tokens": sql.Identifier(schema, "tokens"),
            "leases": sql.Identifier(schema, "leases"),
            "key": sql.SQL("client_id = %s AND user_id = %s AND team_id = %s"),
        }

        def q(text: str) -> sql.SQL:
            # Identifiers quote the same for any connection; the text is encoded per
            # connection when sent.
            return sql.SQL(sql.SQL(text).format(**names).as_string(None))

        return cls(
            schema=schema,
            save=q(
                "INSERT INTO {flows} (state_hash, binding_hash, record, deadline, forget_at,"
                " claimed) VALUES (%s, %s, %s, %s, %s, false) ON CONFLICT (state_hash) DO UPDATE"
                " SET binding_hash = excluded.binding_hash, record = excluded.record,"
                " deadline = excluded.deadline, forget_at = excluded.forget_at, claimed = false"
            ),
            # A None binding is bound as NULL, and NULL equals nothing: never claimed.
            claim=q(
                "UPDATE {flows} SET claimed = true WHERE state_hash = %s AND NOT claimed"
                " AND binding_hash = %s RETURNING record"
            ),
            # Gives back a claim whose record could not be read; the record must be the one
            # claimed (a flow saved again under the same hash since is not touched).
            unclaim=q(
                "UPDATE {flows} SET claimed = false WHERE state_hash = %s AND claimed"
                " AND record = %s"
            ),
            read_flow=q("SELECT record FROM {flows} WHERE state_hash = %s"),
            # The forget_at index makes this O(forgotten), never O(live).
            sweep=q(
                "WITH gone AS (DELETE FROM {flows} WHERE forget_at <= %s RETURNING 1)"
                " SELECT count(*) FROM gone"
            ),
            get_tokens=q("SELECT record, version FROM {tokens} WHERE {key}"),
            lock_legacy=q("SELECT record, version FROM {tokens} WHERE {key} FOR UPDATE"),
            adopt=q(
                "INSERT INTO {tokens} (client_id, user_id, team_id, record, version)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING version"
            ),
            drop_legacy=q("DELETE FROM {tokens} WHERE {key}"),
            upsert_tokens=q(
                "INSERT INTO {tokens} AS t (client_id, user_id, team_id, record, version)"
                " VALUES (%s, %s, %s, %s, 1) ON CONFLICT (client_id, user_id, team_id)"
                " DO UPDATE SET record = excluded.record, version = t.version + 1"
                " RETURNING version"
            ),
            insert_tokens=q(
                "INSERT INTO {tokens} (client_id, user_id, team_id, record, version)"
                " VALUES (%s, %s, %s, %s, 1) ON CONFLICT DO NOTHING RETURNING version"
            ),
            update_tokens=q(
                "UPDATE {tokens} SET record = %s, version = version + 1"
                " WHERE {key} AND version = %s RETURNING version"
            ),
            token_version=q("SELECT version FROM {tokens} WHERE {key}"),
            delete_tokens=q(
                "DELETE FROM {tokens} WHERE client_id IN (%s, %s) AND user_id = %s AND team_id = %s"
            ),
            forget_leases=q(
                "DELETE FROM {leases} WHERE (client_id, user_id, team_id) IN"
                " (SELECT client_id, user_id, team_id FROM {leases} WHERE expires_at <= %s"
                " FOR UPDATE SKIP LOCKED)"
            ),
            lease=q(
                "INSERT INTO {leases} AS l (client_id, user_id, team_id, holder, expires_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (client_id, user_id, team_id)"
                " DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
                " WHERE l.expires_at <= %s RETURNING 1"
            ),
            release=q("DELETE FROM {leases} WHERE {key} AND holder = %s"),
        )


# --- programs --------------------------------------------------------------------------------


def save(s: Statements, flow: Flow, *, sweep_now: float | None) -> Program[None]:
    yield (
        s.save,
        (flow.state_hash, flow.binding_hash, dumps_flow(flow), flow.deadline, flow.forget_at),
    )
    if sweep_now is not None:
        yield s.sweep, (sweep_now,)


def claim(s: Statements, state_hash: bytes, binding_hash: bytes | None) -> Program[ClaimResult]:
    """Run ``SINGLE``: the claim commits with its statement."""
    won = yield s.claim, (state_hash, binding_hash)
    if won:
        try:
            return loads_flow(won[0][0]), True
        except Exception:
            # Not readable here (RecordError): give the claim back, as a rollback would.
            yield s.unclaim, (state_hash, won[0][0])
            raise
    rows = yield s.read_flow, (state_hash,)
    return (loads_flow(rows[0][0]) if rows else None), False


def sweep(s: Statements, now: float) -> Program[int]:
    rows = yield s.sweep, (now,)
    return int(rows[0][0])


def _ids(key: TokenKey) -> tuple[str, str, str]:
    return key.client_id, key.user_id, key.team_id


def _adopt(s: Statements, key: TokenKey) -> Program[None]:
    """Move the legacy row of the key's user and team to the key's app, if there is one and
    the app has no row of its own."""
    if key.client_id == LEGACY_CLIENT_ID:
        return
    legacy_key = (LEGACY_CLIENT_ID, key.user_id, key.team_id)
    rows = yield s.lock_legacy, legacy_key
    if not rows:
        return
    tokens = loads_tokens(rows[0][0], client_id=key.client_id)
    if tokens.client_id != key.client_id:
        return  # a version 2 record under the legacy id: some app's own, not ours
    moved = yield s.adopt, (*_ids(key), dumps_tokens(tokens), rows[0][1])
    if moved:
        yield s.drop_legacy, legacy_key


def get_tokens(s: Statements, key: TokenKey) -> Program[StoredTokens | None]:
    rows = yield s.get_tokens, _ids(key)
    if not rows:
        yield from _adopt(s, key)
        # Whether this program or a concurrent one adopted a row, it is committed or ours now.
        rows = yield s.get_tokens, _ids(key)
        if not rows:
            return None
    # client_id adopts a version 1 record; it changes nothing in a version 2 one.
    tokens = loads_tokens(rows[0][0], client_id=key.client_id)
    return StoredTokens(tokens=tokens, version=int(rows[0][1]))


def put_tokens(s: Statements, tokens: TokenSet, expected: int | None) -> Program[StoredTokens]:
    key = tokens.key
    yield from _adopt(s, key)
    record = dumps_tokens(tokens)
    if expected is None:
        rows = yield s.upsert_tokens, (*_ids(key), record)
    elif expected == 0:
        rows = yield s.insert_tokens, (*_ids(key), record)
    else:
        rows = yield s.update_tokens, (record, *_ids(key), expected)
    if rows:
        return StoredTokens(tokens=tokens, version=int(rows[0][0]))
    assert expected is not None, "the upsert always returns the new version"
    # Lost the compare-and-set; this later statement sees the winner's commit.
    found = yield s.token_version, _ids(key)
    version = int(found[0][0]) if found else 0
    raise StaleTokenWrite.for_key(key, found=version, expected=expected)


def delete_tokens(s: Statements, key: TokenKey) -> Program[None]:
    # The legacy row goes too: deleted tokens must never come back through an adoption.
    yield s.delete_tokens, (key.client_id, LEGACY_CLIENT_ID, key.user_id, key.team_id)


def lease(s: Statements, key: TokenKey, holder: str, now: float, ttl: float) -> Program[bool]:
    yield s.forget_leases, (now,)
    taken = yield s.lease, (*_ids(key), holder, now + ttl, now)
    return bool(taken)


def release(s: Statements, key: TokenKey, holder: str) -> Program[None]:
    yield s.release, (*_ids(key), holder)


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
