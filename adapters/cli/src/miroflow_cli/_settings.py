"""Where the command's configuration comes from, and where it keeps tokens.

The app's settings are looked up in three places, the first that has a value winning:
flags (``--client-id``, ``--redirect-uri``), then the ``MIRO_*`` environment variables that
``miroflow.ClientConfig.from_env`` reads, then a TOML file (``config.toml`` in the user's
config directory, or ``--config``/``MIROFLOW_CONFIG``). The client secret is never a flag: a
flag's value shows in the process list and in the shell's history.

Tokens live in a SQLite file per app, ``<client id>.sqlite3`` in the user's data directory
(``platformdirs.user_data_path("miroflow")``; ``--data-dir``/``MIROFLOW_DATA_DIR`` elsewhere).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from miroflow import ClientConfig, ConfigError

from ._exit import ExitCode, Failure

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["FILE_KEYS", "Settings", "default_config_path", "default_data_dir"]

APP_NAME = "miroflow"
#: Keys of the config file, and the environment variable each stands for.
FILE_KEYS: Mapping[str, str] = {
    "client_id": "MIRO_CLIENT_ID",
    "client_secret": "MIRO_CLIENT_SECRET",
    "redirect_uri": "MIRO_REDIRECT_URL",
    "authorize_endpoint": "MIRO_AUTHORIZE_URL",
    "token_endpoint": "MIRO_TOKEN_URL",
    "revoke_endpoint": "MIRO_REVOKE_URL",
    "token_context_endpoint": "MIRO_TOKEN_CONTEXT_URL",
}
_REQUIRED = {
    "client_id": "--client-id",
    "client_secret": None,  # never a flag
    "redirect_uri": "--redirect-uri",
}


def default_config_path() -> Path:
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def default_data_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME)


def _read_file(path: Path, *, explicit: bool) -> dict[str, str]:
    """The file's settings; a missing default file is no settings, a missing named one an
    error. Unknown keys and values that are not strings are refused, naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise Failure(f"The config file {path} does not exist.", ExitCode.USAGE) from None
        return {}
    except OSError as error:
        raise Failure(
            f"Cannot read the config file {path}: {error.strerror}.", ExitCode.USAGE
        ) from None
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise Failure(
            f"The config file {path} is not valid TOML: {error}.", ExitCode.USAGE
        ) from None
    unknown = sorted(set(document) - set(FILE_KEYS))
    if unknown:
        raise Failure(
            f"Unknown keys in {path}: {', '.join(unknown)} (known: {', '.join(FILE_KEYS)}).",
            ExitCode.USAGE,
        )
    for key, value in document.items():
        if not isinstance(value, str):
            raise Failure(f"{key} in {path} must be a string.", ExitCode.USAGE)
    return {key: str(value) for key, value in document.items()}


@dataclass(frozen=True)
class Settings:
    """The command's places: the config file (named on purpose or the default), the data
    directory, and the environment the ``MIRO_*`` variables are read from."""

    config_path: Path
    config_explicit: bool
    data_dir: Path
    environ: Mapping[str, str]

    @classmethod
    def make(
        cls,
        config_path: Path | None,
        data_dir: Path | None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        return cls(
            config_path=config_path or default_config_path(),
            config_explicit=config_path is not None,
            data_dir=data_dir or default_data_dir(),
            environ=os.environ if environ is None else environ,
        )

    def _merged(self) -> dict[str, str]:
        """The environment as ``from_env`` reads it: the file's values under their variables'
        names, each replaced by the environment's own when that is set and not blank."""
        file = _read_file(self.config_path, explicit=self.config_explicit)
        merged = {FILE_KEYS[key]: value for key, value in file.items()}
        for variable in FILE_KEYS.values():
            value = self.environ.get(variable, "").strip()
            if value:
                merged[variable] = value
        return merged

    def client_id(self, flag: str | None) -> str | None:
        """The app's client id if one is configured anywhere (listing tokens needs no more)."""
        return flag or self._merged().get(FILE_KEYS["client_id"]) or None

    def client_config(self, flags: Mapping[str, str | None], **overrides: Any) -> ClientConfig:
        """The app's ``ClientConfig``: flags, then the environment, then the file."""
        merged = self._merged()
        given = {key: value for key, value in flags.items() if value}
        for field, flag in _REQUIRED.items():
            if field not in given and not merged.get(FILE_KEYS[field]):
                where = f"pass {flag}, " if flag else ""
                raise Failure(
                    f"No {field.replace('_', ' ')} is configured: {where}set "
                    f"{FILE_KEYS[field]}, or put {field} in {self.config_path}.",
                    ExitCode.USAGE,
                )
        try:
            return ClientConfig.from_env(merged, **given, **overrides)
        except ConfigError as error:
            raise Failure(f"Bad configuration: {error.detail}", ExitCode.USAGE) from None

    def database(self, client_id: str) -> Path:
        """The app's SQLite file (the directory made, owner only, when missing)."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise Failure(
                f"Cannot create the data directory {self.data_dir}: {error.strerror}."
            ) from None
        return self.data_dir / f"{client_id}.sqlite3"

    def databases(self) -> list[Path]:
        """Every app's SQLite file in the data directory."""
        if not self.data_dir.is_dir():
            return []
        return sorted(
            path
            for path in self.data_dir.glob("*.sqlite3")
            if path.stem.isascii() and path.stem.isdigit()
        )
