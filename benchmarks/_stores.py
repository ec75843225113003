"""Store claim throughput and latency (p50/p99): each miroflow store beside the raw client
doing the same primitive on the same server, in the same run.

The raw primitive is the compare-and-set miroflow's store runs, written directly: SQLite and
PostgreSQL ``UPDATE ... SET claimed WHERE state_hash = ? AND NOT claimed AND binding_hash = ?
RETURNING record`` (one autocommit statement on a table of the same columns and index);
Redis a Lua script over a hash (``HMGET`` the record, binding and claim mark, ``HSET`` the
mark when the binding matches). The raw side returns the record's bytes; miroflow's store
also decodes them into a ``Flow`` (``loads_flow``) and, when nothing is won, reads the row.

Both sides are filled before the clock starts (miroflow's through ``save()``, one flow at a
time; the raw side in bulk) and then claim their flows in rounds, taking turns, with every
claim timed on its own.
"""

from __future__ import annotations

import cProfile
import dataclasses
import os
import pstats
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from hashlib import sha256
from typing import Any, Protocol

import miroflow

import _measure
import _ours

#: A stored record's size: what dumps_flow writes for a pending flow (about).
_RECORD = b"x" * 200


def keys(count: int) -> list[tuple[bytes, bytes]]:
    """(state hash, binding hash) of flows 0..count, as ``_ours.save_flows`` saves them."""
    return [
        (sha256(seed).digest(), sha256(seed + b"b").digest()[:16])
        for seed in (index.to_bytes(8, "big") for index in range(count))
    ]


class Claimer(Protocol):
    def claim(self, state_hash: bytes, binding_hash: bytes) -> bool: ...

    def close(self) -> None: ...


class OursClaimer:
    """miroflow's store: ``store.claim``, won or not."""

    def __init__(self, store: miroflow.FlowStore, close: Callable[[], None]) -> None:
        self.store, self._close = store, close

    def claim(self, state_hash: bytes, binding_hash: bytes) -> bool:
        return self.store.claim(state_hash, binding_hash)[1]

    def close(self) -> None:
        self._close()


class SQLiteRaw:
    def __init__(self, path: str, flows: Sequence[tuple[bytes, bytes]]) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute(
            "CREATE TABLE flows (state_hash BLOB PRIMARY KEY, binding_hash BLOB,"
            " record BLOB NOT NULL, deadline REAL NOT NULL, forget_at REAL NOT NULL,"
            " claimed INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID"
        )
        self.db.execute("CREATE INDEX flows_forget_at ON flows (forget_at)")
        now = time.time()
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT INTO flows VALUES (?, ?, ?, ?, ?, 0)",
            ((state, binding, _RECORD, now + 900, now + 4500) for state, binding in flows),
        )
        self.db.execute("COMMIT")

    def claim(self, state_hash: bytes, binding_hash: bytes) -> bool:
        row = self.db.execute(
            "UPDATE flows SET claimed = 1 WHERE state_hash = ? AND claimed = 0"
            " AND binding_hash = ? RETURNING record",
            (state_hash, binding_hash),
        ).fetchone()
        return row is not None

    def close(self) -> None:
        self.db.close()


class RedisRaw:
    _CLAIM = """
local found = redis.call('HMGET', KEYS[1], 'record', 'binding', 'claimed')
if not found[1] then return {0} end
if found[2] == ARGV[1] and found[3] == '' then
  redis.call('HSET', KEYS[1], 'claimed', ARGV[2])
  return {1, found[1]}
end
return {0, found[1]}
"""

    def __init__(self, client: Any, prefix: str, flows: Sequence[tuple[bytes, bytes]]) -> None:
        self.redis, self.prefix = client, prefix
        self._claim = client.register_script(self._CLAIM)
        for first in range(0, len(flows), 1_000):
            pipe = client.pipeline(transaction=False)
            for state, binding in flows[first:first + 1_000]:
                key = f"{prefix}{state.hex()}"
                pipe.hset(key, mapping={"record": _RECORD, "binding": binding.hex(),
                                        "claimed": ""})
                pipe.pexpire(key, 4_500_000)
            pipe.execute()

    def claim(self, state_hash: bytes, binding_hash: bytes) -> bool:
        reply = self._claim(keys=[f"{self.prefix}{state_hash.hex()}"],
                            args=[binding_hash.hex(), os.urandom(8).hex()])
        return bool(reply[0] == 1)

    def close(self) -> None:
        pass


