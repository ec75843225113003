"""miroflow-encryption keeps its promises: the wrapped store never holds a token in plain text
(seen in its records and in the raw SQLite and Redis data), records written before a key
rotation read after it, and a wrong, missing or malformed key is a typed error naming no
secret."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
import redis
from miroflow_encryption import (
    ENV_VARIABLE,
    AsyncEncryptedTokenStore,
    EncryptedTokenStore,
    KeyRing,
    TokenDecryptionError,
    generate_key,
    keys_from_env,
)
from miroflow_redis import RedisTokenStore
from miroflow_sqlite import SQLiteTokenStore

import miroflow

NOW = 1_900_000_000.0
ACCESS = "access-token-in-plain-text-0123456789"
REFRESH = "refresh-token-in-plain-text-0123456789"


def a_token_set(user_id: str = "1", team_id: str = "2") -> miroflow.TokenSet:
    return miroflow.TokenSet(
        client_id="3074457363680401096",
        access_token=ACCESS,
        refresh_token=REFRESH,
        user_id=user_id,
        team_id=team_id,
        scopes=("boards:read",),
        obtained_at=NOW,
        expires_at=NOW + 3599,
    )


class Spy(miroflow.MemoryTokenStore):
    """A memory store that remembers every token set it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[miroflow.TokenSet] = []

    def put(
        self, tokens: miroflow.TokenSet, *, expected_version: int | None = None
    ) -> miroflow.StoredTokens:
        self.written.append(tokens)
        return super().put(tokens, expected_version=expected_version)


