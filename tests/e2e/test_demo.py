"""`make demo` runs a whole flow on the embedded defaults and ends in consumed, and what it
prints is what happened: the transitions the client reported, the cookie the app set, the
parameters Miro's redirect carried, and the token requests the simulator saw."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from miroflow_simulator import Simulator

import miroflow

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"

TRANSITION = re.compile(
    r"^\s+(?P<before>\S+) -(?P<input>\w+)-> (?P<after>\w+)"
    r"(?: \[(?P<effects>[^\]]*)\])?(?: reply (?P<reply>\d+))?$"
)
COOKIE = re.compile(
    r"Set-Cookie (?P<name>[^=\s]+)=(?P<value>\S*) with HttpOnly: (?P<http_only>yes|no), "
    r"SameSite: (?P<same_site>\w+), Secure: (?P<secure>yes|no), Max-Age: (?P<max_age>\d+), "
    r"Path: (?P<path>\S+)$"
)
CALLBACK = re.compile(r"Miro redirects to (?P<url>\S+)$")
TOKEN_REQUESTS = re.compile(r"^Token requests Miro saw: (?P<count>\d+) ")

#: The whole flow, step by step: (before, input, after, effects, reply status).
FLOW = [
    ("(none)", "FlowStarted", "pending", "", None),
    ("pending", "UserRedirected", "redirected", "SaveFlow", "302"),
    ("redirected", "CallbackReceived", "code_received", "SendTokenRequest", None),
    ("code_received", "TokenResponseReceived", "consumed", "StoreTokens", "303"),
]


def _load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("miroflow_demo", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    return _load_demo()


def _one(pattern: re.Pattern[str], text: str) -> re.Match[str]:
    matches = [m for line in text.splitlines() if (m := pattern.search(line))]
    assert len(matches) == 1, (pattern.pattern, text)
    return matches[0]


def _transitions(text: str) -> list[tuple[str, ...]]:
    return [
        (m["before"], m["input"], m["after"], m["effects"] or "", m["reply"])
        for line in text.splitlines()
        if (m := TRANSITION.match(line))
    ]


def _callback_parameters(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def test_make_demo_prints_every_transition_and_ends_in_consumed() -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert _transitions(out) == FLOW
    assert "Final state: consumed" in out
    assert _one(TOKEN_REQUESTS, out)["count"] == "1"
    cookie = _one(COOKIE, out)
    assert cookie["value"] == "…"  # elided: the binding is a secret
    # The demo's redirect URI is http on loopback: a cookie the browser may send over http.
    assert (cookie["http_only"], cookie["same_site"], cookie["secure"]) == ("yes", "Lax", "no")
    parameters = _callback_parameters(_one(CALLBACK, out)["url"])
    assert {"code", "state", "team_id"} <= {name for name, _ in parameters}
    assert all(value == "…" for _, value in parameters)
    assert "client_secret" not in out.lower()


def _real_callback_parameter_names(simulator: Simulator) -> list[str]:
    """The parameters of a redirect this simulator really sends, obtained independently of
    the demo (another app, another flow)."""
    app = simulator.register_app(["http://127.0.0.1:9000/callback"])
    client = miroflow.Client(
        simulator.client_config(app),
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=simulator.transport,
        clock=simulator.now,
    )
    started = client.start()
    assert started.location is not None
    simulator.auto_approve()
    redirect = simulator.dispatch(miroflow.HttpRequest(method="GET", url=started.location))
    assert isinstance(redirect, miroflow.HttpResponse)
    location = redirect.header("Location")
    assert location is not None
    return [name for name, _ in _callback_parameters(location)]


def test_what_the_demo_prints_is_what_happened(
    demo: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = Simulator(base_url="https://miro.simulated")
    assert demo.main(simulator, tmp_path) == 0
    out = capsys.readouterr().out
    (app,) = simulator.apps.values()
    config = simulator.client_config(app)
    assert _transitions(out) == FLOW
    # the cookie, as the app's configuration makes it
    cookie = _one(COOKIE, out)
    assert cookie["name"] == config.binding_cookie_name
    assert int(cookie["max_age"]) == int(config.flow_lifetime)
    assert cookie["secure"] == ("yes" if config.secure_cookies else "no")
    assert cookie["path"] == "/"
    # the token requests, as the simulator logged them
    requests = simulator.token_requests()
    assert [(entry.grant_type, entry.status) for entry in requests] == [("authorization_code", 200)]
    assert int(_one(TOKEN_REQUESTS, out)["count"]) == len(requests)
    # the callback: Miro's parameters, in Miro's order, to the registered redirect URI
    callback = _one(CALLBACK, out)["url"]
    assert callback.startswith(config.redirect_uri + "?")
    names = [name for name, _ in _callback_parameters(callback)]
    assert names == _real_callback_parameter_names(simulator)
    assert app.client_secret.reveal() not in out


def test_the_demo_fails_unless_miro_saw_exactly_one_token_request(
    demo: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = Simulator(base_url="https://miro.simulated")
    # Another app's token request, before the demo's: the simulator now sees two.
    other_app = simulator.client_config(simulator.register_app(["http://127.0.0.1:9000/cb"]))
    stray = simulator.transport.send(
        miroflow.HttpRequest(
            method="POST",
            url=other_app.token_endpoint,
            headers=(("Content-Type", "application/x-www-form-urlencoded"),),
            body=b"grant_type=authorization_code",
        )
    )
    assert stray.status == 400
    assert demo.main(simulator, tmp_path) == 1
    captured = capsys.readouterr()
    assert _one(TOKEN_REQUESTS, captured.out)["count"] == "2"
    assert "a flow makes exactly one" in captured.err