class PostgresRaw:
    def __init__(self, connection: Any, schema: str, flows: Sequence[tuple[bytes, bytes]]):
        self.db, self.table = connection, f"{schema}.raw_flows"
        self.db.execute(
            f"CREATE TABLE {self.table} (state_hash bytea PRIMARY KEY, binding_hash bytea,"
            " record bytea NOT NULL, deadline double precision NOT NULL,"
            " forget_at double precision NOT NULL, claimed boolean NOT NULL)"
        )
        self.db.execute(f"CREATE INDEX ON {self.table} (forget_at)")
        now = time.time()
        with self.db.transaction(), self.db.cursor() as cursor, cursor.copy(
            f"COPY {self.table} FROM STDIN"
        ) as copy:
            for state, binding in flows:
                copy.write_row((state, binding, _RECORD, now + 900, now + 4500, False))

    def claim(self, state_hash: bytes, binding_hash: bytes) -> bool:
        row = self.db.execute(
            f"UPDATE {self.table} SET claimed = true WHERE state_hash = %s AND NOT claimed"
            " AND binding_hash = %s RETURNING record",
            (state_hash, binding_hash),
            prepare=True,
        ).fetchone()
        return row is not None

    def close(self) -> None:
        pass


@dataclasses.dataclass(frozen=True)
class ClaimFigures:
    raw_per_second: float  # median over rounds of claims per second
    ours_per_second: float
    ratio: float  # median over rounds of ours/raw throughput
    spread: tuple[float, float]
    raw_p50: float  # µs
    raw_p99: float
    ours_p50: float
    ours_p99: float
    claims: int  # per side


def race(raw: Claimer, ours: Claimer, flows: Sequence[tuple[bytes, bytes]], per_round: int,
         repeat: int) -> ClaimFigures:
    """Round 0 warms up; in each round both sides claim ``per_round`` flows, taking turns
    going first; every claim is timed, and must be won."""
    latencies: dict[int, list[float]] = {0: [], 1: []}
    speeds: dict[int, list[float]] = {0: [], 1: []}
    sides = (raw, ours)
    for round_ in range(repeat + 1):
        chunk = flows[round_ * per_round:(round_ + 1) * per_round]
        order = (0, 1) if round_ % 2 else (1, 0)
        for index in order:
            claim = sides[index].claim
            times = []
            with _measure.no_gc():
                for state, binding in chunk:
                    began = time.perf_counter()
                    won = claim(state, binding)
                    times.append(time.perf_counter() - began)
                    if not won:
                        raise RuntimeError("a benchmarked claim of a stored flow was lost")
            if round_:
                latencies[index] += times
                speeds[index].append(len(times) / sum(times))
    ratios = _measure.ratios(speeds[0], speeds[1])
    return ClaimFigures(
        raw_per_second=statistics.median(speeds[0]),
        ours_per_second=statistics.median(speeds[1]),
        ratio=statistics.median(ratios),
        spread=_measure.quartiles(ratios),
        raw_p50=_measure.percentile(latencies[0], 0.50) * 1e6,
        raw_p99=_measure.percentile(latencies[0], 0.99) * 1e6,
        ours_p50=_measure.percentile(latencies[1], 0.50) * 1e6,
        ours_p99=_measure.percentile(latencies[1], 0.99) * 1e6,
        claims=len(latencies[0]),
    )


Opened = tuple[Claimer, OursClaimer] | None
Opener = Callable[[str, int, list[str]], AbstractContextManager[Opened]]


@contextmanager
def sqlite_pair(directory: str, count: int, notes: list[str]) -> Iterator[Opened]:
    """Both on disk in ``directory``; miroflow's filled through a tmpfs copy when there is
    one (see ``_ours.FileStoreSide``)."""
    from miroflow_sqlite import SQLiteFlowStore

    flows = keys(count)
    raw = SQLiteRaw(os.path.join(directory, "claim-raw.sqlite3"), flows)
    scratch = "/dev/shm" if os.path.isdir("/dev/shm") and not directory.startswith(
        "/dev/shm") else None
    side = _ours.FileStoreSide(lambda path: SQLiteFlowStore(path=path),
                               os.path.join(directory, "claim-miroflow.sqlite3"), scratch)
    side.populate(0, count)
    ours = OursClaimer(side.flows, side.close)
    try:
        yield raw, ours
    finally:
        raw.close()
        ours.close()


