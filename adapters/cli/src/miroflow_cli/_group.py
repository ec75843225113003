"""Where every error of the command ends: one plain line on stderr and a documented exit code
(``ExitCode``), never a traceback, never a secret; and the log, shown only when asked for."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from miroflow import MiroflowError, SignInRequired, UsageError

from ._exit import ExitCode, Failure

__all__ = ["Group", "configure_logging"]

_LOG_HANDLER = "miroflow-cli"


def configure_logging(verbose: bool) -> None:
    """The client logs every failure on the ``miroflow`` logger; the command reports it
    itself, in one line, so the log is shown only when asked for (never a secret in it)."""
    logger = logging.getLogger("miroflow")
    for old in [h for h in logger.handlers if h.name == _LOG_HANDLER]:
        logger.removeHandler(old)
    handler: logging.Handler = logging.NullHandler()
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("miroflow log: %(message)s"))
        logger.setLevel(logging.INFO)
    handler.name = _LOG_HANDLER
    logger.addHandler(handler)


class Group(click.Group):
    """Runs a command and ends every error the same way: one plain line on stderr, the
    documented exit code, never a traceback (``ExitCode``)."""

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> int:
        try:
            result = super().main(
                args, prog_name or "miroflow", complete_var, standalone_mode=False, **extra
            )
            code = result if isinstance(result, int) else ExitCode.OK
        except BaseException as error:
            if isinstance(error, SystemExit):
                raise
            code = _report(error)
        if standalone_mode:
            sys.exit(int(code))
        return int(code)


def _report(error: BaseException) -> int:
    """The error as one line on stderr; its exit code."""
    code: int
    if isinstance(error, click.exceptions.UsageError) and _is_bare_group(error):
        click.echo(error.ctx.get_help() if error.ctx else "", err=True)
        return ExitCode.USAGE
    if isinstance(error, Failure):
        message, code = error.message, error.code
    elif isinstance(error, click.exceptions.UsageError):
        where = error.ctx.command_path if error.ctx else "miroflow"
        text = error.format_message().rstrip(".")
        message, code = f"{text} (see `{where} --help`).", ExitCode.USAGE
    elif isinstance(error, click.ClickException):
        message, code = error.format_message(), error.exit_code
    elif isinstance(error, (click.exceptions.Abort, KeyboardInterrupt)):
        message, code = "Interrupted.", ExitCode.INTERRUPTED
    elif isinstance(error, SignInRequired):
        message = f"Sign-in required: {error.detail} Run `miroflow login`."
        code = ExitCode.SIGN_IN_REQUIRED
    elif isinstance(error, UsageError):
        message, code = error.detail, ExitCode.USAGE
    elif isinstance(error, MiroflowError):
        message, code = error.detail, ExitCode.FAILED
    elif isinstance(error, OSError):
        message, code = f"{error.strerror or type(error).__name__}", ExitCode.FAILED
        if error.filename:
            message += f": {error.filename}"
    else:
        # Its text may hold anything; the kind of error is all that is safe to print.
        message = f"unexpected {type(error).__name__}; please report it (no traceback shown)."
        code = ExitCode.FAILED
    click.echo(f"miroflow: {' '.join(message.split())}", err=True)
    return code


def _is_bare_group(error: click.exceptions.UsageError) -> bool:
    """``miroflow`` alone (click's no-args-is-help): the help, not an error line."""
    return type(error).__name__ == "NoArgsIsHelpError"
