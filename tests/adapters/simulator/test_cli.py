"""The ``miroflow-simulator`` command: starts, prints what a client needs, serves, stops."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from miroflow_simulator import main

SCRIPT = Path(sys.executable).with_name("miroflow-simulator")


def _start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    command = [str(SCRIPT), "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    values: dict[str, str] = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # bounded: readline returns "" if the process dies
        line = process.stdout.readline().strip()
        if not line and process.poll() is not None:
            break
        if line.startswith("miroflow simulator serving on "):
            values["base_url"] = line.split()[-1]
        elif line.startswith("MIRO_"):
            key, _, value = line.partition("=")
            values[key] = value
        elif ": " in line:
            label, _, value = line.partition(": ")
            values[label.strip()] = value.strip()
        elif line.startswith("Press Ctrl+C"):
            return process, values
    process.kill()
    raise AssertionError(
        f"the command did not start: {process.stderr.read() if process.stderr else ''}"
    )


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_command_serves_and_prints_the_values(tmp_path: Path) -> None:
    process, values = _start(
        "--client-id",
        "3074457363680401096",
        "--client-secret",
        "cli-secret-cli-secret",
        "--redirect-uri",
        "http://localhost:8000/cb",
        "--auto-approve",
    )
    try:
        base = values["base_url"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
        assert values["MIRO_CLIENT_ID"] == "3074457363680401096"
        assert values["MIRO_CLIENT_SECRET"] == "cli-secret-cli-secret"
        assert values["MIRO_REDIRECT_URL"] == "http://localhost:8000/cb"
        assert values["token endpoint"] == f"{base}/v1/oauth/token"
        assert values["authorize endpoint"] == f"{base}/oauth/authorize"
        answer = httpx.get(
            values["authorize endpoint"],
            params={
                "response_type": "code",
                "client_id": "3074457363680401096",
                "redirect_uri": "http://localhost:8000/cb",
                "state": "s1",
            },
        )
        assert answer.status_code == 302
        assert answer.headers["location"].startswith("http://localhost:8000/cb?code=")
    finally:
        _stop(process)
    assert process.returncode is not None


def test_command_reads_a_toml_config(tmp_path: Path) -> None:
    config = tmp_path / "app.toml"
    config.write_text(
        'client_id = "42"\nredirect_uris = ["http://127.0.0.1:7000/cb"]\nexpiring = false\n'
        "big_team_ids = true\n"
    )
    process, values = _start("--config", str(config))
    try:
        assert values["MIRO_CLIENT_ID"] == "42"
        assert len(values["MIRO_CLIENT_SECRET"]) >= 22  # drawn
        state = httpx.get(f"{values['base_url']}/_simulator/state").json()
        assert state["apps"] == [
            {
                "client_id": "42",
                "redirect_uris": ["http://127.0.0.1:7000/cb"],
                "expiring": False,
                "scopes": ["boards:read", "boards:write"],
            }
        ]
        assert state["big_team_ids"] is True
    finally:
        _stop(process)


@pytest.mark.parametrize(
    ("content", "suffix"),
    [('{"nonsense": 1}', ".json"), ("[1, 2]", ".json"), ('{"client_id": "abc"}', ".json")],
)
def test_command_refuses_a_bad_config(
    tmp_path: Path, capsys: Any, content: str, suffix: str
) -> None:
    config = tmp_path / f"app{suffix}"
    config.write_text(content)
    assert main(["--port", "0", "--config", str(config)]) == 2
    assert "miroflow-simulator:" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    script = SCRIPT
    assert script.exists()
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=30, check=True
    )
    assert "--redirect-uri" in result.stdout
    assert os.access(script, os.X_OK)
