"""miroflow-cli: the ``miroflow`` command.

``miroflow login`` signs a person in to Miro from a terminal (consent in the browser, the
callback on 127.0.0.1, a live countdown to the flow's deadline) and keeps the tokens in the
SQLite store under the user's data directory; ``tokens``, ``token``, ``refresh``, ``revoke``
and ``whoami`` manage them; ``demo`` runs the whole lifecycle against a simulated Miro;
``spec`` prints the transition tables.

Why these libraries:

* **click** for the command line: options, environment fallbacks, ``--help`` on every
  command, and a test runner (``CliRunner``) that invokes commands in-process. Hand-rolled
  argparse would need all of that written again; typer sits on click and adds a typing layer
  this small command does not need.
* **rich** for the countdown: a live line redrawn in place on a terminal and silent off one,
  without terminal code of our own; and tables for ``tokens`` and ``spec``.
* **platformdirs** for the user's data and config directories on every OS.

The command is the app: it runs ``miroflow.Client`` on ``miroflow_sqlite`` and
``miroflow_urllib`` exactly as a web app would, and adds no protocol logic of its own.
"""

from ._cli import Runtime, cli, main
from ._demo import run_demo
from ._exit import ExitCode, Failure
from ._login import clock_text, sign_in
from ._server import CallbackServer
from ._settings import default_config_path, default_data_dir

__all__ = [
    "CallbackServer",
    "ExitCode",
    "Failure",
    "Runtime",
    "cli",
    "clock_text",
    "default_config_path",
    "default_data_dir",
    "main",
    "run_demo",
    "sign_in",
]
