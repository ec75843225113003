"""The ``miroflow`` command's click group: options, commands, and the one place errors end.

Every command reads the app's configuration from flags, then ``MIRO_*`` variables, then the
config file (``_settings``), and runs the real client (``miroflow.Client`` on the SQLite stores
and the urllib transport). What a command needs from the world (the clock, the browser, the
transport, the stderr console) comes from a ``Runtime`` in click's ``obj``, so tests can hand
in others (an injected clock for the countdown) without patching.
"""

from __future__ import annotations

import json
import sys
import time
import webbrowser
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
from miroflow_sqlite import SQLiteFlowStore, SQLiteTokenStore
from rich.console import Console

from miroflow import (
    Answer,
    Client,
    ClientConfig,
    Clock,
    TokenKey,
    Transport,
    __version__,
)

from ._display import signed_in_lines, token_row, token_table
from ._exit import ExitCode, Failure
from ._group import Group, configure_logging
from ._login import Receive, RichCountdown, clock_text, sign_in
from ._server import CallbackServer
from ._settings import Settings
from ._spec import MACHINES, spec_documents, spec_tables, write_mermaid

__all__ = ["Runtime", "cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])
_LOOPBACK = frozenset({"127.0.0.1", "localhost"})


def _receive(server: CallbackServer, timeout: float) -> Answer | None:
    return server.next_answer(timeout)


@dataclass
class Runtime:
    """What the commands take from the world; tests pass their own through ``obj``."""

    clock: Clock = time.time
    open_browser: Callable[[str], bool] = webbrowser.open
    receive: Receive = _receive
    #: None: ``miroflow_urllib.UrllibTransport()``.
    transport: Transport | None = None
    #: None: the process environment.
    environ: Mapping[str, str] | None = None
    stderr: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))


@dataclass
class _State:
    runtime: Runtime
    settings: Settings


def _state() -> _State:
    state = click.get_current_context().find_object(_State)
    assert state is not None
    return state


def _say(text: str = "") -> None:
    click.echo(text)


def _console() -> Console:
    """Rich output on stdout: as wide as the terminal, or wide enough for IDs in a pipe."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _note(text: str) -> None:
    """A line for the person at the terminal, on stderr: stdout stays for results."""
    click.echo(text, err=True)


def _app_options(function: F) -> F:
    function = click.option(
        "--redirect-uri",
        metavar="URI",
        help="The app's redirect URI, exactly as registered on Miro [MIRO_REDIRECT_URL].",
    )(function)
    return click.option(
        "--client-id", metavar="ID", help="The Miro app's client ID [MIRO_CLIENT_ID]."
    )(function)


def _key_options(function: F) -> F:
    function = click.option(
        "--team", "team_id", metavar="ID", help="The team (needed if several are stored)."
    )(function)
    return click.option(
        "--user", "user_id", metavar="ID", help="The Miro user (needed if several are stored)."
    )(function)


def _config(client_id: str | None, redirect_uri: str | None, **overrides: Any) -> ClientConfig:
    flags = {"client_id": client_id, "redirect_uri": redirect_uri}
    return _state().settings.client_config(flags, **overrides)


@contextmanager
def _client(config: ClientConfig, **options: Any) -> Iterator[Client]:
    """The client on the app's SQLite file and the urllib transport; the file closed after."""
    from miroflow_urllib import UrllibTransport

    state = _state()
    database = state.settings.database(config.client_id)
    flows, tokens = SQLiteFlowStore(path=database), SQLiteTokenStore(path=database)
    try:
        yield Client(
            config,
            flows=flows,
            tokens=tokens,
            transport=state.runtime.transport or UrllibTransport(),
            clock=state.runtime.clock,
            **options,
        )
    finally:
        flows.close()
        tokens.close()


def _pick(client: Client, user_id: str | None, team_id: str | None) -> TokenKey:
    """The token set a command acts on: the one named, or the only one stored for the app."""
    app = client.config.client_id
    if user_id and team_id:
        return TokenKey(client_id=app, user_id=user_id, team_id=team_id)
    store = client.tokens
    assert isinstance(store, SQLiteTokenStore)  # as _client makes it
    keys = [
        key
        for key in store.stored_keys()
        if key.client_id == app
        and user_id in (None, key.user_id)
        and team_id in (None, key.team_id)
    ]
    if not keys:
        raise Failure(
            f"No tokens are stored for app {app}{_whose(user_id, team_id)}: run `miroflow login`.",
            ExitCode.SIGN_IN_REQUIRED,
        )
    if len(keys) > 1:
        raise Failure(
            f"{len(keys)} token sets are stored for app {app}{_whose(user_id, team_id)}: pick "
            "one with --user and --team (see `miroflow tokens`).",
            ExitCode.USAGE,
        )
    key: TokenKey = keys[0]
    return key


