"""`miroflow login` as a person runs it: the real command in a subprocess, `--no-browser`, the
simulated Miro served on loopback; headless chromium opens the printed link, clicks "Install &
authorize" on the consent page, and lands on the command's own signed-in page; the command
prints user, team and scopes, and `miroflow tokens` lists the stored set."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from miroflow_simulator import LoopbackServer, Simulator

MIROFLOW = str(Path(sys.executable).with_name("miroflow"))


@pytest.fixture
def miro(free_port: int) -> Iterator[Simulator]:
    """The simulated Miro on loopback, its app redirecting to 127.0.0.1:<free port>."""
    with LoopbackServer(Simulator()) as server:
        server.simulator.register_app([f"http://127.0.0.1:{free_port}/callback"])
        yield server.simulator


def _environment(simulator: Simulator, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRO_", "MIROFLOW_"))}
    env.update(simulator.environment())
    env.update(XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"))
    return env


def _read_link(process: subprocess.Popen[str]) -> str:
    """The consent link the command prints, read as it comes (bounded)."""
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # readline returns "" if the process died
        line = process.stdout.readline().strip()
        if line.startswith("http"):
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"miroflow login printed no link (exit {process.poll()})")


def test_a_person_signs_in_with_the_command_in_chromium(
    miro: Simulator, page: Any, tmp_path: Path
) -> None:
    env = _environment(miro, tmp_path)
    process = subprocess.Popen(
        [MIROFLOW, "login", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        link = _read_link(process)
        assert link.startswith(f"{miro.base_url}/oauth/authorize?")
        page.goto(link)
        page.get_by_role("button", name="Install & authorize").click()
        (app,) = miro.apps.values()
        page.wait_for_url(f"{app.redirect_uris[0]}?*")  # the command's own page
        assert page.locator("h1").inner_text() == "Signed in to Miro"
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)
    assert process.returncode == 0, err
    lines = out.splitlines()
    signed_in = next(line for line in lines if line.startswith("Signed in to Miro: "))
    assert signed_in.startswith("Signed in to Miro: user 3458764517517852417, team ")
    assert any(line.startswith("Scopes: boards:read") for line in lines)
    assert "Traceback" not in err
    assert [e.status for e in miro.token_requests("authorization_code")] == [200]

    listed = subprocess.run(
        [MIROFLOW, "tokens", "--json"], capture_output=True, text=True, env=env, timeout=30
    )
    (row,) = json.loads(listed.stdout)
    assert row["user_id"] == "3458764517517852417" and row["access_token"] == "…"


def test_ctrl_c_ends_login_with_one_line_and_130(miro: Simulator, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [MIROFLOW, "login", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(miro, tmp_path),
    )
    _read_link(process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 130
    assert err.strip().splitlines()[-1] == "miroflow: Sign-in cancelled (Ctrl-C)."
    assert "Traceback" not in err
