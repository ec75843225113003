"""``miroflow demo``: the whole lifecycle against a simulated Miro, in a few seconds.

Nothing is configured and nothing leaves the machine: a simulated Miro (``miroflow-simulator``)
serves its consent and API hosts on loopback ports, with consent approved automatically; the
app is this command's own ``login``: the same loopback callback server, the same SQLite stores
(in a new temporary directory), the urllib transport over real sockets. A small "browser"
follows the consent link the way a browser does. Then, an hour later on the simulator's clock
(the client shares it), asking for a token refreshes it; the token context says who it is;
revoking ends it; and asking again says the user must sign in.

Every line is read from what happened: the transitions of both machines as the client reports
them (``on_transition``), the stores' contents, and the requests the simulator logged. The
demo fails (exit 1) unless they are what the lifecycle must produce.
"""

from __future__ import annotations

import tempfile
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from miroflow_simulator import LoopbackServer, Simulator
from miroflow_sqlite import SQLiteFlowStore, SQLiteTokenStore
from miroflow_urllib import UrllibTransport

from miroflow import Client, SignInRequired, TokenSet, Transition

from ._display import REDACTED, describe_lifetime, signed_in_lines, transition_line
from ._exit import Failure
from ._login import NoCountdown, sign_in
from ._server import CallbackServer

__all__ = ["run_demo"]

CALLBACK_PATH = "/callback"
#: How far the demo moves the clock after sign-in: to a minute before the access token's
#: expiry (Miro's tokens live an hour), inside the client's refresh margin.
LATER = 3600.0 - 60.0

Echo = Callable[[str], None]


class _Browser:
    """Opens a link as a browser would, in a thread: follows Miro's redirect back to the
    callback server. No proxy: everything is on loopback."""

    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._thread: threading.Thread | None = None
        self.status: int | None = None
        self.failure: str | None = None

    def open(self, link: str) -> None:
        self._thread = threading.Thread(target=self._visit, args=(link,), daemon=True)
        self._thread.start()

    def _visit(self, link: str) -> None:
        try:
            with self._opener.open(link, timeout=10) as page:
                self.status = page.status
        except OSError as error:  # urllib's HTTPError and URLError are OSErrors
            self.failure = type(error).__name__

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=15)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(f"The demo went wrong: {message}")


def run_demo(
    echo: Echo, *, simulator: Simulator | None = None, data_dir: Path | None = None
) -> None:
    """Run the demo, printing with ``echo``; a ``Failure`` if anything went otherwise."""
    simulator = simulator or Simulator()
    # Left in place afterwards, so that the database can be looked at.
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="miroflow-demo-"))
    database = data_dir / "miroflow.sqlite3"
    with LoopbackServer(simulator), CallbackServer(0, CALLBACK_PATH) as callback:
        redirect_uri = f"http://127.0.0.1:{callback.port}{CALLBACK_PATH}"
        app = simulator.register_app([redirect_uri], name="miroflow demo")
        simulator.auto_approve()
        flows, tokens = SQLiteFlowStore(path=database), SQLiteTokenStore(path=database)
        try:
            client = Client(
                simulator.client_config(app),
                flows=flows,
                tokens=tokens,
                transport=UrllibTransport(),
                clock=simulator.now,  # the app and the simulated Miro share one clock
                on_transition=lambda transition: _show(echo, transition),
            )
            _lifecycle(echo, simulator, client, callback, database)
        finally:
            flows.close()
            tokens.close()


def _show(echo: Echo, transition: Transition) -> None:
    echo(transition_line(transition))


def _lifecycle(
    echo: Echo, simulator: Simulator, client: Client, callback: CallbackServer, database: Path
) -> None:
    config = client.config
    echo(f"Simulated Miro: consent on {simulator.base_url}, API on {simulator.api_url}")
    echo(f"App {config.client_id}, redirect URI {config.redirect_uri}, stores: SQLite {database}")

    echo("\n1. Sign in: the app starts a flow; the browser approves on Miro and comes back.")
    browser = _Browser()
    signed_in = sign_in(
        client, callback, open_link=browser.open, countdown=NoCountdown(), clock=simulator.now
    )
    browser.join()
    _check(browser.status == 200, f"the browser's sign-in ended with {browser.failure}")
    for line in signed_in_lines(signed_in, simulator.now()):
        echo(f"   {line}")
    user, team = signed_in.user_id, signed_in.team_id
    stored = client.tokens.get(signed_in.key)
    _check(stored is not None and stored.tokens == signed_in, "the tokens were not stored")
    assert stored is not None
    echo(f"   Stored in SQLite, version {stored.version}; access token {REDACTED}")

    echo(f"\n2. {LATER / 60:.0f} minutes later, the app asks for a token: it is due, so refreshed.")
    simulator.advance(LATER)
    before = client.stored_tokens(user, team)
    assert before is not None
    echo(f"   Before: access token {describe_lifetime(before, simulator.now())}")
    client.access_token(user, team)
    after = client.stored_tokens(user, team)
    _check(after is not None and after.access_token != before.access_token, "no new token")
    assert after is not None
    echo(f"   After:  access token {describe_lifetime(after, simulator.now())} (rotated)")

    echo("\n3. Who is it? Miro's token context for the new access token:")
    context = client.token_context(user, team)
    echo(
        f"   user {context.user.id} ({context.user.name or 'no name'}), team {context.team.id}"
        f" ({context.team.name or 'no name'}), scopes {' '.join(context.scopes)}"
    )

    echo("\n4. Sign out: revoke at Miro, and forget the tokens.")
    client.revoke(user, team)
    _check(client.stored_tokens(user, team) is None, "the revoked tokens are still stored")
    echo("   Stored tokens: none")

    echo("\n5. The app asks for a token again:")
    try:
        client.access_token(user, team)
    except SignInRequired as error:
        echo(f"   Sign-in required: send the user to {error.login_url}")
    else:
        _check(False, "a token came back after the revoke")

    _summary(echo, simulator, signed_in)


def _summary(echo: Echo, simulator: Simulator, signed_in: TokenSet) -> None:
    seen = [(entry.endpoint, entry.grant_type, entry.status) for entry in simulator.log]
    described = ", ".join(
        f"{grant or endpoint} answered {status}" for endpoint, grant, status in seen
    )
    echo(f"\nRequests Miro saw: {len(seen)} ({described})")
    expected = [
        ("token", "authorization_code", 200),
        ("token", "refresh_token", 200),
        ("token_context", None, 200),
        ("revoke", None, 204),
    ]
    _check(seen == expected, f"Miro saw {described or 'nothing'}; the lifecycle makes {expected}")
    host = urlsplit(simulator.base_url).hostname
    _check(host == "127.0.0.1", "the simulated Miro was not on loopback")
    echo(f"Done: user {signed_in.user_id} signed in, refreshed, looked up, revoked.")
