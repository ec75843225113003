"""``--services``: Redis and PostgreSQL, each beside a floor that talks to the same server
with its stdlib-grade client (redis-py, psycopg) and no safety beyond the essentials.

Servers come from ``MIROFLOW_REDIS_URL`` and ``MIROFLOW_POSTGRES_URL`` (as for the tests);
an unreachable one is skipped with a note. Every key and table lives under a prefix or
schema of this run's own, removed at the end.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from hashlib import sha256
from urllib.parse import urlsplit

import psycopg
import redis

import _floor
import _ours
from _measure import Maker, Side

REDIS_URL = os.environ.get("MIROFLOW_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "MIROFLOW_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
_NAME = f"miroflow_bench_{os.getpid()}"
_CHUNK = 1_000

Makers = tuple[Maker, Maker]


def reachable(url: str, port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or port), 2):
            return True
    except OSError:
        return False


class RedisFloor:
    """A flow is one key (SHA-256 of the state) holding the binding hash, expiring at its
    deadline; a claim is a two-line script: delete the key if the binding matches."""

    _CLAIM = (
        "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end"
        " return 0"
    )

    def __init__(self, client: redis.Redis, prefix: bytes) -> None:
        self.redis = client
        self.prefix = prefix
        self._claim = client.register_script(self._CLAIM)

    def close(self) -> None:
        pass

    def start(self) -> tuple[str, str]:
        state, binding = _floor.draw()
        self.redis.set(
            self.prefix + sha256(state.encode()).digest(),
            sha256(binding.encode()).digest(),
            px=_floor.LIFETIME * 1000,
        )
        return _floor.answer(state, binding)

    def claim(self, state: str, binding: str, now: float) -> bool:
        key = self.prefix + sha256(state.encode()).digest()
        won: object = self._claim(keys=[key], args=[sha256(binding.encode()).digest()])
        return won == 1

    def populate(self, start: int, stop: int) -> None:
        for first in range(start, stop, _CHUNK):
            pipe = self.redis.pipeline(transaction=False)
            for index in range(first, min(first + _CHUNK, stop)):
                seed = index.to_bytes(8, "big")
                pipe.set(self.prefix + sha256(seed).digest(), sha256(seed + b"b").digest(),
                         px=_floor.LIFETIME * 1000)
            pipe.execute()


class PostgresFloor:
    """One table; a start is one INSERT, a claim one DELETE ... RETURNING (autocommit)."""

    def __init__(self, connection: psycopg.Connection[tuple[object, ...]], schema: str) -> None:
        self.db = connection
        self.table = f"{schema}.floor_flows"
        self.db.execute(
            f"CREATE TABLE {self.table} (key bytea PRIMARY KEY, binding bytea NOT NULL,"
            " deadline double precision NOT NULL)"
        )

    def close(self) -> None:
        pass  # the connection is shared; its schema is dropped at the end

    def start(self) -> tuple[str, str]:
        state, binding = _floor.draw()
        self.db.execute(
            f"INSERT INTO {self.table} VALUES (%s, %s, %s)",
            (sha256(state.encode()).digest(), sha256(binding.encode()).digest(),
             time.time() + _floor.LIFETIME),
            prepare=True,
        )
        return _floor.answer(state, binding)

    def claim(self, state: str, binding: str, now: float) -> bool:
        row = self.db.execute(
            f"DELETE FROM {self.table} WHERE key = %s AND binding = %s AND deadline > %s"
            " RETURNING 1",
            (sha256(state.encode()).digest(), sha256(binding.encode()).digest(), now),
            prepare=True,
        ).fetchone()
        return row is not None

    def populate(self, start: int, stop: int) -> None:
        deadline = time.time() + _floor.LIFETIME
        with self.db.transaction(), self.db.cursor() as cursor, cursor.copy(
            f"COPY {self.table} (key, binding, deadline) FROM STDIN"
        ) as copy:
            for index in range(start, stop):
                seed = index.to_bytes(8, "big")
                copy.write_row((sha256(seed).digest(), sha256(seed + b"b").digest(), deadline))


@contextmanager
def redis_makers(notes: list[str]) -> Iterator[Makers | None]:
    if not reachable(REDIS_URL, 6379):
        notes.append(f"Redis rows skipped: no server at {REDIS_URL} (set MIROFLOW_REDIS_URL)")
        yield None
        return
    from miroflow_redis import RedisFlowStore

    client = redis.Redis.from_url(REDIS_URL)
    names = itertools.count()

    def make_floor() -> Side:
        return RedisFloor(client, f"{_NAME}:floor-{next(names)}:".encode())

    def make_ours() -> Side:
        return _ours.Closing(RedisFlowStore(REDIS_URL, prefix=f"{_NAME}:ours-{next(names)}:"))

    try:
        yield make_floor, make_ours
    finally:
        for keys in chunks(client.scan_iter(match=f"{_NAME}:*", count=_CHUNK)):
            client.delete(*keys)
        client.close()


@contextmanager
def postgres_makers(notes: list[str]) -> Iterator[Makers | None]:
    if not reachable(POSTGRES_URL, 5432):
        notes.append(
            f"PostgreSQL rows skipped: no server at {POSTGRES_URL} (set MIROFLOW_POSTGRES_URL)"
        )
        yield None
        return
    from miroflow_postgres import PostgresFlowStore

    connection = psycopg.connect(POSTGRES_URL, autocommit=True)
    names = itertools.count()
    schemas: list[str] = []

    def make_floor() -> Side:
        schemas.append(f"{_NAME}_{next(names)}")
        connection.execute(f"CREATE SCHEMA {schemas[-1]}")
        return PostgresFloor(connection, schemas[-1])

    def make_ours() -> Side:
        schemas.append(f"{_NAME}_{next(names)}")
        return _ours.Closing(PostgresFlowStore(POSTGRES_URL, schema=schemas[-1], max_size=1))

    try:
        yield make_floor, make_ours
    finally:
        for schema in schemas:
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.close()


def chunks(keys: Iterator[bytes]) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


Opener = Callable[[list[str]], AbstractContextManager[Makers | None]]

#: (row key, label, opener) for each service.
SERVICES: tuple[tuple[str, str, Opener], ...] = (
    ("redis_store", "RedisFlowStore", redis_makers),
    ("postgres_store", "PostgresFlowStore", postgres_makers),
)