@contextmanager
def redis_pair(name: str, count: int, notes: list[str]) -> Iterator[Opened]:
    import _services

    if not _services.reachable(_services.REDIS_URL, 6379):
        notes.append(f"Redis claims skipped: no server at {_services.REDIS_URL}")
        yield None
        return
    import redis
    from miroflow_redis import RedisFlowStore

    client = redis.Redis.from_url(_services.REDIS_URL)
    store = RedisFlowStore(_services.REDIS_URL, prefix=f"{name}:claim-ours:")
    try:
        raw = RedisRaw(client, f"{name}:claim-raw:", keys(count))
        now = time.time()
        _ours.save_flows(store, 0, count, now, now + 900)
        yield raw, OursClaimer(store, store.close)
    finally:
        store.close()
        for chunk in _services.chunks(client.scan_iter(match=f"{name}:claim-*", count=1_000)):
            client.delete(*chunk)
        client.close()


@contextmanager
def postgres_pair(name: str, count: int, notes: list[str]) -> Iterator[Opened]:
    import _services

    if not _services.reachable(_services.POSTGRES_URL, 5432):
        notes.append(f"PostgreSQL claims skipped: no server at {_services.POSTGRES_URL}")
        yield None
        return
    import psycopg
    from miroflow_postgres import PostgresFlowStore

    connection = psycopg.connect(_services.POSTGRES_URL, autocommit=True)
    raw_schema, ours_schema = f"{name}_claim_raw", f"{name}_claim_ours"
    connection.execute(f"CREATE SCHEMA {raw_schema}")
    store = PostgresFlowStore(_services.POSTGRES_URL, schema=ours_schema, max_size=1)
    try:
        raw = PostgresRaw(connection, raw_schema, keys(count))
        now = time.time()
        _ours.save_flows(store, 0, count, now, now + 900)
        yield raw, OursClaimer(store, store.close)
    finally:
        store.close()
        for schema in (raw_schema, ours_schema):
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.close()


def _group(filename: str, function: str) -> str:
    """Which layer a profiled function belongs to."""
    if filename == "~":
        if "socket" in function or "select" in function or "poll" in function:
            return "socket I/O (waiting on the server)"
        if "sqlite3" in function or "execute" in function or "fetchone" in function:
            return "the driver's C code (sqlite3: the statement and its fsync)"
        return "other builtins"
    if ("/src/miroflow/records" in filename or "/src/miroflow/_serde" in filename
            or "/json/" in filename or "/cattrs/" in filename):
        return "record decoding (loads_flow: json, cattrs)"
    for marker in ("/src/miroflow_", "/src/miroflow/"):
        if marker in filename:
            tail = filename.partition(marker)[2]
            package = "miroflow_" + tail.partition("/")[0] if marker == "/src/miroflow_" \
                else "miroflow"
            return f"{package} (store and port code)" if package != "miroflow" else (
                "miroflow core")
    for package in ("redis", "psycopg", "psycopg_pool", "attr"):
        if f"/{package}/" in filename:
            return f"{package} (Python, its wait loop included)" if package == "psycopg" else (
                f"{package} (Python)")
    return "other Python"


def profile_claims(store: miroflow.FlowStore, flows: Sequence[tuple[bytes, bytes]]
                   ) -> list[tuple[str, float]]:
    """Shares of a claim's time by layer (cProfile, own time), over ``flows`` claims."""
    profiler = cProfile.Profile()
    profiler.enable()
    for state, binding in flows:
        if not store.claim(state, binding)[1]:
            raise RuntimeError("a profiled claim of a stored flow was lost")
    profiler.disable()
    stats: Any = vars(pstats.Stats(profiler))["stats"]
    total = sum(entry[2] for entry in stats.values())
    # Statements sent: psycopg checks its connection once before each (its ``wait`` also runs
    # for the pool's no-op commit of an autocommit connection, which sends nothing), redis-py
    # reads each reply, sqlite3's execute runs each.
    trips = sum(
        entry[1] for (filename, _, function), entry in stats.items()
        if (filename.endswith("psycopg/_connection_base.py")
            and function == "_check_connection_ok")
        or (filename.endswith("redis/connection.py") and function == "read_response")
        or (filename == "~" and "execute" in function and "sqlite3" in function)
    )
    shares: dict[str, float] = {}
    for (filename, _, function), entry in stats.items():
        group = _group(filename, function)
        shares[group] = shares.get(group, 0.0) + entry[2] / total
    ranked = sorted(shares.items(), key=lambda item: item[1], reverse=True)
    return [(f"{trips / len(flows):.1f} statements sent per claim (the raw client: 1)", 0.0),
            *ranked]
