"""`miroflow login`: the real flow through the loopback callback server and the SQLite store,
against the simulated Miro (its API in-process, the GET of the callback real, on loopback);
the countdown on an injected clock, without a sleep; and every way a sign-in ends."""

from __future__ import annotations

import io
import re
import socket
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result
from miroflow_cli import CallbackServer, ExitCode, Runtime, default_data_dir
from miroflow_simulator import Simulator
from rich.console import Console

import miroflow

Invoke = Callable[..., Result]


def one_line(result: Result) -> str:
    """The error: one plain line, the last on stderr (after the sign-in's progress notes),
    and no traceback."""
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("miroflow: ")]
    assert errors == lines[-1:], result.stderr
    assert "Traceback" not in result.output
    return errors[0]


def test_login_signs_in_stores_the_tokens_and_prints_user_team_and_scopes(
    simulator: Simulator, browser: Any, invoke: Invoke, stored: Callable[[str], miroflow.TokenSet]
) -> None:
    browser.approving()
    result = invoke("login")
    browser.join()
    assert result.exit_code == ExitCode.OK, result.output
    (app,) = simulator.apps.values()
    tokens = stored(app.client_id)
    assert tokens.user_id == "3458764517517852417"  # Ada, the simulator's first user
    out = result.stdout.splitlines()
    assert out[0] == f"Signed in to Miro: user {tokens.user_id}, team {tokens.team_id}."
    assert out[1] == f"Scopes: {' '.join(tokens.scopes)}"
    assert out[-1] == f"Tokens stored in {default_data_dir() / f'{app.client_id}.sqlite3'}"
    # Miro saw exactly one code exchange; the browser got the signed-in page.
    assert [(e.grant_type, e.status) for e in simulator.token_requests()] == [
        ("authorization_code", 200)
    ]
    ((status, page),) = browser.pages
    assert status == 200 and "Signed in to Miro" in page and tokens.team_id in page
    for secret in (tokens.access_token, tokens.refresh_token, app.client_secret.reveal()):
        assert secret and secret not in result.output
    # The consent link was opened in the browser, not printed.
    assert browser.links and browser.links[0] not in result.output
    assert "Opened Miro's consent page" in result.stderr


def test_a_stray_callback_is_answered_and_the_sign_in_goes_on(browser: Any, invoke: Invoke) -> None:
    browser.stray().approving()
    result = invoke("login")
    browser.join()
    assert result.exit_code == ExitCode.OK, result.output
    (stray_status, _), (status, _) = browser.pages
    assert (stray_status, status) == (400, 200)
    assert "A callback of another sign-in was answered 400" in result.stderr


def test_cancel_on_the_consent_page_exits_5(
    simulator: Simulator, browser: Any, invoke: Invoke
) -> None:
    browser.denying()
    result = invoke("login")
    browser.join()
    assert result.exit_code == ExitCode.DENIED
    assert "Sign-in denied" in one_line(result)
    assert simulator.token_requests() == ()
    ((status, _),) = browser.pages
    assert status == 403


class Ticking:
    """The clock the countdown reads, moved only by the wait between ticks: no sleep."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def receive(self, server: CallbackServer, timeout: float) -> miroflow.Answer | None:
        self.waits.append(timeout)
        self.now += timeout
        return None


@pytest.fixture
def ticking(simulator: Simulator, runtime: Runtime) -> tuple[Ticking, io.StringIO]:
    clock = Ticking(simulator.now())
    screen = io.StringIO()
    runtime.clock = clock
    runtime.receive = clock.receive
    runtime.stderr = Console(file=screen, force_terminal=True, width=100, color_system=None)
    runtime.open_browser = lambda link: True  # the person never comes back
    return clock, screen


def test_the_countdown_follows_the_machine_to_the_deadline_and_exits_4(
    ticking: tuple[Ticking, io.StringIO], invoke: Invoke
) -> None:
    clock, screen = ticking
    result = invoke("login", "--timeout", "4.5")
    assert result.exit_code == ExitCode.EXPIRED, result.output
    assert "Sign-in expired" in result.stderr.strip().splitlines()[-1]
    assert "within 0:05" in result.stderr
    # One draw per tick, each the time left to the machine's deadline, rounded up.
    drawn = re.findall(r"back: (\d+:\d\d) left", screen.getvalue())
    assert drawn == ["0:05", "0:04", "0:03", "0:02", "0:01"]
    # Never past the deadline; at it, one look (no wait) for a callback that claimed in time.
    assert clock.waits == [1.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    assert result.stdout == ""


def test_no_browser_prints_the_consent_link_on_stdout(
    simulator: Simulator, ticking: tuple[Ticking, io.StringIO], runtime: Runtime, invoke: Invoke
) -> None:
    def never(link: str) -> bool:
        raise AssertionError("--no-browser opened a browser")

    runtime.open_browser = never
    result = invoke("login", "--no-browser", "--timeout", "1")
    assert result.exit_code == ExitCode.EXPIRED
    intro, link = result.stdout.splitlines()
    assert intro == "Open this link in a browser to sign in to Miro:"
    assert link.startswith(f"{simulator.base_url}/oauth/authorize?response_type=code&client_id=")


def test_ctrl_c_ends_the_sign_in_with_one_line_and_130(
    simulator: Simulator, runtime: Runtime, invoke: Invoke
) -> None:
    def interrupted(server: CallbackServer, timeout: float) -> miroflow.Answer | None:
        raise KeyboardInterrupt

    runtime.receive = interrupted
    runtime.open_browser = lambda link: True
    result = invoke("login")
    assert result.exit_code == 130 == ExitCode.INTERRUPTED.value
    assert one_line(result) == "miroflow: Sign-in cancelled (Ctrl-C)."


def test_a_port_in_use_fails_before_any_flow_starts(
    simulator: Simulator, free_port: int, invoke: Invoke
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port))
        taken.listen(1)
        result = invoke("login")
    assert result.exit_code == ExitCode.FAILED
    assert f"Cannot listen on 127.0.0.1:{free_port}" in one_line(result)


def test_port_flag_overrides_the_redirect_uris_port(
    runtime: Runtime, invoke: Invoke, free_port: int
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        other = taken.getsockname()[1]
        taken.listen(1)
        result = invoke("login", "--port", str(other))
    assert f"127.0.0.1:{other}" in one_line(result)


def test_login_needs_a_loopback_http_redirect_uri(invoke: Invoke) -> None:
    result = invoke("login", "--redirect-uri", "https://app.example.com/callback")
    assert result.exit_code == ExitCode.USAGE
    assert "must be http on 127.0.0.1 or localhost" in one_line(result)
