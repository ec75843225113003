"""Token stores that keep the access and refresh tokens encrypted in any other token store.

The wrapped store sees token sets whose two secret fields are sealed (``_keys.KeyRing``); the
ids, scopes and times stay readable, so the store keys, versions and lists records as
before. Everything else (the version compare-and-set, the refresh lease, a store's own
methods such as ``stored_keys`` or ``close``) is the wrapped store's, unchanged.

The sync and async stores share the sealing functions below; each only orders its calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from miroflow import (
    AsyncTokenStore,
    StaleTokenWrite,
    StoredTokens,
    TokenKey,
    TokenSet,
    TokenStore,
)

from ._keys import KeyRing, TokenDecryptionError, keys_from_env

__all__ = ["AsyncEncryptedTokenStore", "EncryptedTokenStore"]

Keys = KeyRing | Iterable[str | bytes] | None


def _ring(keys: Keys) -> KeyRing:
    if keys is None:
        return keys_from_env()
    return keys if isinstance(keys, KeyRing) else KeyRing(keys)


def seal(ring: KeyRing, tokens: TokenSet) -> TokenSet:
    """``tokens`` with the access and refresh tokens sealed under the primary key."""
    owner = tokens.key
    refresh = tokens.refresh_token
    return attrs.evolve(
        tokens,
        access_token=ring.seal(tokens.access_token, owner, "access_token"),
        refresh_token=None if refresh is None else ring.seal(refresh, owner, "refresh_token"),
    )


def unseal(ring: KeyRing, stored: StoredTokens, key: TokenKey) -> tuple[StoredTokens, bool]:
    """The stored record opened (read for ``key``: a record moved from another owner does
    not open), and whether it was sealed under another key than the primary one."""
    tokens = stored.tokens
    if tokens.key != key:
        raise TokenDecryptionError(
            f"The tokens stored for app {key.client_id}, user {key.user_id}, team "
            f"{key.team_id} name another owner: the record was moved or altered."
        )
    refresh = tokens.refresh_token
    opened = attrs.evolve(
        tokens,
        access_token=ring.open(tokens.access_token, key, "access_token"),
        refresh_token=None if refresh is None else ring.open(refresh, key, "refresh_token"),
    )
    old = ring.needs_rotation(tokens.access_token) or (
        refresh is not None and ring.needs_rotation(refresh)
    )
    return StoredTokens(tokens=opened, version=stored.version), old


class EncryptedTokenStore:
    """A ``miroflow.TokenStore`` keeping access and refresh tokens encrypted (AES-256-GCM) in
    ``store``, any other token store.

    ``keys``: a ``KeyRing``, or keys as ``generate_key()`` makes them (the first encrypts, all
    decrypt); by default ``keys_from_env()`` (``MIROFLOW_TOKEN_KEYS``). With
    ``rotate_on_read=True``, a record read under an older key is written back under the first
    one (a compare-and-set, so its version goes up by one); ``rotate(key)`` does the same for
    one record on demand. A record that does not decrypt raises ``TokenDecryptionError`` (a
    ``miroflow.RecordError``)."""

    def __init__(self, store: TokenStore, keys: Keys = None, *, rotate_on_read: bool = False):
        self.inner = store
        self.key_ring = _ring(keys)
        self.rotate_on_read = rotate_on_read

    def __repr__(self) -> str:
        return f"EncryptedTokenStore({self.inner!r}, {self.key_ring!r})"

    def __getattr__(self, name: str) -> Any:
        # Only reached for what this class lacks: the wrapped store's own methods.
        if name == "inner":  # not set yet (a copy being built): no endless recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def get(self, key: TokenKey) -> StoredTokens | None:
        stored = self.inner.get(key)
        if stored is None:
            return None
        opened, old = unseal(self.key_ring, stored, key)
        if old and self.rotate_on_read:
            try:
                written = self.inner.put(
                    seal(self.key_ring, opened.tokens), expected_version=stored.version
                )
            except StaleTokenWrite:  # another writer got there first: read what it wrote
                again = self.inner.get(key)
                return None if again is None else unseal(self.key_ring, again, key)[0]
            return StoredTokens(tokens=opened.tokens, version=written.version)
        return opened

    def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        written = self.inner.put(seal(self.key_ring, tokens), expected_version=expected_version)
        return StoredTokens(tokens=tokens, version=written.version)

    def delete(self, key: TokenKey) -> None:
        self.inner.delete(key)

    def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        return self.inner.lease(key, holder, now=now, ttl=ttl)

    def release(self, key: TokenKey, holder: str) -> None:
        self.inner.release(key, holder)

    def rotate(self, key: TokenKey) -> bool:
        """Re-encrypt the tokens under ``key`` with the first key if an older one sealed them.
        True if this call rewrote them (False: nothing stored, already current, or another
        writer changed them meanwhile, under whatever key it holds)."""
        stored = self.inner.get(key)
        if stored is None:
            return False
        opened, old = unseal(self.key_ring, stored, key)
        if not old:
            return False
        try:
            self.inner.put(seal(self.key_ring, opened.tokens), expected_version=stored.version)
        except StaleTokenWrite:
            return False
        return True


class AsyncEncryptedTokenStore:
    """``EncryptedTokenStore`` for a ``miroflow.AsyncTokenStore``; same arguments, same
    behaviour, ``async`` methods."""

    def __init__(self, store: AsyncTokenStore, keys: Keys = None, *, rotate_on_read: bool = False):
        self.inner = store
        self.key_ring = _ring(keys)
        self.rotate_on_read = rotate_on_read

    def __repr__(self) -> str:
        return f"AsyncEncryptedTokenStore({self.inner!r}, {self.key_ring!r})"

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def get(self, key: TokenKey) -> StoredTokens | None:
        stored = await self.inner.get(key)
        if stored is None:
            return None
        opened, old = unseal(self.key_ring, stored, key)
        if old and self.rotate_on_read:
            try:
                written = await self.inner.put(
                    seal(self.key_ring, opened.tokens), expected_version=stored.version
                )
            except StaleTokenWrite:
                again = await self.inner.get(key)
                return None if again is None else unseal(self.key_ring, again, key)[0]
            return StoredTokens(tokens=opened.tokens, version=written.version)
        return opened

    async def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        written = await self.inner.put(
            seal(self.key_ring, tokens), expected_version=expected_version
        )
        return StoredTokens(tokens=tokens, version=written.version)

    async def delete(self, key: TokenKey) -> None:
        await self.inner.delete(key)

    async def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        return await self.inner.lease(key, holder, now=now, ttl=ttl)

    async def release(self, key: TokenKey, holder: str) -> None:
        await self.inner.release(key, holder)

    async def rotate(self, key: TokenKey) -> bool:
        """See ``EncryptedTokenStore.rotate``."""
        stored = await self.inner.get(key)
        if stored is None:
            return False
        opened, old = unseal(self.key_ring, stored, key)
        if not old:
            return False
        try:
            await self.inner.put(
                seal(self.key_ring, opened.tokens), expected_version=stored.version
            )
        except StaleTokenWrite:
            return False
        return True
