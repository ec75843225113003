"""`make demo` runs `miroflow demo`: the whole lifecycle against the simulated Miro (sign-in
through the loopback callback server and SQLite, a refresh, the token context, a revoke), and
what it prints is what happened: the transitions of both machines as the client reported
them, and the requests the simulator saw."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from miroflow_cli import Failure, run_demo
from miroflow_simulator import Simulator

import miroflow

MIROFLOW = Path(sys.executable).with_name("miroflow")
ROOT = Path(__file__).resolve().parents[2]

TRANSITION = re.compile(
    r"^\s+(?P<machine>flow|tokens)\s+(?P<before>\S+) -(?P<input>\w+)-> (?P<after>\w+)"
    r"(?: \[(?P<effects>[^\]]*)\])?(?: reply (?P<reply>\d+))?$"
)
REQUESTS = re.compile(r"^Requests Miro saw: (?P<count>\d+) \((?P<seen>.*)\)$")

#: The sign-in, step by step: (machine, before, input, after, effects, reply status or "").
SIGN_IN = [
    ("flow", "(none)", "FlowStarted", "pending", "", ""),
    ("flow", "pending", "UserRedirected", "redirected", "SaveFlow", "302"),
    ("flow", "redirected", "CallbackReceived", "code_received", "SendTokenRequest", ""),
    ("flow", "code_received", "TokenResponseReceived", "consumed", "StoreTokens", "303"),
]


def _transitions(text: str) -> list[tuple[str, ...]]:
    return [
        (m["machine"], m["before"], m["input"], m["after"], m["effects"] or "", m["reply"] or "")
        for line in text.splitlines()
        if (m := TRANSITION.match(line))
    ]


def _requests(text: str) -> re.Match[str]:
    (match,) = [m for line in text.splitlines() if (m := REQUESTS.match(line))]
    return match


def test_make_demo_runs_miroflow_demo() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (recipe,) = re.findall(r"^demo: .*\n\t(.*)$", makefile, flags=re.M)
    assert recipe == "$(VENV)/bin/miroflow demo"


def test_the_demo_runs_the_whole_lifecycle(tmp_path: Path) -> None:
    # The demo leaves its SQLite file in a new temporary directory: under the test's own.
    result = subprocess.run(
        [str(MIROFLOW), "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    transitions = _transitions(result.stdout)
    assert transitions[:4] == SIGN_IN
    tokens = [t for t in transitions if t[0] == "tokens"]
    # An hour later the token is due: the one caller takes the lease and refreshes.
    assert [t[2] for t in tokens][:5] == [
        "TokensLoaded",
        "LeaseAnswered",
        "TokensPolled",
        "RefreshAnswered",
        "TokensStored",
    ]
    assert "SendRefreshRequest" in tokens[2][4] and tokens[4][3] == "fresh"
    # After the revoke, nothing is stored: the token machine ends dead.
    assert tokens[-1][1:4] == ("(none)", "TokensLoaded", "dead")
    assert _requests(result.stdout)["seen"] == (
        "authorization_code answered 200, refresh_token answered 200, "
        "token_context answered 200, revoke answered 204"
    )
    assert "Sign-in required: send the user to /miro/login?team_id=" in result.stdout
    assert result.stderr == ""


def test_what_the_demo_prints_is_what_happened(tmp_path: Path) -> None:
    simulator = Simulator()
    lines: list[str] = []
    run_demo(lines.append, simulator=simulator, data_dir=tmp_path)
    out = "\n".join(lines)
    (app,) = simulator.apps.values()
    # The app it registered: a redirect URI on the loopback callback server.
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", app.redirect_uris[0])
    # The requests, as the simulator logged them.
    logged = [(entry.endpoint, entry.grant_type, entry.status) for entry in simulator.log]
    assert logged == [
        ("token", "authorization_code", 200),
        ("token", "refresh_token", 200),
        ("token_context", None, 200),
        ("revoke", None, 204),
    ]
    assert int(_requests(out)["count"]) == len(logged)
    # The SQLite file it used, left in place, holds nothing after the revoke.
    from miroflow_sqlite import SQLiteTokenStore

    store = SQLiteTokenStore(path=tmp_path / "miroflow.sqlite3")
    assert store.stored_keys() == []
    store.close()
    # No secret is printed.
    assert app.client_secret.reveal() not in out


def test_the_demo_fails_unless_miro_saw_the_lifecycles_requests(tmp_path: Path) -> None:
    simulator = Simulator()
    # Another app's token request, before the demo's: the simulator sees one more.
    other = simulator.client_config(simulator.register_app(["http://127.0.0.1:9000/cb"]))
    stray = simulator.transport.send(
        miroflow.HttpRequest(
            method="POST",
            url=other.token_endpoint,
            headers=(("Content-Type", "application/x-www-form-urlencoded"),),
            body=b"grant_type=authorization_code",
        )
    )
    assert stray.status == 400
    lines: list[str] = []
    with pytest.raises(Failure, match="The demo went wrong: Miro saw"):
        run_demo(lines.append, simulator=simulator, data_dir=tmp_path)
    assert _requests("\n".join(lines))["count"] == "5"
