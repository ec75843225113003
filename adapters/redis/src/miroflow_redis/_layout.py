"""Where everything lives in Redis: the key names and the Lua scripts that touch them.

Every state change runs as one Lua script, which Redis executes atomically: nothing runs
between a script's read and its write, on any connection. The scripts compare and set; they
never read a clock and decide nothing else (``miroflow.machine.claim_outcome`` does).

Key layout version 2 (this one)::

    <prefix>schema                          the layout version in force ("2")
    <prefix>flow:<state hash, hex>          hash: record, binding (hex, or ""), claimed
    <prefix>tokens:<client>:<user>:<team>   hash: record, version, writer
    <prefix>lease:<client>:<user>:<team>    hash: holder, until, taker (the refresh lease)

Lease keys came after layout 2 was released, without a new layout version: they are a kind
of key of their own that a store without leases never reads or writes, no key of layout 2
changes meaning, and each lease key expires by itself. There is nothing to migrate.

Version 1 (miroflow-redis 0.1) kept tokens under ``<prefix>tokens:<user>:<team>`` (no app),
holding a version-1 record without ``client_id``; reading or writing the tokens of an app
adopts that key (see ``GET_TOKENS``, ``ADOPT_TOKENS`` and ``PUT_TOKENS``). Its flow keys had
the same shape but hashes derived without the client id, so no claim can ever reach them
again: they are left to expire by their own TTL.

Writes that the caller cannot safely repeat carry a random nonce (``claimed``, ``writer``,
``taker``): redis-py replays a command whose connection dropped (it retries by default), and
a replay of a write that was applied must answer as the write did, not "already claimed",
"stale" or "leased".
"""

from __future__ import annotations

from urllib.parse import quote

from miroflow import TokenKey

__all__ = [
    "ADOPT_TOKENS",
    "CLAIM",
    "DELETE_TOKENS",
    "GET_TOKENS",
    "KEY_LAYOUT_VERSION",
    "LEASE",
    "PUT_TOKENS",
    "RELEASE",
    "SAVE_FLOW",
    "SCHEMA",
    "SCRIPTS",
    "Keys",
]

#: The layout of the keys (not of the records, which carry miroflow's own schema version).
KEY_LAYOUT_VERSION = 2


class Keys:
    """Every key a store uses, under one prefix. Flow keys are state hashes, never states."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.schema = f"{prefix}schema"

    def flow(self, state_hash: bytes) -> str:
        return f"{self.prefix}flow:{state_hash.hex()}"

    def tokens(self, key: TokenKey) -> list[str]:
        """The key of these tokens, then the version 1 key they may still wait under. Parts
        are quoted, so no id can run into the next, and a version 1 key (two parts) never
        equals a version 2 key (three)."""
        user, team = _part(key.user_id), _part(key.team_id)
        return [
            f"{self.prefix}tokens:{_part(key.client_id)}:{user}:{team}",
            f"{self.prefix}tokens:{user}:{team}",
        ]

    def lease(self, key: TokenKey) -> str:
        """The key of the refresh lease of these tokens (parts quoted as in ``tokens``)."""
        app, user, team = _part(key.client_id), _part(key.user_id), _part(key.team_id)
        return f"{self.prefix}lease:{app}:{user}:{team}"


def _part(value: str) -> str:
    return quote(value, safe="")


# KEYS[1] the layout marker; ARGV[1] this code's layout version. Moves an older (or missing)
# marker up to this version and returns the version found before: 0 if none, -1 if unreadable.
SCHEMA = """
local raw = redis.call('GET', KEYS[1])
if not raw then raw = '0' end
local found = tonumber(raw)
if not found then return -1 end
if found < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return found
"""

# KEYS[1] the flow; ARGV: record, binding hash in hex ('' for none), forget-at in Unix ms.
# Insert or replace, unclaimed; Redis forgets the key at forget-at by itself.
SAVE_FLOW = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'binding', ARGV[2], 'claimed', '')
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
"""

