"""A person's flow in a real browser: headless Chromium opens a tiny app's /login, lands on
the simulator's consent page (served on loopback), clicks "Install & authorize", and comes
back signed in. The app uses miroflow's Client with SQLite stores and the urllib transport,
talking to the simulator over real sockets: nothing in the chain is in-process.

Chromium is Debian's, driven by Playwright (never a downloaded browser). Without either, the
tests skip with the reason, or fail under MIROFLOW_REQUIRE_SERVICES=1 (as in CI)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from miroflow_simulator import LoopbackServer, Simulator
from miroflow_sqlite import SQLiteFlowStore, SQLiteTokenStore
from miroflow_urllib import UrllibTransport

import miroflow


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class App:
    """The smallest web app that signs a user in with miroflow (WSGI, stdlib only)."""

    def __init__(self, client: miroflow.Client) -> None:
        self.client = client
        self.signed_in: list[miroflow.TokenSet] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        cookies = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        morsel = cookies.get(self.client.cookie_name)
        binding = morsel.value if morsel else None
        path = environ["PATH_INFO"]
        if path == "/login":
            answer = self.client.start(binding_cookie=binding, return_path="/boards")
        elif path == "/callback":
            answer = self.client.handle_callback(
                environ.get("QUERY_STRING", ""), binding_cookie=binding
            )
            if answer.tokens is not None:
                self.signed_in.append(answer.tokens)
        elif path == "/boards" and self.signed_in:
            tokens = self.signed_in[-1]
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [
                f"<h1>Signed in</h1><p>user {tokens.user_id}, team {tokens.team_id}</p>".encode()
            ]
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", answer.headers)
        return [answer.body.encode()]


@contextmanager
def serving_app(
    tmp_path: Path, configure: Callable[[str], miroflow.ClientConfig]
) -> Iterator[tuple[str, App]]:
    """The app on a free loopback port; ``configure`` gets its URL (the redirect URI's base)
    before the app exists, since the simulator must register that URI first."""
    apps: list[App] = []
    server = make_server("127.0.0.1", 0, lambda e, s: apps[0](e, s), handler_class=_Quiet)
    app_url = f"http://127.0.0.1:{server.server_port}"
    try:
        database = tmp_path / "app.sqlite3"
        apps.append(
            App(
                miroflow.Client(
                    configure(app_url),
                    flows=SQLiteFlowStore(path=database),
                    tokens=SQLiteTokenStore(path=database),
                    transport=UrllibTransport(),
                )
            )
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield app_url, apps[0]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def app_and_simulator(tmp_path: Path) -> Iterator[tuple[str, App, Simulator]]:
    with LoopbackServer(Simulator()) as miro:
        simulator = miro.simulator

        def configure(app_url: str) -> miroflow.ClientConfig:
            return simulator.client_config(simulator.register_app([f"{app_url}/callback"]))

        with serving_app(tmp_path, configure) as (app_url, app):
            yield app_url, app, simulator


def test_a_person_signs_in_through_the_consent_page(
    app_and_simulator: tuple[str, App, Simulator], page: Any
) -> None:
    app_url, app, simulator = app_and_simulator
    page.goto(f"{app_url}/login")
    assert page.url.startswith(f"{simulator.base_url}/oauth/authorize?")
    page.get_by_role("button", name="Install & authorize").click()
    page.wait_for_url(f"{app_url}/boards")
    assert page.locator("h1").inner_text() == "Signed in"
    (tokens,) = app.signed_in
    assert f"team {tokens.team_id}" in page.locator("p").inner_text()
    assert len(simulator.token_requests("authorization_code")) == 1


def test_cancel_on_the_consent_page_answers_a_plain_403(
    app_and_simulator: tuple[str, App, Simulator], page: Any
) -> None:
    app_url, app, simulator = app_and_simulator
    page.goto(f"{app_url}/login")
    with page.expect_response(lambda r: "/callback" in r.url) as response_info:
        page.get_by_role("button", name="Cancel").click()
    assert response_info.value.status == 403
    assert "cancelled on Miro's consent page" in page.content()
    assert app.signed_in == []
    assert simulator.token_requests() == ()


def _error_page(response: Any) -> str:
    """The body of a plain-text error page (asserting that it is one)."""
    assert response.status == 400
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    text: str = response.text()
    return text


def test_another_browser_at_the_callback_gets_an_error_and_the_owner_still_signs_in(
    app_and_simulator: tuple[str, App, Simulator], chromium: Any, page: Any
) -> None:
    app_url, app, simulator = app_and_simulator
    # Miro sends the first browser to the callback, but the browser does not get there yet
    # (Playwright cannot route a redirect's target, so Miro's 302 itself is held): meanwhile
    # the callback URL, state and code included, reaches another browser.
    sent_to: list[str] = []

    def hold_miros_redirect(route: Any) -> None:
        redirect = route.fetch(max_redirects=0)
        assert redirect.status == 302
        sent_to.append(redirect.headers["location"])
        route.fulfill(status=200, content_type="text/plain", body="held")

    consent_decision = f"{simulator.base_url}/oauth/authorize"
    page.route(consent_decision, hold_miros_redirect)
    page.goto(f"{app_url}/login")
    page.get_by_role("button", name="Install & authorize").click()
    page.wait_for_url(consent_decision)
    (callback_url,) = sent_to
    assert callback_url.startswith(f"{app_url}/callback?")

    other = chromium.new_context().new_page()
    # With no cookie at all, then with a binding of its own from a sign-in it started.
    missing = _error_page(other.goto(callback_url))
    assert "sign-in cookie did not come back" in missing
    other.goto(f"{app_url}/login")
    assert other.context.cookies(app_url), "the other browser's own sign-in set no cookie"
    mismatch = _error_page(other.goto(callback_url))
    assert "started in another browser" in mismatch
    assert app.signed_in == []
    assert simulator.token_requests() == ()

    # The state was not burned: the browser that started the sign-in finishes it.
    page.goto(callback_url)
    page.wait_for_url(f"{app_url}/boards")
    assert page.locator("h1").inner_text() == "Signed in"
    assert len(app.signed_in) == 1
    assert [e.status for e in simulator.token_requests("authorization_code")] == [200]


@pytest.fixture
def command_and_app(tmp_path: Path) -> Iterator[tuple[str, App, str]]:
    """The real `miroflow-simulator` command on a free loopback port, and the app."""
    printed: dict[str, str] = {}
    processes: list[subprocess.Popen[str]] = []

    def configure(app_url: str) -> miroflow.ClientConfig:
        command = [
            str(Path(sys.executable).with_name("miroflow-simulator")),
            "--port",
            "0",
            "--redirect-uri",
            f"{app_url}/callback",
        ]
        processes.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
        printed.update(_read_banner(processes[0]))
        return miroflow.ClientConfig.from_env(
            printed,
            authorize_endpoint=printed["authorize endpoint"],
            token_endpoint=printed["token endpoint"],
            revoke_endpoint=printed["revoke endpoint"],
            token_context_endpoint=printed["token context endpoint"],
        )

    try:
        with serving_app(tmp_path, configure) as (app_url, app):
            yield app_url, app, printed["base_url"]
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _read_banner(process: subprocess.Popen[str]) -> dict[str, str]:
    """What the command prints before serving: the client's values and the endpoints."""
    assert process.stdout is not None
    printed: dict[str, str] = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # bounded; readline returns "" if the process died
        line = process.stdout.readline().strip()
        if not line and process.poll() is not None:
            break
        if line.startswith("miroflow simulator serving on "):
            printed["base_url"] = line.split()[-1]
        elif line.startswith("MIRO_"):
            name, _, value = line.partition("=")
            printed[name] = value
        elif ": " in line:
            label, _, value = line.partition(": ")
            printed[label.strip()] = value.strip()
        elif line.startswith("Press Ctrl+C"):
            return printed
    raise AssertionError(f"miroflow-simulator did not start: {process.stderr}")


def test_a_person_completes_a_flow_served_by_the_command(
    command_and_app: tuple[str, App, str], page: Any
) -> None:
    app_url, app, miro_url = command_and_app
    page.goto(f"{app_url}/login")
    assert page.url.startswith(f"{miro_url}/oauth/authorize?")
    page.get_by_label("Install into team").focus()  # reachable with the keyboard
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # "Install & authorize" is next in tab order
    page.wait_for_url(f"{app_url}/boards")
    assert page.locator("h1").inner_text() == "Signed in"
    log = page.request.get(f"{miro_url}/_simulator/log").json()
    assert len(app.signed_in) == 1
    exchanges = [entry for entry in log["requests"] if entry["grant_type"] == "authorization_code"]
    assert [entry["status"] for entry in exchanges] == [200]
