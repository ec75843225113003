"""What the sync and asyncio stores share: key names, the Lua scripts, and how to read their
replies. Each store method is "build the call, run it, decode the reply"; only "run it"
differs between the two kinds of client.

Every state change runs as one Lua script, which Redis executes atomically: nothing can run
between the script's read and its write, on any connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from miroflow import (
    FLOW_RETENTION,
    Claim,
    ClaimOutcome,
    RecordError,
    StaleTokenWrite,
    StoredTokens,
    StoreError,
    StoreUnavailable,
    TokenKey,
    TokenSet,
    dumps_tokens,
    loads_flow,
    loads_tokens,
)

__all__ = [
    "CLAIM",
    "KEY_LAYOUT_VERSION",
    "PUT_TOKENS",
    "SAVE_FLOW",
    "SCHEMA",
    "Keys",
    "check_layout",
    "claim_args",
    "decode_claim",
    "decode_put",
    "decode_stored",
    "describe",
    "errors",
    "number",
    "put_args",
    "save_args",
]

#: The layout of the keys (not of the records, which carry miroflow's own version).
KEY_LAYOUT_VERSION = 1

# KEYS[1] the flow; ARGV: record, deadline, forget-at in ms. Replaces any earlier flow.
SAVE_FLOW = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'deadline', ARGV[2], 'claimed', '0')
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
"""

# KEYS[1] the flow; ARGV: now, retention. The same decision, in the same order, as
# miroflow.MemoryFlowStore.claim; the caller's "now" decides, never Redis's clock.
CLAIM = """
local found = redis.call('HMGET', KEYS[1], 'record', 'deadline', 'claimed')
if not found[1] then return {'unknown'} end
local now = tonumber(ARGV[1])
local deadline = tonumber(found[2])
if now >= deadline + tonumber(ARGV[2]) then return {'unknown'} end
if found[3] == '1' then return {'already_claimed'} end
if now >= deadline then return {'expired', found[1]} end
redis.call('HSET', KEYS[1], 'claimed', '1')
return {'claimed', found[1]}
"""

# KEYS[1] the tokens; ARGV: record, expected version ('' for an unconditional write).
PUT_TOKENS = """
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= version then return {0, version} end
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'version', version + 1)
return {1, version + 1}
"""

# KEYS[1] the layout marker; ARGV: this code's version. Returns the version in force.
SCHEMA = """
local found = redis.call('GET', KEYS[1])
if not found then
  redis.call('SET', KEYS[1], ARGV[1])
  return tonumber(ARGV[1])
end
return tonumber(found)
"""


class Keys:
    """Every key a store uses, under one prefix. Flow keys are state hashes, never states."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.schema = f"{prefix}schema"

    def flow(self, state_hash: str) -> str:
        return f"{self.prefix}flow:{state_hash}"

    def tokens(self, key: TokenKey) -> str:
        # Quoted, so that no user id can run into the team id.
        return f"{self.prefix}tokens:{quote(key.user_id, safe='')}:{quote(key.team_id, safe='')}"


def number(value: float) -> str:
    """A float as Lua's ``tonumber`` reads it back exactly (repr is the shortest round-trip)."""
    return repr(float(value))


def save_args(record: bytes, deadline: float) -> list[Any]:
    forget_at_ms = int((deadline + FLOW_RETENTION) * 1000) + 1
    return [record, number(deadline), forget_at_ms]


def claim_args(now: float) -> list[Any]:
    return [number(now), number(FLOW_RETENTION)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def put_args(tokens: TokenSet, expected_version: int | None) -> list[Any]:
    return [dumps_tokens(tokens), "" if expected_version is None else str(expected_version)]


def decode_claim(reply: Sequence[Any]) -> Claim:
    outcome = ClaimOutcome(_text(reply[0]))
    flow = loads_flow(reply[1]) if len(reply) > 1 else None
    return Claim(outcome=outcome, flow=flow)


def decode_put(reply: Sequence[Any], tokens: TokenSet, expected: int | None) -> StoredTokens:
    written, version = int(reply[0]), int(reply[1])
    if not written:
        assert expected is not None, "PUT_TOKENS always writes when no version is expected"
        raise StaleTokenWrite.for_key(
            tokens.user_id, tokens.team_id, found=version, expected=expected
        )
    return StoredTokens(tokens=tokens, version=version)


def decode_stored(reply: Sequence[Any]) -> StoredTokens | None:
    record, version = reply
    if record is None:
        return None
    return StoredTokens(tokens=loads_tokens(record), version=int(version))


def check_layout(found: Any, where: str) -> None:
    version = int(found)
    if version > KEY_LAYOUT_VERSION:
        raise RecordError(
            f"The miroflow keys in Redis at {where} have layout version {version}; this "
            f"miroflow-redis knows version {KEY_LAYOUT_VERSION}. Upgrade miroflow-redis (a "
            "newer one wrote them)."
        )


def describe(connection_kwargs: dict[str, Any]) -> str:
    """Where the server is, for messages: host, port and database, never a password."""
    if connection_kwargs.get("path"):
        place = f"unix:{connection_kwargs['path']}"
    else:
        place = (
            f"{connection_kwargs.get('host', 'localhost')}:{connection_kwargs.get('port', 6379)}"
        )
    return f"{place}/{connection_kwargs.get('db', 0)}"


@contextlib.contextmanager
def errors(where: str) -> Iterator[None]:
    """Turn redis-py's exceptions into miroflow's (works around ``await`` too)."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise StoreUnavailable(
            f"Redis at {where} is not reachable ({type(exc).__name__}). Is the server running, "
            "and is the URL right?"
        ) from None
    except RedisError as exc:
        raise StoreError(f"Redis at {where} failed ({type(exc).__name__}).") from None
