"""The floor: miroflow's work done with nothing but the stdlib and no safety beyond the
essentials, about as fast as Python can do it. miroflow is measured against it.

The essentials kept: the state and binding are 256-bit random tokens; stores hold SHA-256
hashes, never the raw values; a claim is atomic, one-shot, and checks the binding and the
deadline; the token response's status is checked. Everything else miroflow does (strict
parsing, typed errors, tombstones for "already used", the state machine, observers) is left
out. The floor imports nothing from miroflow, so it cannot borrow its speed either.
"""

from __future__ import annotations

import hmac
import json
import os
import sqlite3
import threading
import time
from binascii import b2a_base64
from collections import deque
from collections.abc import Callable
from hashlib import sha256
from urllib.parse import quote, unquote

CLIENT_ID = "3074457363680401096"
CLIENT_SECRET = "bench-secret"
REDIRECT_URI = "https://app.example/callback"
AUTHORIZE_ENDPOINT = "https://miro.com/oauth/authorize"
TOKEN_ENDPOINT = "https://api.miro.com/v1/oauth/token"
COOKIE_NAME = "__Host-miroflow"
LIFETIME = 900
TEAM_ID = "3458764517517819000"
CODE = "eyJtaXJvLm9yaWdpbiI6ImV1MDEifQ_bench-code"
#: What the token endpoint answers: Miro's success JSON.
TOKEN_BODY = json.dumps({
    "user_id": "3458764517517852417", "refresh_token": "r" * 60, "access_token": "a" * 60,
    "expires_in": 3599, "team_id": TEAM_ID, "scope": "boards:write boards:read",
    "token_type": "bearer",
}).encode()

_AUTHORIZE = (
    f"{AUTHORIZE_ENDPOINT}?response_type=code&client_id={CLIENT_ID}"
    f"&redirect_uri={quote(REDIRECT_URI, safe='')}&state="
)
_COOKIE_PREFIX = f"{COOKIE_NAME}="
_COOKIE_SUFFIX = f"; Max-Age={LIFETIME}; Path=/; Secure; HttpOnly; SameSite=Lax"
_FORM_PREFIX = "grant_type=authorization_code&code="
_FORM_SUFFIX = (
    f"&redirect_uri={quote(REDIRECT_URI, safe='')}&client_id={CLIENT_ID}"
    f"&client_secret={CLIENT_SECRET}"
)
_URL_SAFE = bytes.maketrans(b"+/", b"-_")

Request = tuple[str, bytes]
Tokens = tuple[str, str | None, str, str, tuple[str, ...], float | None]


def b64url(raw: bytes) -> str:
    # The fastest unpadded base64url of the stdlib (urlsafe_b64encode is ~50% slower).
    return b2a_base64(raw, newline=False).rstrip(b"=").translate(_URL_SAFE).decode()


def draw() -> tuple[str, str]:
    """A new state and binding, from one read of the random source."""
    raw = os.urandom(64)
    return b64url(raw[:32]), b64url(raw[32:])


def answer(state: str, binding: str) -> tuple[str, str]:
    """The authorization URL and the binding cookie's Set-Cookie value."""
    return _AUTHORIZE + state, _COOKIE_PREFIX + binding + _COOKIE_SUFFIX


def parse_query(query: str) -> dict[str, str]:
    params = {}
    for part in query.split("&"):
        name, _, value = part.partition("=")
        params[name] = unquote(value) if "%" in value else value
    return params


def token_request(code: str) -> Request:
    body = _FORM_PREFIX + (quote(code, safe="") if "%" in code else code) + _FORM_SUFFIX
    return TOKEN_ENDPOINT, body.encode()


def parse_tokens(status: int, body: bytes, now: float) -> Tokens:
    if status != 200:
        raise ValueError(f"the token endpoint answered {status}")
    data = json.loads(body)
    expires_in = data.get("expires_in")
    return (
        data["access_token"],
        data.get("refresh_token"),
        str(data["user_id"]),
        str(data["team_id"]),
        tuple(data.get("scope", "").split()),
        None if expires_in is None else now + int(expires_in),
    )