def _no_plaintext(text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    assert ACCESS.encode() not in data and REFRESH.encode() not in data


# --- plaintext never reaches the wrapped store ----------------------------------------------


def test_the_wrapped_store_holds_only_sealed_tokens(ring: KeyRing) -> None:
    inner = Spy()
    store = EncryptedTokenStore(inner, ring)
    tokens = a_token_set()
    assert store.put(tokens, expected_version=0) == miroflow.StoredTokens(tokens=tokens, version=1)
    (written,) = inner.written
    _no_plaintext(repr(attrs.asdict(written)))
    assert written.access_token.startswith(f"mfe1.{ring.primary_id}.")
    # what is not secret stays readable: the store keys, lists and expires by it
    assert (written.user_id, written.team_id, written.expires_at) == ("1", "2", NOW + 3599)
    assert store.get(tokens.key) == miroflow.StoredTokens(tokens=tokens, version=1)
    # sealed twice, the same token gives two texts (a fresh nonce each time)
    store.put(tokens)
    assert inner.written[1].access_token != written.access_token


def test_a_token_set_without_a_refresh_token_round_trips(ring: KeyRing) -> None:
    store = EncryptedTokenStore(miroflow.MemoryTokenStore(), ring)
    tokens = attrs.evolve(a_token_set(), refresh_token=None)
    store.put(tokens)
    assert store.get(tokens.key) == miroflow.StoredTokens(tokens=tokens, version=1)


def test_the_sqlite_file_holds_no_plaintext_token(tmp_path: Path, ring: KeyRing) -> None:
    path = tmp_path / "tokens.sqlite3"
    inner = SQLiteTokenStore(path)
    store = EncryptedTokenStore(inner, ring)
    store.put(a_token_set())
    # the SQLite store's own method, passed through
    assert store.stored_keys() == [a_token_set().key]
    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT * FROM sqlite_master").fetchall()
        tables = [row[1] for row in rows if row[0] == "table"]
        for table in tables:
            _no_plaintext(repr(raw.execute(f'SELECT * FROM "{table}"').fetchall()))
    for file in tmp_path.iterdir():  # the database, its journal and WAL, byte for byte
        _no_plaintext(file.read_bytes())
    assert store.get(a_token_set().key) is not None


def test_redis_holds_no_plaintext_token(redis_url: str, prefix: str, ring: KeyRing) -> None:
    store = EncryptedTokenStore(RedisTokenStore(redis_url, prefix=prefix), ring)
    try:
        store.put(a_token_set())
        raw = redis.Redis.from_url(redis_url)
        try:
            keys = list(raw.scan_iter(match=f"{prefix}*"))
            assert keys
            for key in keys:
                _no_plaintext(repr(raw.dump(key)))
        finally:
            raw.close()
        assert store.get(a_token_set().key) == miroflow.StoredTokens(
            tokens=a_token_set(), version=1
        )
    finally:
        store.close()


# --- rotation -------------------------------------------------------------------------------


def test_records_written_before_a_rotation_read_after_it() -> None:
    old, new = generate_key(), generate_key()
    inner = miroflow.MemoryTokenStore()
    tokens = a_token_set()
    EncryptedTokenStore(inner, [old]).put(tokens)
    rotated = EncryptedTokenStore(inner, [new, old])
    assert rotated.get(tokens.key) == miroflow.StoredTokens(tokens=tokens, version=1)
    # nothing was rewritten: without the old key it does not read
    with pytest.raises(TokenDecryptionError, match="not among the keys given"):
        EncryptedTokenStore(inner, [new]).get(tokens.key)
    # rotate() rewrites it under the new key, once
    assert rotated.rotate(tokens.key) is True
    assert rotated.rotate(tokens.key) is False
    assert rotated.rotate(miroflow.TokenKey(client_id="1", user_id="9", team_id="9")) is False
    assert EncryptedTokenStore(inner, [new]).get(tokens.key) == miroflow.StoredTokens(
        tokens=tokens, version=2
    )
    # new writes use the first key
    second = a_token_set(user_id="3")
    rotated.put(second)
    assert EncryptedTokenStore(inner, [new]).get(second.key) is not None


def test_rotate_on_read_rewrites_old_records_as_they_are_read() -> None:
    old, new = generate_key(), generate_key()
    inner = miroflow.MemoryTokenStore()
    tokens = a_token_set()
    EncryptedTokenStore(inner, [old]).put(tokens)
    reading = EncryptedTokenStore(inner, [new, old], rotate_on_read=True)
    assert reading.get(tokens.key) == miroflow.StoredTokens(tokens=tokens, version=2)
    assert reading.get(tokens.key) == miroflow.StoredTokens(tokens=tokens, version=2)
    assert EncryptedTokenStore(inner, [new]).get(tokens.key) is not None


def test_rotate_on_read_loses_a_race_gracefully() -> None:
    old, new = generate_key(), generate_key()
    tokens = a_token_set()
    newer = attrs.evolve(tokens, access_token="x" * 40)

    class Racing(miroflow.MemoryTokenStore):
        """Another writer stores newer tokens right before the wrapper's rewrite."""

        def put(
            self, tokens: miroflow.TokenSet, *, expected_version: int | None = None
        ) -> miroflow.StoredTokens:
            if expected_version == 1:
                super().put(_sealed(newer, new))
            return super().put(tokens, expected_version=expected_version)

    inner = Racing()
    EncryptedTokenStore(inner, [old]).put(tokens)
    reading = EncryptedTokenStore(inner, [new, old], rotate_on_read=True)
    assert reading.get(tokens.key) == miroflow.StoredTokens(tokens=newer, version=2)


def _sealed(tokens: miroflow.TokenSet, key: str) -> miroflow.TokenSet:
    spy = Spy()
    EncryptedTokenStore(spy, [key]).put(tokens)
    return spy.written[0]


def test_the_async_wrapper_rotates_too() -> None:
    old, new = generate_key(), generate_key()
    tokens = a_token_set()

    async def run() -> None:
        inner = miroflow.AsyncMemoryTokenStore()
        await AsyncEncryptedTokenStore(inner, [old]).put(tokens)
        rotated = AsyncEncryptedTokenStore(inner, [new, old])
        assert (await rotated.get(tokens.key)) == miroflow.StoredTokens(tokens=tokens, version=1)
        assert await rotated.rotate(tokens.key) is True
        assert await rotated.rotate(tokens.key) is False
        reading = AsyncEncryptedTokenStore(inner, [new])
        assert (await reading.get(tokens.key)) == miroflow.StoredTokens(tokens=tokens, version=2)
        await AsyncEncryptedTokenStore(inner, [old]).put(tokens)
        on_read = AsyncEncryptedTokenStore(inner, [new, old], rotate_on_read=True)
        assert (await on_read.get(tokens.key)) == miroflow.StoredTokens(tokens=tokens, version=4)
        with pytest.raises(TokenDecryptionError):
            await AsyncEncryptedTokenStore(inner, [generate_key()]).get(tokens.key)

    asyncio.run(run())


# --- wrong keys, tampering, plain text: typed errors naming no secret -----------------------


def _names_no_secret(error: BaseException, *keys: str) -> None:
    text = f"{error} {error!r} {getattr(error, 'message', '')}"
    for secret in (ACCESS, REFRESH, *keys):
        assert secret not in text


def test_a_wrong_key_is_a_record_error_naming_no_secret() -> None:
    right, wrong = generate_key(), generate_key()
    inner = miroflow.MemoryTokenStore()
    EncryptedTokenStore(inner, [right]).put(a_token_set())
    with pytest.raises(TokenDecryptionError) as caught:
        EncryptedTokenStore(inner, [wrong]).get(a_token_set().key)
    error = caught.value
    assert isinstance(error, miroflow.RecordError) and isinstance(error, miroflow.StoreError)
    assert error.code == "token_decryption_error" and error.status_code == 500
    assert KeyRing([right]).primary_id in str(error)  # which key it needs: its id
    assert "user 1 in team 2" in str(error)
    _names_no_secret(error, right, wrong)
    assert error.message == miroflow.StoreError.public_message  # the person sees no detail


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda sealed: sealed[:-2] + ("AA" if sealed[-2:] != "AA" else "BB"), id="bit-flip"
        ),
        pytest.param(lambda sealed: sealed[:30], id="truncated"),
        pytest.param(lambda sealed: sealed + "!!", id="junk-appended"),
        pytest.param(lambda sealed: ACCESS, id="plain-text"),
        pytest.param(lambda sealed: "mfe1.zz.abc", id="bad-key-id"),
    ],
)
def test_an_altered_token_does_not_decrypt(ring: KeyRing, tamper: Any) -> None:
    inner = Spy()
    store = EncryptedTokenStore(inner, ring)
    tokens = a_token_set()
    store.put(tokens)
    sealed = inner.written[0]
    inner.put(attrs.evolve(sealed, access_token=tamper(sealed.access_token)))
    with pytest.raises(TokenDecryptionError) as caught:
        store.get(tokens.key)
    _names_no_secret(caught.value)