def _whose(user_id: str | None, team_id: str | None) -> str:
    parts = [f"user {user_id}" if user_id else "", f"team {team_id}" if team_id else ""]
    named = " and ".join(part for part in parts if part)
    return f" and {named}" if named else ""


@click.group(
    "miroflow",
    cls=Group,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="miroflow")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MIROFLOW_CONFIG",
    help="A TOML file of app settings [MIROFLOW_CONFIG; default: config.toml in the user's "
    "config directory].",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="MIROFLOW_DATA_DIR",
    help="Where the SQLite token files live [MIROFLOW_DATA_DIR; default: the user's data "
    "directory for miroflow].",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show miroflow's log (failures with the operator's detail).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, data_dir: Path | None, verbose: bool) -> None:
    """Sign in to Miro from a terminal, keep the tokens, and watch the OAuth flow run.

    The app's settings come from flags, then the MIRO_* environment variables
    (MIRO_CLIENT_ID, MIRO_CLIENT_SECRET, MIRO_REDIRECT_URL, MIRO_*_URL), then the config file.

    Exit codes: 0 done; 1 failed (Miro, network or store); 2 usage or configuration;
    3 sign-in required; 4 sign-in expired; 5 sign-in denied; 130 interrupted.
    """
    configure_logging(verbose)
    runtime = ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()
    ctx.obj = _State(runtime, Settings.make(config_path, data_dir, runtime.environ))


@cli.command()
@_app_options
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Listen here instead of the redirect URI's port."
)
@click.option("--no-browser", is_flag=True, help="Print the consent link instead of opening it.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1, max=24 * 3600),
    metavar="SECONDS",
    help="How long the sign-in may take (the flow's lifetime; default 900).",
)
def login(
    client_id: str | None,
    redirect_uri: str | None,
    port: int | None,
    no_browser: bool,
    timeout: float | None,
) -> None:
    """Sign in: Miro's consent page in a browser, the callback on 127.0.0.1, tokens stored.

    The redirect URI must be http on 127.0.0.1 or localhost (registered as such on Miro);
    the callback is served on its port (or --port). A live countdown shows the time left;
    Ctrl-C cancels.
    """
    overrides = {} if timeout is None else {"flow_lifetime": timeout}
    config = _config(client_id, redirect_uri, **overrides)
    parts = urlsplit(config.redirect_uri)
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK:
        raise Failure(
            f"`miroflow login` receives Miro's callback on this machine: the redirect URI must "
            f"be http on 127.0.0.1 or localhost (such as http://127.0.0.1:8765/callback, "
            f"registered on Miro), not {config.redirect_uri}.",
            ExitCode.USAGE,
        )
    listen = port or parts.port or 80
    try:
        server = CallbackServer(listen, parts.path)
    except OSError as error:
        raise Failure(
            f"Cannot listen on 127.0.0.1:{listen} ({error.strerror}): is another sign-in "
            "running? Free the port, or pass --port.",
        ) from None
    state = _state()
    runtime = state.runtime

    def open_link(link: str) -> None:
        if no_browser or not runtime.open_browser(link):
            _say("Open this link in a browser to sign in to Miro:")
            _say(link)
        else:
            _note("Opened Miro's consent page in your browser.")
        deadline = runtime.clock() + config.flow_lifetime
        _note(
            f"Waiting for Miro's callback on http://127.0.0.1:{listen}{parts.path} until "
            f"{time.strftime('%H:%M:%S', time.localtime(deadline))} "
            f"({clock_text(config.flow_lifetime)}). Ctrl-C cancels."
        )
        sys.stdout.flush()

    def stray(answer: Answer) -> None:
        _note(f"A callback of another sign-in was answered {answer.status}: {answer.message}")

    with server, _client(config) as client:
        tokens = sign_in(
            client,
            server,
            open_link=open_link,
            countdown=RichCountdown(runtime.stderr),
            clock=runtime.clock,
            receive=runtime.receive,
            on_stray=stray,
        )
        for line in signed_in_lines(tokens, runtime.clock()):
            _say(line)
        _say(f"Tokens stored in {state.settings.database(config.client_id)}")


