"""A person's flow in a real browser: headless Chromium opens a tiny app's /login, lands on
the simulator's consent page (served on loopback), clicks "Install & authorize", and comes
back signed in. The app uses miroflow's Client with SQLite stores and the urllib transport,
talking to the simulator over real sockets: nothing in the chain is in-process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from miroflow_simulator import LoopbackServer, Simulator
from miroflow_sqlite import SQLiteFlowStore, SQLiteTokenStore
from miroflow_urllib import UrllibTransport

import miroflow

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "Debian's chromium is not installed (make test installs it where it can)."
        if os.environ.get("MIROFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail(f"MIROFLOW_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    return path


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
        reason = "Found" if answer.status == 302 else "Error"
        start_response(f"{answer.status} {reason}", list(answer.headers))
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
                    flows=SQLiteFlowStore(database),
                    tokens=SQLiteTokenStore(database),
                    transport=UrllibTransport(),
                    clock=time.time,
                    entropy=os.urandom,
                )
            )
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield app_url, apps[0]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def page() -> Iterator[Any]:
    """A fresh page in headless Debian chromium, driven by Playwright."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


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
