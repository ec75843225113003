"""Hot paths, side by side with a hand-tuned stdlib floor, in one run; prints ratios.

    make bench            # or: .venv/bin/python benchmarks/run.py [--quick]

The floor does the same work with nothing but the stdlib and no safety beyond the essentials
(no strict parsing, no typed errors): it is the fastest a Python implementation can be.
Peer libraries (authlib, requests-oauthlib) join this table in a later issue.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import timeit
from collections.abc import Callable
from urllib.parse import quote

import miroflow

CONFIG = miroflow.ClientConfig(
    client_id="3074457363680401096",
    client_secret="bench-secret",
    redirect_uri="https://app.example/callback",
)
TOKEN_BODY = json.dumps({
    "user_id": "3458764517517852417", "refresh_token": "r" * 60, "access_token": "a" * 60,
    "expires_in": 3599, "team_id": "3458764517517819000", "scope": "boards:write boards:read",
    "token_type": "bearer",
}).encode()
RESPONSE = miroflow.HttpResponse(status=200, body=TOKEN_BODY)

# --- the floor ---------------------------------------------------------------------------

_PREFIX = (
    f"{CONFIG.authorize_endpoint}?response_type=code&client_id={CONFIG.client_id}"
    f"&redirect_uri={quote(CONFIG.redirect_uri, safe='')}&state="
)
_floor_store: dict[str, tuple[str, float]] = {}


def floor_start() -> str:
    state = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    _floor_store[hashlib.sha256(state.encode()).hexdigest()] = ("binding-hash", time.time() + 900)
    return _PREFIX + state


def floor_callback(query: str, binding_hash: str) -> str | None:
    params = dict(part.split("=", 1) for part in query.split("&"))
    record = _floor_store.pop(hashlib.sha256(params["state"].encode()).hexdigest(), None)
    if record is None or not hmac.compare_digest(record[0], binding_hash):
        return None
    return params["code"]


def floor_token() -> dict[str, object]:
    body = (f"grant_type=authorization_code&code=the-code&redirect_uri="
            f"{quote(CONFIG.redirect_uri, safe='')}&client_id={CONFIG.client_id}"
            f"&client_secret=bench-secret").encode()
    assert body
    data = json.loads(TOKEN_BODY)
    return {"access": data["access_token"], "user": str(data["user_id"]),
            "expires_at": time.time() + int(data["expires_in"])}


# --- miroflow --------------------------------------------------------------------------

class CannedEndpoint:
    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        return RESPONSE


_flows = miroflow.MemoryFlowStore()
_client = miroflow.Client(
    CONFIG, flows=_flows, tokens=miroflow.MemoryTokenStore(),
    transport=CannedEndpoint(),
    clock=time.time, entropy=os.urandom,
)


def miroflow_start() -> miroflow.Answer:
    return _client.start()


def _prepare_callbacks(count: int, save: Callable[[str], None]) -> list[str]:
    queries = []
    for _ in range(count):
        state = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        save(state)
        queries.append(f"code=the-code&state={state}&client_id={CONFIG.client_id}&team_id=1")
    return queries


BINDING = "b" * 43


def miroflow_callback(query: str) -> miroflow.Step:
    # parse + atomic claim + binding compare + transition (which also builds the token request)
    now = time.time()
    callback = miroflow.parse_callback(query)
    claim = _flows.claim(miroflow.hash_secret(callback.state or ""), now)
    assert claim.flow is not None
    return miroflow.step(claim.flow, miroflow.CallbackReceived(callback=callback, binding=BINDING),
                         config=CONFIG, now=now)


def miroflow_token() -> miroflow.TokenSet:
    miroflow.token_request(CONFIG, "the-code")
    return miroflow.parse_token_response(RESPONSE, now=time.time())


def measure(fn: Callable[[], object], number: int) -> float:
    """Best of five runs, in microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def measure_callbacks(handle: Callable[[str], object], save: Callable[[str], None],
                      number: int) -> float:
    best = float("inf")
    for _ in range(5):
        queries = _prepare_callbacks(number, save)
        started = time.perf_counter()
        for query in queries:
            handle(query)
        best = min(best, (time.perf_counter() - started) / number * 1e6)
    return best


def main() -> int:
    number = 2000 if "--quick" in sys.argv else 20000
    binding_hash = miroflow.hash_secret(BINDING)

    def save_floor(state: str) -> None:
        _floor_store[hashlib.sha256(state.encode()).hexdigest()] = (binding_hash, time.time() + 900)

    def save_miroflow(state: str) -> None:
        now = time.time()
        _flows.save(miroflow.Flow(state=miroflow.FlowState.PENDING,
                                  state_hash=miroflow.hash_secret(state), binding_hash=binding_hash,
                                  created_at=now, deadline=now + 900))

    rows = [
        ("start a flow", measure(floor_start, number), measure(miroflow_start, number)),
        ("handle a callback",
         measure_callbacks(lambda q: floor_callback(q, binding_hash), save_floor, number),
         measure_callbacks(miroflow_callback, save_miroflow, number)),
        ("token request + response", measure(floor_token, number), measure(miroflow_token, number)),
    ]
    print(f"{'operation':28} {'floor µs':>10} {'miroflow µs':>12} {'ratio':>7}")
    for name, floor, ours in rows:
        print(f"{name:28} {floor:10.2f} {ours:12.2f} {ours / floor:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
