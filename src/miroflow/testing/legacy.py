"""Records as miroflow 0.1 wrote them (schema version 1), for a store adapter's migration
tests: write a version 1 store by hand with these, open it with the current store, and check
what it adopts.

A version 1 token record names no app; a version 1 flow record holds whole SHA-256 digests
in hex, of the raw state without the client id (so no callback can claim it again) and of the
binding, plus the fields of the old code-expiry row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from miroflow import TokenSet

__all__ = ["adopted", "v1_flow_record", "v1_token_record"]


def v1_token_record(
    *, user_id: str = "1", team_id: str = "2", now: float = 1_900_000_000.0, **changes: Any
) -> dict[str, Any]:
    """A token set as version 1 stored it (no ``client_id``); ``changes`` override fields."""
    record: dict[str, Any] = {
        "access_token": "a" * 40,
        "refresh_token": "r" * 40,
        "token_type": "bearer",
        "user_id": user_id,
        "team_id": team_id,
        "scopes": ["boards:read"],
        "obtained_at": now,
        "expires_at": now + 3599,
        "v": 1,
    }
    record.update(changes)
    return record


def v1_flow_record(
    *, state: str = "old-state", binding: str = "old-binding", now: float = 1_900_000_000.0
) -> dict[str, Any]:
    """A waiting flow as version 1 stored it, started at ``now`` for ten minutes."""
    return {
        "state": "redirected",
        "state_hash": hashlib.sha256(state.encode()).hexdigest(),
        "binding_hash": hashlib.sha256(binding.encode()).hexdigest(),
        "created_at": now,
        "deadline": now + 600,
        "requested_team_id": None,
        "return_path": "/boards",
        "code_verifier": "v" * 43,
        "code": None,
        "code_received_at": None,
        "team_id": None,
        "failure": None,
        "v": 1,
    }


def adopted(record: Mapping[str, Any], client_id: str) -> TokenSet:
    """What a version 1 token record means once the app ``client_id`` adopts it, spelled out
    field by field (not through ``miroflow.records``, which the tests check)."""
    return TokenSet(
        client_id=client_id,
        access_token=record["access_token"],
        refresh_token=record["refresh_token"],
        token_type=record["token_type"],
        user_id=record["user_id"],
        team_id=record["team_id"],
        scopes=tuple(record["scopes"]),
        obtained_at=float(record["obtained_at"]),
        expires_at=None if record["expires_at"] is None else float(record["expires_at"]),
    )
