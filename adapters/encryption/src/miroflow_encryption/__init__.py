"""miroflow-encryption: access and refresh tokens encrypted at rest in any miroflow token store.

``EncryptedTokenStore(store, keys)`` / ``AsyncEncryptedTokenStore(store, keys)`` wrap any
``TokenStore`` / ``AsyncTokenStore`` (memory, SQLite, Redis, PostgreSQL, your own) and keep
the tokens sealed with AES-256-GCM; ``keys_from_env()`` reads ``MIROFLOW_TOKEN_KEYS`` (the
first key encrypts, all decrypt); ``generate_key()`` makes a key.
"""

from ._keys import ENV_VARIABLE, KeyRing, TokenDecryptionError, generate_key, keys_from_env
from ._stores import AsyncEncryptedTokenStore, EncryptedTokenStore

__all__ = [
    "ENV_VARIABLE",
    "AsyncEncryptedTokenStore",
    "EncryptedTokenStore",
    "KeyRing",
    "TokenDecryptionError",
    "generate_key",
    "keys_from_env",
]
