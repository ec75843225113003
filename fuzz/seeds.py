"""Write the seed inputs of each target into ``fuzz/corpus/<target>/``: a few valid examples
of what each parser reads (and a few near misses), from which the fuzzer starts. Run once when
a target is added; ``run.py --minimize`` then keeps the corpus small."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fuzz_targets import CONFIG, NOW, TOKENS  # noqa: E402 - after the path is set

import miroflow  # noqa: E402
from miroflow.machine import hash_binding, hash_state  # noqa: E402
from miroflow.records import dumps_flow, dumps_tokens  # noqa: E402

STATE = "S" * 43
STATUS_200 = b"\x00"  # STATUSES[0]
STATUS_401 = b"\x0d"  # STATUSES[13]


def _seeds() -> dict[str, list[bytes]]:
    flow = miroflow.Flow(
        state=miroflow.FlowState.REDIRECTED,
        state_hash=hash_state(CONFIG.client_id, STATE),
        binding_hash=hash_binding("B" * 43),
        created_at=NOW,
        deadline=NOW + 900,
        return_path="/boards",
        requested_team_id="2",
    )
    tokens = miroflow.TokenSet(
        client_id=CONFIG.client_id,
        access_token="a" * 40,
        refresh_token="r" * 40,
        user_id="1",
        team_id="2",
        scopes=("boards:read", "boards:write"),
        obtained_at=NOW,
        expires_at=NOW + 3599,
    )
    legacy = json.loads(dumps_tokens(tokens))
    legacy.pop("client_id")
    legacy["v"] = 1
    context = {
        "type": "user",
        "organization": {"type": "organization", "id": 3074457345618265000, "name": "Acme"},
        "team": {"type": "team", "id": "2", "name": "Team"},
        "createdBy": {"type": "user", "id": "1", "name": "Ada"},
        "user": {"type": "user", "id": "1", "name": "Ada"},
        "scopes": ["boards:read", "identity:read"],
    }
    return {
        "callback": [
            f"code=abc123&state={STATE}&client_id={CONFIG.client_id}&team_id=2".encode(),
            f"error=access_denied&error_description=The+user+said+no&state={STATE}".encode(),
            b"code=a%20b&state=%41%42&code=twice",
            b"error=x&code=y&team_id=12345678901234567890123456789012345",
        ],
        "login": [b"", b"team_id=2&next=%2Fboards%3Fx%3D1", b"next=//evil.example", b"team_id=x"],
        "token_response": [
            STATUS_200 + TOKENS,
            STATUS_200 + TOKENS.replace(b'"user_id":"1"', b'"user_id":9007199254740993'),
            STATUS_401
            + b'{"status":401,"code":"oauthError","type":"error",'
            + b'"message":"Invalid authorization code"}',
            b"\x0c" + b'{"error":"invalid_grant","error_description":"expired"}',
            STATUS_200 + b'{"a":1,"a":2}',
        ],
        "token_context": [STATUS_200 + json.dumps(context).encode(), b"\x0c{}"],
        "records": [
            dumps_flow(flow),
            dumps_tokens(tokens),
            json.dumps(legacy).encode(),
            b'{"v":3}',
        ],
        "binding_cookie": [
            b"\x00" + b"B" * 43,
            b"\x01",
            b"\x02code=x&team_id=2",
            b"\x03\xff\xfe\ncode=y",
        ],
    }


def main() -> None:
    for target, inputs in _seeds().items():
        directory = HERE / "corpus" / target
        directory.mkdir(parents=True, exist_ok=True)
        for data in inputs:
            (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)  # noqa: S324 - a name


if __name__ == "__main__":
    main()