def instant_endpoint(request: Request) -> tuple[int, bytes]:
    return 200, TOKEN_BODY


def pkce_answer(state: str, binding: str, verifier: str) -> tuple[str, str]:
    """``answer`` with the S256 challenge of ``verifier`` in the URL."""
    challenge = b64url(sha256(verifier.encode()).digest())
    return (
        _AUTHORIZE + state + "&code_challenge=" + challenge + "&code_challenge_method=S256",
        _COOKIE_PREFIX + binding + _COOKIE_SUFFIX,
    )


class MemoryFloor:
    """Pending flows in one dict, SHA-256 hex of the state -> (binding hash, deadline), and
    the PKCE verifier after them for a flow started with PKCE."""

    def __init__(self) -> None:
        self.pending: dict[str, tuple[bytes, float] | tuple[bytes, float, str]] = {}
        self.tokens: dict[tuple[str, str], Tokens] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        pass

    def start(self) -> tuple[str, str]:
        state, binding = draw()
        self.pending[sha256(state.encode()).hexdigest()] = (
            sha256(binding.encode()).digest(),
            time.time() + LIFETIME,
        )
        return answer(state, binding)

    def start_pkce(self) -> tuple[str, str]:
        raw = os.urandom(96)
        state, binding, verifier = b64url(raw[:32]), b64url(raw[32:64]), b64url(raw[64:])
        self.pending[sha256(state.encode()).hexdigest()] = (
            sha256(binding.encode()).digest(),
            time.time() + LIFETIME,
            verifier,
        )
        return pkce_answer(state, binding, verifier)

    def claim(self, state: str, binding: str, now: float) -> bool:
        key = sha256(state.encode()).hexdigest()
        presented = sha256(binding.encode()).digest()
        with self._lock:
            record = self.pending.get(key)
            if record is None or record[1] <= now or not hmac.compare_digest(record[0], presented):
                return False
            del self.pending[key]
        return True

    def callback(self, query: str, cookie: str) -> Request | None:
        params = parse_query(query)
        state, code = params.get("state"), params.get("code")
        if not state or not code or not self.claim(state, cookie, time.time()):
            return None
        return token_request(code)

    def sign_in(self, query: str, cookie: str) -> Tokens | None:
        """The whole callback: (b), the token request answered at once, the tokens kept."""
        request = self.callback(query, cookie)
        if request is None:
            return None
        status, body = instant_endpoint(request)
        tokens = parse_tokens(status, body, time.time())
        self.tokens[tokens[2], tokens[3]] = tokens
        return tokens

    def handle_callback(self, query: str, cookie: str) -> tuple[int, str]:
        return (400, "bad callback") if self.sign_in(query, cookie) is None else (303, "/")

    def populate(self, start: int, stop: int) -> None:
        """Add flows ``start`` to ``stop`` (distinct hashes, deadlines in the future)."""
        deadline = time.time() + LIFETIME
        pending = self.pending
        for index in range(start, stop):
            seed = index.to_bytes(8, "big")
            pending[sha256(seed).hexdigest()] = (sha256(seed + b"b").digest(), deadline)


