"""What the sync and asyncio stores share: every operation as a plan of script calls, and how
to read the replies. A plan is a generator that yields the ``Call`` to run and receives its
reply; the stores only run the calls (one blocking, one awaiting), so the decisions, the
decoding and the adoption of version 1 keys exist once.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Generator
from fractions import Fraction
from typing import Any, TypeVar

import attrs
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from miroflow import (
    ClaimResult,
    Flow,
    RecordError,
    StaleTokenWrite,
    StoredTokens,
    StoreError,
    StoreUnavailable,
    TokenKey,
    TokenSet,
)
from miroflow.records import dumps_flow, dumps_tokens, loads_flow, loads_tokens

from ._layout import (
    ADOPT_TOKENS,
    CLAIM,
    DELETE_TOKENS,
    GET_TOKENS,
    KEY_LAYOUT_VERSION,
    LEASE,
    PUT_TOKENS,
    RELEASE,
    SAVE_FLOW,
    SCHEMA,
    Keys,
)

__all__ = [
    "Call",
    "Plan",
    "check_layout",
    "claim",
    "delete_tokens",
    "describe",
    "failure",
    "get_tokens",
    "lease",
    "put_tokens",
    "release",
    "save",
]

T = TypeVar("T")


@attrs.frozen
class Call:
    """One script to run: its source (``_layout``), keys and arguments."""

    script: str
    keys: list[str]
    args: list[Any]


#: An operation: yields calls, receives their replies, returns the result.
Plan = Generator[Call, Any, T]

#: How many times a read may find version 1 tokens that someone else moved or changed before
#: it could adopt them. Each miss means another writer made progress, so a few suffice.
ADOPT_ATTEMPTS = 8

#: How long a lease key outlives its lease, in seconds. Whether a lease ended is decided by
#: the callers' ``now`` against the stored ``until``; the key's own expiry (Redis's clock) only
#: makes Redis forget ended leases, so it must never come first, even where a worker's clock
#: runs behind Redis's.
LEASE_GRACE = 60.0


def check_layout(keys: Keys, where: str) -> Plan[None]:
    """Move the layout marker up to this version (the adoption of older keys is lazy), or
    refuse a marker that a newer miroflow-redis wrote."""
    found = yield Call(SCHEMA, [keys.schema], [KEY_LAYOUT_VERSION])
    version = int(found)
    if version < 0:
        raise RecordError(f"The miroflow layout marker in Redis at {where} is not a number.")
    if version > KEY_LAYOUT_VERSION:
        raise RecordError(
            f"The miroflow keys in Redis at {where} have layout version {version}; this "
            f"miroflow-redis knows versions up to {KEY_LAYOUT_VERSION}. Upgrade miroflow-redis "
            "(a newer one wrote them)."
        )


def save(keys: Keys, flow: Flow) -> Plan[None]:
    args = [dumps_flow(flow), _hex(flow.binding_hash), _ms_not_before(flow.forget_at)]
    yield Call(SAVE_FLOW, [keys.flow(flow.state_hash)], args)


def claim(keys: Keys, state_hash: bytes, binding_hash: bytes | None) -> Plan[ClaimResult]:
    reply = yield Call(CLAIM, [keys.flow(state_hash)], [_hex(binding_hash), _nonce()])
    flow = loads_flow(reply[1]) if len(reply) > 1 else None
    return flow, int(reply[0]) == 1


def get_tokens(keys: Keys, key: TokenKey) -> Plan[StoredTokens | None]:
    both = keys.tokens(key)
    for _ in range(ADOPT_ATTEMPTS):
        reply = yield Call(GET_TOKENS, both, [])
        layout = int(reply[0])
        if layout == 0:
            return None
        record, version = reply[1], reply[2]
        if layout != 1:  # found under the current key
            return StoredTokens(tokens=loads_tokens(record), version=_version(version))
        adopted = _adopt(record, version, key)
        args = [record, version, dumps_tokens(adopted.tokens)]
        if int((yield Call(ADOPT_TOKENS, both, args))):
            return adopted
    raise StoreError(
        f"The version 1 tokens of user {key.user_id} in team {key.team_id} kept changing "
        f"while app {key.client_id} adopted them; is a miroflow-redis 0.1 worker still running?"
    )


def _adopt(record: Any, version: Any, key: TokenKey) -> StoredTokens:
    """The version 1 tokens under ``key``'s old key, as this app's version 2 tokens."""
    tokens = loads_tokens(record, client_id=key.client_id)
    if tokens.key != key:
        raise RecordError("A version 1 TokenSet record names another user or team than its key.")
    return StoredTokens(tokens=tokens, version=_version(version))


def put_tokens(keys: Keys, tokens: TokenSet, expected: int | None) -> Plan[StoredTokens]:
    args = [dumps_tokens(tokens), "" if expected is None else str(expected), _nonce()]
    reply = yield Call(PUT_TOKENS, keys.tokens(tokens.key), args)
    written, version = int(reply[0]), _version(reply[1] if len(reply) > 1 else None)
    if not written:
        assert expected is not None, "PUT_TOKENS always writes when no version is expected"
        raise StaleTokenWrite.for_key(tokens.key, found=version, expected=expected)
    return StoredTokens(tokens=tokens, version=version)


def delete_tokens(keys: Keys, key: TokenKey) -> Plan[None]:
    yield Call(DELETE_TOKENS, keys.tokens(key), [])


def lease(keys: Keys, key: TokenKey, holder: str, now: float, ttl: float) -> Plan[bool]:
    until = now + ttl
    # repr: the shortest text that reads back as the same double, in Lua as in Python.
    lifetime = _ms_not_before(max(ttl, 0.0) + LEASE_GRACE)
    args = [holder, repr(now), repr(until), lifetime, _nonce()]
    reply = yield Call(LEASE, [keys.lease(key)], args)
    return int(reply) == 1


def release(keys: Keys, key: TokenKey, holder: str) -> Plan[None]:
    yield Call(RELEASE, [keys.lease(key)], [holder])


def _hex(digest: bytes | None) -> str:
    # "" is the one value the claim script never matches.
    return "" if digest is None else digest.hex()


def _ms_not_before(instant: float) -> int:
    """Unix milliseconds, rounded up exactly (a Fraction, not a float product), so Redis
    never forgets a flow before its ``forget_at``."""
    return math.ceil(Fraction(instant) * 1000)


def _nonce() -> str:
    # Unique per call, so that only a replay of this very call is taken for it.
    return secrets.token_hex(16)


def _version(value: Any) -> int:
    """A stored version: Lua replies an int, a hash field bytes (or str, when decoding)."""
    if type(value) is int and value >= 0:
        return value
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    if isinstance(text, str) and text.isascii() and text.isdigit():
        return int(text)
    raise RecordError("A TokenSet record in Redis has no valid version.")


def describe(connection_kwargs: dict[str, Any]) -> str:
    """Where the server is, for the operator's messages: host, port and database, never a
    password (``error.message``, which users see, never names it: the core fixes that)."""
    if connection_kwargs.get("path"):
        place = f"unix:{connection_kwargs['path']}"
    else:
        place = (
            f"{connection_kwargs.get('host', 'localhost')}:{connection_kwargs.get('port', 6379)}"
        )
    return f"{place}/{connection_kwargs.get('db', 0)}"


def failure(exc: RedisError, where: str) -> StoreError:
    """miroflow's exception for one of redis-py's (raise it ``from None``). The stores call
    this from a plain ``except`` around each script call: a context manager there cost as
    much as the rest of a claim's own Python."""
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return StoreUnavailable(
            f"Redis at {where} is not reachable ({type(exc).__name__}). Is the server running, "
            "and is the URL right?"
        )
    return StoreError(f"Redis at {where} failed ({type(exc).__name__}).")