@cli.command()
@click.option("--client-id", metavar="ID", help="Only this app's [MIRO_CLIENT_ID].")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
def tokens(client_id: str | None, as_json: bool) -> None:
    """List the stored token sets, redacted: who, which team, scopes, expiry. Never a token."""
    state = _state()
    app = state.settings.client_id(client_id)
    if app is not None and not (app.isascii() and app.isdigit()):
        raise Failure(f"The client ID must be decimal digits, got {app!r}.", ExitCode.USAGE)
    files = [state.settings.data_dir / f"{app}.sqlite3"] if app else state.settings.databases()
    rows = []
    for path in files:
        if not path.exists():
            continue
        store = SQLiteTokenStore(path=path)
        try:
            for key in store.stored_keys():
                stored = store.get(key)
                if stored is not None and (app is None or key.client_id == app):
                    rows.append(stored)
        finally:
            store.close()
    now = state.runtime.clock()
    if as_json:
        _say(json.dumps([token_row(stored, now) for stored in rows], indent=2))
    elif not rows:
        _say(f"No tokens stored in {state.settings.data_dir}. Sign in with `miroflow login`.")
    else:
        _console().print(token_table(rows, now))


@cli.command()
@_app_options
@_key_options
def token(
    client_id: str | None, redirect_uri: str | None, user_id: str | None, team_id: str | None
) -> None:
    """Print a valid access token (refreshed first if due), for scripts: $(miroflow token)."""
    with _client(_config(client_id, redirect_uri)) as client:
        key = _pick(client, user_id, team_id)
        _say(client.access_token(key.user_id, key.team_id))


@cli.command()
@_app_options
@_key_options
def refresh(
    client_id: str | None, redirect_uri: str | None, user_id: str | None, team_id: str | None
) -> None:
    """Refresh the tokens now (Miro rotates both; the old pair dies at once)."""
    with _client(_config(client_id, redirect_uri)) as client:
        key = _pick(client, user_id, team_id)
        tokens = client.refresh(key.user_id, key.team_id)
        _say(f"Refreshed: user {tokens.user_id}, team {tokens.team_id}.")
        _say(signed_in_lines(tokens, _state().runtime.clock())[2])


@cli.command()
@_app_options
@_key_options
def revoke(
    client_id: str | None, redirect_uri: str | None, user_id: str | None, team_id: str | None
) -> None:
    """Revoke the tokens at Miro and forget them (the app stays installed)."""
    with _client(_config(client_id, redirect_uri)) as client:
        key = _pick(client, user_id, team_id)
        client.revoke(key.user_id, key.team_id)
        _say(f"Revoked at Miro and forgotten: user {key.user_id}, team {key.team_id}.")


@cli.command()
@_app_options
@_key_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
def whoami(
    client_id: str | None,
    redirect_uri: str | None,
    user_id: str | None,
    team_id: str | None,
    as_json: bool,
) -> None:
    """Ask Miro who the stored token belongs to (its token context)."""
    import attrs

    with _client(_config(client_id, redirect_uri)) as client:
        key = _pick(client, user_id, team_id)
        context = client.token_context(key.user_id, key.team_id)
    if as_json:
        _say(json.dumps(attrs.asdict(context), indent=2))
        return
    for label, entity in (
        ("User", context.user),
        ("Team", context.team),
        ("Organization", context.organization),
        ("Installed by", context.created_by),
    ):
        _say(f"{label + ':':<14}{entity.name or '(no name)'} ({entity.id})")
    _say(f"{'Scopes:':<14}{' '.join(context.scopes) or '(none)'}")
    _say(f"{'Token type:':<14}{context.type}")


@cli.command()
def demo() -> None:
    """The whole lifecycle against a simulated Miro, in a few seconds: sign-in through the
    loopback callback server and SQLite, then refresh, token context and revoke, printing
    every transition of both machines. No network, no configuration."""
    from ._demo import run_demo

    run_demo(_say)


@cli.command()
@click.argument("machines", nargs=-1, type=click.Choice(list(MACHINES)))
@click.option("--json", "as_json", is_flag=True, help="The JSON documents kept in specs/.")
@click.option(
    "--mermaid",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write each machine's Mermaid state diagram to DIR/<machine>.mmd.",
)
def spec(machines: tuple[str, ...], as_json: bool, mermaid: Path | None) -> None:
    """Print the transition tables (all machines, or those named), or write the diagrams."""
    names = list(machines) or list(MACHINES)
    if mermaid is not None:
        for path in write_mermaid(names, mermaid):
            _say(f"wrote {path}")
    elif as_json:
        _say(spec_documents(names))
    else:
        console = _console()
        for table in spec_tables(names):
            console.print(table)


def main(argv: list[str] | None = None) -> int:
    """The console script."""
    return cli.main(argv, prog_name="miroflow", standalone_mode=True)