class SQLiteFloor:
    """Pending flows in one SQLite table, as durable as miroflow's store (WAL, the default
    synchronous=FULL, one transaction per write); a claim is one DELETE ... RETURNING."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS flows (key BLOB PRIMARY KEY, binding BLOB NOT NULL,"
            " deadline REAL NOT NULL) WITHOUT ROWID"
        )

    def close(self) -> None:
        self.db.close()

    def start(self) -> tuple[str, str]:
        state, binding = draw()
        self.db.execute(
            "INSERT INTO flows VALUES (?, ?, ?)",
            (
                sha256(state.encode()).digest(),
                sha256(binding.encode()).digest(),
                time.time() + LIFETIME,
            ),
        )
        return answer(state, binding)

    def claim(self, state: str, binding: str, now: float) -> bool:
        row = self.db.execute(
            "DELETE FROM flows WHERE key = ? AND binding = ? AND deadline > ? RETURNING 1",
            (sha256(state.encode()).digest(), sha256(binding.encode()).digest(), now),
        ).fetchone()
        return row is not None

    def populate(self, start: int, stop: int) -> None:
        deadline = time.time() + LIFETIME
        rows = (
            (sha256(seed).digest(), sha256(seed + b"b").digest(), deadline)
            for seed in (index.to_bytes(8, "big") for index in range(start, stop))
        )
        with self.db:  # one transaction: the floor may build its population any way it likes
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO flows VALUES (?, ?, ?)", rows)


# --- (d) one step of each machine, (e) a snapshot's round trip, the expiry sweep ------------

#: A client flow record: (state, state hash, binding hash, created at, deadline).
FlowRecord = tuple[str, bytes, bytes, float, float]
Effects = tuple[tuple[str, Request], ...]


def _on_callback(record: FlowRecord, code: str) -> tuple[FlowRecord, Effects]:
    return ("code_received", *record[1:]), (("send", token_request(code)),)


#: The client machine's table, cut down to the one transition timed: (state, input) -> rule.
_CLIENT_TABLE: dict[tuple[str, str], Callable[[FlowRecord, str], tuple[FlowRecord, Effects]]] = {
    ("redirected", "callback"): _on_callback,
}


def client_step(record: FlowRecord, kind: str, code: str) -> tuple[FlowRecord, Effects]:
    """One step: look the rule up by (state, input kind), run it."""
    return _CLIENT_TABLE[record[0], kind](record, code)


#: An issued code: (state, client id, redirect URI, user id, team id, issued at).
CodeRecord = tuple[str, str, str, str, str, float]
#: A token pair: (access hash, refresh hash, user id, team id, expires at).
PairRecord = tuple[str, str, str, str, float]
CODE_LIFETIME = 600


def redeem(
    code: CodeRecord, client_id: str, secret: str, redirect_uri: str, access: str,
    refresh: str, now: float,
) -> tuple[CodeRecord, PairRecord | None, tuple[int, bytes]]:
    """The simulated server's step for ``grant_type=authorization_code`` on an issued code:
    check the app, secret, redirect URI and age; the code redeemed, a new pair, the answer."""
    state, owner, registered, user_id, team_id, issued_at = code
    if (
        state != "issued" or owner != client_id or registered != redirect_uri
        or not hmac.compare_digest(secret, CLIENT_SECRET) or now >= issued_at + CODE_LIFETIME
    ):
        return code, None, (400, b'{"error":"invalid_grant"}')
    pair = (sha256(access.encode()).hexdigest(), sha256(refresh.encode()).hexdigest(), user_id,
            team_id, now + 3599)
    body = json.dumps({
        "user_id": user_id, "refresh_token": refresh, "access_token": access,
        "expires_in": 3599, "team_id": team_id, "scope": "boards:write boards:read",
        "token_type": "bearer",
    }).encode()
    return ("redeemed", *code[1:]), pair, (200, body)


def dumps_record(record: FlowRecord) -> bytes:
    state, state_hash, binding_hash, created_at, deadline = record
    return json.dumps([state, state_hash.hex(), binding_hash.hex(), created_at, deadline]).encode()


def loads_record(data: bytes) -> FlowRecord:
    state, state_hash, binding_hash, created_at, deadline = json.loads(data)
    return state, bytes.fromhex(state_hash), bytes.fromhex(binding_hash), created_at, deadline


class SweepFloor:
    """Flows in a dict, their keys in a queue in forget order; a sweep pops the due ones."""

    def __init__(self) -> None:
        self.flows: dict[bytes, tuple[bytes, float]] = {}
        self.queue: deque[tuple[float, bytes]] = deque()

    def add(self, key: bytes, binding_hash: bytes, forget_at: float) -> None:
        self.flows[key] = (binding_hash, forget_at)
        self.queue.append((forget_at, key))

    def sweep(self, now: float) -> int:
        queue, flows = self.queue, self.flows
        forgotten = 0
        while queue and queue[0][0] <= now:
            del flows[queue.popleft()[1]]
            forgotten += 1
        return forgotten
