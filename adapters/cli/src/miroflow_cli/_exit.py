"""Exit codes scripts can rely on, and the one way a command fails: ``Failure``.

Every error reaches the terminal as one plain line on stderr (``miroflow: ...``), never a
traceback and never a secret: miroflow's errors carry no secret in their texts, and the
command's own messages are built from non-secret facts only.
"""

from __future__ import annotations

import enum

__all__ = ["ExitCode", "Failure"]


class ExitCode(enum.IntEnum):
    """What ``miroflow`` exits with. Documented in the package's README; stable."""

    #: Done.
    OK = 0
    #: Miro, the network or the store failed, or Miro rejected a request.
    FAILED = 1
    #: Bad flags or configuration (click's own usage errors exit 2 as well).
    USAGE = 2
    #: No tokens for that user and team, or they are dead (the refresh was rejected): run
    #: ``miroflow login``.
    SIGN_IN_REQUIRED = 3
    #: The sign-in's deadline passed before Miro sent the browser back.
    EXPIRED = 4
    #: The person cancelled on Miro's consent page.
    DENIED = 5
    #: Ctrl-C (128 + SIGINT, as shells report it).
    INTERRUPTED = 130


class Failure(Exception):
    """Ends a command with ``message`` (one plain line, no secret) and ``code``."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())  # one line, whatever it was built from
        self.code = code
