"""Shared set-up for the ``miroflow`` command's tests: an environment of its own (no MIRO_*
variable, config and data under the test's directory), a simulated Miro whose app's redirect
URI is a free loopback port, and a runner that invokes the real command in-process."""

from __future__ import annotations

import os
import socket
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner, Result
from miroflow_cli import Runtime, cli, default_data_dir
from miroflow_simulator import Simulator
from miroflow_sqlite import SQLiteTokenStore

import miroflow


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No MIRO_* or MIROFLOW_* variable from the developer's shell; the user's config and
    data directories (platformdirs reads XDG_*) under the test's own directory."""
    for name in list(os.environ):
        if name.startswith(("MIRO_", "MIROFLOW_CONFIG", "MIROFLOW_DATA_DIR")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def simulator(free_port: int) -> Simulator:
    """A simulated Miro, in-process, whose one app redirects to 127.0.0.1:<free port>."""
    simulator = Simulator()
    simulator.register_app([f"http://127.0.0.1:{free_port}/callback"])
    return simulator


@pytest.fixture
def runtime(simulator: Simulator) -> Runtime:
    """The command's world: the simulator's transport (no socket) and clock, its app's
    MIRO_* variables, and no real browser."""
    return Runtime(
        clock=simulator.now,
        transport=simulator.transport,
        environ=simulator.environment(),
        open_browser=lambda link: False,
    )


Invoke = Callable[..., Result]


@pytest.fixture
def invoke(runtime: Runtime) -> Invoke:
    """``invoke("tokens", "--json")``: the command, in-process, with stdout and stderr apart."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), obj=runtime, catch_exceptions=False)

    return run


class Browser:
    """Stands in for the person's browser as `miroflow login` opens it (``runtime.open_browser``):
    what it does with the consent link is set per test. Miro's side is the in-process
    simulator; the GET of the callback is real, on loopback, in a thread (the command waits in
    the foreground)."""

    def __init__(self, simulator: Simulator, runtime: Runtime) -> None:
        self.simulator = simulator
        self.links: list[str] = []
        self.pages: list[tuple[int, str]] = []
        self._threads: list[threading.Thread] = []
        self._failures: list[BaseException] = []
        self._visits: list[Callable[[str], str]] = []
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        runtime.open_browser = self._open

    def approving(self) -> Browser:
        """The person clicks "Install & authorize"."""
        self._visits.append(self._approve)
        return self

    def denying(self) -> Browser:
        """The person clicks "Cancel": Miro's redirect carries error=access_denied."""
        self._visits.append(
            lambda link: f"{self._callback()}?error=access_denied&state={state_of(link)}"
        )
        return self

    def stray(self) -> Browser:
        """An old tab's callback first: a state no live flow has."""
        self._visits.append(lambda link: f"{self._callback()}?code=abc&state={'x' * 43}")
        return self

    def _callback(self) -> str:
        (app,) = self.simulator.apps.values()
        return app.redirect_uris[0]

    def _approve(self, link: str) -> str:
        self.simulator.auto_approve()
        redirect = self.simulator.dispatch(miroflow.HttpRequest(method="GET", url=link))
        assert isinstance(redirect, miroflow.HttpResponse) and redirect.status == 302
        location = redirect.header("Location")
        assert location is not None
        return location

    def _open(self, link: str) -> bool:
        self.links.append(link)
        urls = [visit(link) for visit in self._visits]
        thread = threading.Thread(target=self._get_all, args=(urls,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return True

    def _get_all(self, urls: list[str]) -> None:
        for url in urls:
            try:
                with self._opener.open(url, timeout=10) as page:
                    self.pages.append((page.status, page.read().decode()))
            except urllib.error.HTTPError as error:
                self.pages.append((error.code, error.read().decode()))
            except BaseException as error:  # handed to the test by join()
                self._failures.append(error)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)
        assert not self._failures, self._failures


@pytest.fixture
def browser(simulator: Simulator, runtime: Runtime) -> Browser:
    return Browser(simulator, runtime)


def state_of(link: str) -> str:
    return dict(parse_qsl(urlsplit(link).query))["state"]


@pytest.fixture
def signed_in(simulator: Simulator, browser: Browser, invoke: Invoke) -> miroflow.TokenSet:
    """A completed `miroflow login`: the tokens it stored."""
    browser.approving()
    result = invoke("login")
    browser.join()
    assert result.exit_code == 0, result.output
    (app,) = simulator.apps.values()
    return stored_tokens(app.client_id)


def stored_tokens(client_id: str) -> miroflow.TokenSet:
    store = SQLiteTokenStore(path=default_data_dir() / f"{client_id}.sqlite3")
    try:
        (key,) = store.stored_keys()
        stored = store.get(key)
        assert stored is not None
        return stored.tokens
    finally:
        store.close()


@pytest.fixture
def stored() -> Callable[[str], miroflow.TokenSet]:
    """The one token set stored for an app, as the command's SQLite file holds it."""
    return stored_tokens