def test_a_sealed_token_moved_to_another_owner_or_field_does_not_decrypt(ring: KeyRing) -> None:
    inner = Spy()
    store = EncryptedTokenStore(inner, ring)
    victim, attacker = a_token_set(user_id="1"), a_token_set(user_id="666")
    store.put(victim)
    sealed = inner.written[0]
    # the victim's sealed tokens copied into the attacker's record
    inner.put(attrs.evolve(sealed, user_id="666"))
    with pytest.raises(TokenDecryptionError, match="altered or moved"):
        store.get(attacker.key)
    # the victim's whole record under the attacker's key: it names another owner
    records = inner._records  # behind the store's back, as someone with the database would
    records[victim.client_id, "666", "2"] = records[victim.client_id, "1", "2"]
    with pytest.raises(TokenDecryptionError, match="another owner"):
        store.get(attacker.key)
    # the refresh token sealed as the access token
    assert sealed.refresh_token is not None
    swapped = attrs.evolve(sealed, access_token=sealed.refresh_token)
    inner.put(swapped)
    with pytest.raises(TokenDecryptionError):
        store.get(victim.key)


def test_keys_from_the_environment() -> None:
    first, second = generate_key(), generate_key()
    ring = keys_from_env(environ={ENV_VARIABLE: f" {first} , {second},"})
    assert ring.key_ids == (KeyRing([first]).primary_id, KeyRing([second]).primary_id)
    assert first not in repr(ring) and second not in repr(ring)
    for environ in ({}, {ENV_VARIABLE: ""}, {ENV_VARIABLE: " , "}):
        with pytest.raises(miroflow.ConfigError, match=ENV_VARIABLE):
            keys_from_env(environ=environ)
    malformed = first[:-3]  # a secret even when it is malformed: never in the message
    with pytest.raises(miroflow.ConfigError, match="key #2") as caught:
        keys_from_env(environ={ENV_VARIABLE: f"{first},{malformed}"})
    _names_no_secret(caught.value, first, malformed)
    with pytest.raises(miroflow.ConfigError):
        KeyRing([b"short"])
    with pytest.raises(miroflow.ConfigError):
        KeyRing([])


def test_the_default_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.setenv(ENV_VARIABLE, key)
    store = EncryptedTokenStore(miroflow.MemoryTokenStore())
    assert store.key_ring.primary_id == KeyRing([key]).primary_id
    assert key not in repr(store)
    monkeypatch.delenv(ENV_VARIABLE)
    with pytest.raises(miroflow.ConfigError, match=ENV_VARIABLE):
        AsyncEncryptedTokenStore(miroflow.AsyncMemoryTokenStore())


def test_generate_key_from_the_command_line() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "miroflow_encryption"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    key = run.stdout.strip()
    assert len(key) == 43 and KeyRing([key]).primary_id
    assert generate_key() != generate_key()


# --- end to end: a client keeps working through the wrapper ---------------------------------


def test_a_client_reads_and_refreshes_tokens_through_the_wrapper(ring: KeyRing) -> None:
    config = miroflow.ClientConfig(
        client_id="3074457363680401096",
        client_secret="encryption-test-secret",
        redirect_uri="http://localhost:8000/callback",
    )
    inner = Spy()
    refreshed = json.dumps(
        {
            "access_token": "new-access-token-0123456789",
            "refresh_token": "new-refresh-token-0123456789",
            "token_type": "bearer",
            "expires_in": 3599,
            "user_id": "1",
            "team_id": "2",
            "scope": "boards:read",
        }
    ).encode()

    class Miro:
        def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
            return miroflow.HttpResponse(status=200, body=refreshed)

    clock = NOW + 3599 - 10.0  # inside the refresh margin
    client = miroflow.Client(
        config,
        flows=miroflow.MemoryFlowStore(),
        tokens=EncryptedTokenStore(inner, ring),
        transport=Miro(),
        clock=lambda: clock,
    )
    EncryptedTokenStore(inner, ring).put(attrs.evolve(a_token_set(), client_id=config.client_id))
    assert client.access_token("1", "2") == "new-access-token-0123456789"
    assert all("new-access-token" not in written.access_token for written in inner.written)
    assert client.stored_tokens("1", "2") is not None
