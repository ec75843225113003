"""``python -m miroflow_encryption``: print a new token encryption key (for MIROFLOW_TOKEN_KEYS)."""

from ._keys import generate_key

if __name__ == "__main__":
    print(generate_key())