# KEYS[1] the flow; ARGV: presented binding hash in hex ('' for none), this call's nonce.
# Wins an unclaimed flow whose binding equals the presented one. An empty binding, stored or
# presented, never wins: the presented one is checked non-empty, and the stored one must
# equal it. A replay of this same call (same nonce) after a lost answer wins again.
# Returns {1, record} to the winner, else {0, record} or {0} if there is no such flow.
CLAIM = """
local found = redis.call('HMGET', KEYS[1], 'record', 'binding', 'claimed')
if not found[1] then return {0} end
if ARGV[1] ~= '' and found[2] == ARGV[1] and (found[3] == '' or found[3] == ARGV[2]) then
  redis.call('HSET', KEYS[1], 'claimed', ARGV[2])
  return {1, found[1]}
end
return {0, found[1]}
"""

# KEYS: the tokens' key, their version 1 key. Returns {2, record, version} from the first,
# else {1, record, version} from the second (to be adopted), else {0}. A field missing from
# a key that exists comes back '' (a corrupt record, refused when decoded).
GET_TOKENS = """
local found = redis.call('HMGET', KEYS[1], 'record', 'version')
if found[1] or found[2] then return {2, found[1] or '', found[2] or ''} end
found = redis.call('HMGET', KEYS[2], 'record', 'version')
if found[1] then return {1, found[1], found[2]} end
return {0}
"""

# KEYS: the tokens' key, their version 1 key; ARGV: the version 1 record and version exactly
# as GET_TOKENS read them, and that record re-written as version 2. Moves the tokens over,
# keeping their version, only if nobody wrote either key since that read: of two adopters
# one wins, and the other (told 0) reads again and finds the first one's work.
ADOPT_TOKENS = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local found = redis.call('HMGET', KEYS[2], 'record', 'version')
if found[1] ~= ARGV[1] or found[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'record', ARGV[3], 'version', ARGV[2])
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS: the tokens' key, their version 1 key; ARGV: record, expected version ('' for an
# unconditional write), this call's nonce. Returns {1, new version} or {0, version found}.
# With nothing under the first key, the version 1 key's version is the current one and the
# write replaces that key (adopting it needs no decoding: its record is overwritten).
PUT_TOKENS = """
local current = redis.call('HMGET', KEYS[1], 'version', 'writer')
local version
if current[1] then
  version = tonumber(current[1])
  if current[2] == ARGV[3] then return {1, version} end
else
  version = tonumber(redis.call('HGET', KEYS[2], 'version') or '0')
end
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= version then return {0, version} end
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'version', version + 1, 'writer', ARGV[3])
redis.call('DEL', KEYS[2])
return {1, version + 1}
"""

# KEYS: the tokens' key, their version 1 key. Both go, or a get would adopt deleted tokens.
DELETE_TOKENS = """
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"""

# KEYS[1] the lease; ARGV: holder, now, until (= now + ttl, both seconds as the caller's clock
# reads them, written so that they read back exactly), the key's lifetime in ms, this call's
# nonce. Takes the lease if there is none or the stored one ended (until <= now, by the
# caller's clock, never Redis's); a holder asking again while its lease runs is refused like
# anyone else, but a replay of this very call (same nonce) after a lost answer answers 1
# again. A stored lease without a readable until is replaced. The key's own expiry only makes
# Redis forget ended leases; it outlives until (see ``_logic.lease``).
LEASE = """
local found = redis.call('HMGET', KEYS[1], 'until', 'taker')
if found[2] == ARGV[5] then return 1 end
local ends = tonumber(found[1])
if ends and ends > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'until', ARGV[3], 'taker', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS[1] the lease; ARGV[1] the holder. Deletes the lease only if that holder holds it.
RELEASE = """
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""

SCRIPTS = (
    SCHEMA,
    SAVE_FLOW,
    CLAIM,
    GET_TOKENS,
    ADOPT_TOKENS,
    PUT_TOKENS,
    DELETE_TOKENS,
    LEASE,
    RELEASE,
)
