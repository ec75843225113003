"""Keys and the sealing of one token: AES-256-GCM with a key id, the token's owner as
associated data.

A sealed token is ``mfe1.<key id>.<nonce + ciphertext + tag, base64url>``:

* ``mfe1`` names this format, so a later one can be told apart (and a plaintext token, which
  never starts that way, is refused rather than taken as it is);
* the key id (8 hex digits of a SHA-256 over the key) picks the key among the ring without
  trying each, and lets a reader tell "written under a key I no longer have" from "tampered";
* AES-GCM authenticates as well as encrypts; the associated data names the app, user, team
  and field, so a sealed token moved to another user's record, or from the refresh field to
  the access field, does not open.

A fresh 96-bit random nonce per seal: the same token sealed twice gives two texts, and with
random nonces one key may seal about 2**32 tokens before reuse becomes a risk (NIST SP
800-38D §8.3); rotate long before that.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from miroflow import ConfigError, RecordError, TokenKey

__all__ = [
    "ENV_VARIABLE",
    "KeyRing",
    "TokenDecryptionError",
    "generate_key",
    "keys_from_env",
]

#: The environment variable ``keys_from_env`` reads: keys separated by commas, the first
#: encrypts, all decrypt.
ENV_VARIABLE = "MIROFLOW_TOKEN_KEYS"
PREFIX = "mfe1"
_KEY_BYTES = 32
_NONCE_BYTES = 12
_ID_LENGTH = 8
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class TokenDecryptionError(RecordError):
    """A stored token cannot be decrypted: written under a key this ring does not hold (a
    wrong key, or one removed too soon after a rotation), altered, moved to another record,
    or not sealed at all. The message names the key id and the owner, never a token or a
    key."""

    code = "token_decryption_error"


def generate_key() -> str:
    """A new random 256-bit key, as ``MIROFLOW_TOKEN_KEYS`` holds it (base64url, 43
    characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(_KEY_BYTES)).rstrip(b"=").decode()


def _unbase64(text: str) -> bytes:
    """Strict unpadded base64url: the decoder alone would skip stray characters."""
    if not _BASE64URL.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _decode_key(text: str, position: int) -> bytes:
    try:
        raw = _unbase64(text.strip())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _KEY_BYTES:
        # Which key, never what it holds: it is a secret even when it is malformed.
        raise ConfigError(
            f"Token encryption key #{position} is not a base64url-encoded 256-bit key "
            "(make one with miroflow_encryption.generate_key() or "
            "`python -m miroflow_encryption`)."
        )
    return raw


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"miroflow-encryption key id\x00" + key).hexdigest()[:_ID_LENGTH]


def _associated_data(owner: TokenKey, field: str) -> bytes:
    parts = ("miroflow-token", field, owner.client_id, owner.user_id, owner.team_id)
    return "\x00".join(parts).encode()


class KeyRing:
    """Keys for sealing tokens: the first seals, every one opens (rotation: put the new key
    first, keep the old ones until every record is re-encrypted, then drop them)."""

    __slots__ = ("_ciphers", "_primary")

    def __init__(self, keys: Iterable[str | bytes]) -> None:
        ciphers: dict[str, AESGCM] = {}
        primary: str | None = None
        for position, key in enumerate(keys, start=1):
            raw = key if isinstance(key, bytes) else _decode_key(key, position)
            if len(raw) != _KEY_BYTES:
                raise ConfigError(f"Token encryption key #{position} is not 32 bytes long.")
            identifier = key_id(raw)
            ciphers.setdefault(identifier, AESGCM(raw))
            primary = primary or identifier
        if primary is None:
            raise ConfigError("A token encryption key ring needs at least one key.")
        self._ciphers: Mapping[str, AESGCM] = ciphers
        self._primary = primary

    @property
    def primary_id(self) -> str:
        """The id of the key that seals (not a secret: 32 bits of a hash of the key)."""
        return self._primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def __repr__(self) -> str:
        return f"KeyRing(key_ids={self.key_ids!r})"

    def seal(self, token: str, owner: TokenKey, field: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._primary].encrypt(
            nonce, token.encode(), _associated_data(owner, field)
        )
        text = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        return f"{PREFIX}.{self._primary}.{text}"

    def needs_rotation(self, sealed: str) -> bool:
        """Whether ``sealed`` was sealed under another key than the primary one."""
        return not sealed.startswith(f"{PREFIX}.{self._primary}.")

    def open(self, sealed: str, owner: TokenKey, field: str) -> str:
        where = (
            f"The {field} of app {owner.client_id} for user {owner.user_id} in team {owner.team_id}"
        )
        prefix, _, rest = sealed.partition(".")
        identifier, _, text = rest.partition(".")
        if prefix != PREFIX or len(identifier) != _ID_LENGTH or not text:
            raise TokenDecryptionError(
                f"{where} is not encrypted (stored in plain text, or by something other than "
                "miroflow-encryption)."
            )
        cipher = self._ciphers.get(identifier)
        if cipher is None:
            raise TokenDecryptionError(
                f"{where} was encrypted under key id {identifier}, which is not among the "
                f"keys given (ids {', '.join(self._ciphers)}): add that key to "
                f"{ENV_VARIABLE} (after the first one)."
            )
        try:
            raw = _unbase64(text)
            plain = cipher.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated_data(owner, field)
            )
            return plain.decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise TokenDecryptionError(
                f"{where} does not decrypt under key id {identifier}: it was altered or moved "
                "from another record."
            ) from None


def keys_from_env(
    variable: str = ENV_VARIABLE, *, environ: Mapping[str, str] | None = None
) -> KeyRing:
    """The key ring in the environment variable ``variable`` (``MIROFLOW_TOKEN_KEYS``): keys
    separated by commas, the first encrypts, all decrypt. Missing, empty or malformed:
    ``miroflow.ConfigError``, naming the variable and never its value."""
    value = (os.environ if environ is None else environ).get(variable, "")
    keys = [part for part in (piece.strip() for piece in value.split(",")) if part]
    if not keys:
        raise ConfigError(
            f"{variable} is not set: give it one or more token encryption keys, separated by "
            "commas (make one with `python -m miroflow_encryption`)."
        )
    return KeyRing(keys)
