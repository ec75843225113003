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
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from miroflow_simulator import main

import miroflow

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
        api = values["API host"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", api) and api != base
        assert values["token endpoint"] == f"{api}/v1/oauth/token"
        assert values["authorize endpoint"] == f"{base}/oauth/authorize"
        # the environment alone points an app at the simulator
        environment = {k: v for k, v in values.items() if k.startswith("MIRO_")}
        config = miroflow.ClientConfig.from_env(environment)
        assert config.authorize_endpoint == f"{base}/oauth/authorize"
        assert config.token_endpoint == f"{api}/v1/oauth/token"
        assert config.revoke_endpoint == f"{api}/v2/oauth/revoke"
        assert config.token_context_endpoint == f"{api}/v1/oauth-token"
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


def test_command_access_log_shows_requests_but_no_state_code_or_secret() -> None:
    secret = "cli-secret-cli-secret"
    state = "cli-state-that-must-never-be-logged"
    process, values = _start(
        "--client-id", "42", "--client-secret", secret,
        "--redirect-uri", "http://localhost:8000/cb", "--auto-approve",
    )  # fmt: skip
    try:
        answer = httpx.get(
            values["authorize endpoint"],
            params={
                "response_type": "code",
                "client_id": "42",
                "redirect_uri": "http://localhost:8000/cb",
                "state": state,
            },
        )
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        token = httpx.post(
            values["token endpoint"] + f"?code={code}",
            data={"grant_type": "authorization_code", "client_id": "42", "client_secret": secret,
                  "redirect_uri": "http://localhost:8000/cb", "code": code},
        )  # fmt: skip
        assert token.status_code == 200
    finally:
        _stop(process)
    assert process.stdout is not None and process.stderr is not None
    output = process.stdout.read() + process.stderr.read()
    assert '"GET /oauth/authorize?' in output and "state=[redacted]" in output
    assert '"POST /v1/oauth/token?code=[redacted]' in output
    for value in (state, code, secret, token.json()["access_token"]):
        assert value not in output


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
    [
        ('{"nonsense": 1}', ".json"),
        ("[1, 2]", ".json"),
        ('{"client_id": "abc"}', ".json"),
        ('{"apps": [{"client_id": "1", "colour": "red"}]}', ".json"),
        ('{"apps": "nope"}', ".json"),
    ],
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


def _exchange(api: str, code: str, client_id: str, secret: str, redirect_uri: str) -> Any:
    return httpx.post(
        f"{api}/v1/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": secret,
        },
    )


def test_command_serves_the_two_hosts_apart_over_real_sockets() -> None:
    process, values = _start("--redirect-uri", "http://localhost:8000/cb", "--auto-approve")
    try:
        base, api = values["base_url"], values["API host"]
        client_id, secret = values["MIRO_CLIENT_ID"], values["MIRO_CLIENT_SECRET"]
        redirect = httpx.get(
            f"{base}/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": "http://localhost:8000/cb",
            },
        )
        code = redirect.headers["location"].split("code=")[1].split("&")[0]
        # a token request sent to the consent host (miro.com) is not an API call
        wrong_host = _exchange(base, code, client_id, secret, "http://localhost:8000/cb")
        assert wrong_host.status_code == 404
        assert wrong_host.headers["content-type"].startswith("text/html")
        # the consent page is not on the API host, and the API answers JSON everywhere
        assert httpx.get(f"{api}/oauth/authorize").json()["code"] == "notFound"
        unknown = httpx.get(f"{api}/v2/boards")
        assert unknown.status_code == 404
        assert unknown.json() == {
            "status": 404,
            "code": "notFound",
            "message": "No API endpoint /v2/boards",
            "type": "error",
        }
        # the code was not spent by the misdirected call
        tokens = _exchange(api, code, client_id, secret, "http://localhost:8000/cb").json()
        revoked = httpx.post(
            f"{api}/v1/oauth/revoke", params={"access_token": tokens["access_token"]}
        )
        assert revoked.status_code == 204
        context = httpx.get(
            f"{api}/v1/oauth-token",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        assert context.status_code == 401
    finally:
        _stop(process)


def test_command_serves_several_apps_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "apps.toml"
    config.write_text(
        'number_ids = ["user_id", "team_id"]\n'
        'sign_in = "page"\n'
        "return_empty_state = false\n"
        "[[apps]]\n"
        'client_id = "1001"\nclient_secret = "first-secret-first-secret"\n'
        'redirect_uris = ["http://127.0.0.1:7001/cb"]\nname = "First"\n'
        "[[apps]]\n"
        'client_id = "1002"\nclient_secret = "second-secret-second"\n'
        'redirect_uris = ["http://127.0.0.1:7002/cb"]\nexpiring = false\n'
        'scopes = ["boards:read"]\nname = "Second"\n'
    )
    process, values = _start("--config", str(config), "--auto-approve")
    try:
        assert values["MIRO_CLIENT_ID"] == "1001"
        assert values["app 2 (Second)"].startswith("client id 1002, secret second-secret-second")
        state = httpx.get(f"{values['base_url']}/_simulator/state").json()
        assert [(a["client_id"], a["expiring"], a["scopes"]) for a in state["apps"]] == [
            ("1001", True, ["boards:read", "boards:write"]),
            ("1002", False, ["boards:read"]),
        ]
        assert state["number_ids"] == ["team_id", "user_id"]
        assert state["sign_in"] == "page" and state["return_empty_state"] is False
        redirect = httpx.get(
            f"{values['base_url']}/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": "1002",
                "redirect_uri": "http://127.0.0.1:7002/cb",
            },
        )
        code = redirect.headers["location"].split("code=")[1].split("&")[0]
        answer = _exchange(
            values["API host"], code, "1002", "second-secret-second", "http://127.0.0.1:7002/cb"
        )
        assert answer.status_code == 200
        assert "refresh_token" not in answer.json()
        assert answer.text.startswith('{"user_id":3458764517517852417,')
        # one app's secret does not redeem another app's code
        other = _exchange(
            values["API host"],
            code,
            "1001",
            "first-secret-first-secret",
            "http://127.0.0.1:7002/cb",
        )
        assert other.status_code == 401
    finally:
        _stop(process)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--big-team-ids"], ["team_id"]),
        (["--number-ids", "user_id,organization_id"], ["organization_id", "user_id"]),
    ],
)
def test_command_id_forms_from_flags(flags: list[str], expected: list[str]) -> None:
    process, values = _start(*flags)
    try:
        state = httpx.get(f"{values['base_url']}/_simulator/state").json()
        assert state["number_ids"] == expected
    finally:
        _stop(process)


def test_command_refuses_an_unknown_id_field(capsys: Any) -> None:
    assert main(["--port", "0", "--number-ids", "board_id"]) == 2
    assert "board_id" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "returned"), [([], [""]), (["--drop-empty-state"], None)])
def test_command_empty_state_choice(flags: list[str], returned: list[str] | None) -> None:
    process, values = _start("--redirect-uri", "http://localhost:8000/cb", "--auto-approve", *flags)
    try:
        redirect = httpx.get(
            values["authorize endpoint"],
            params={
                "response_type": "code",
                "client_id": values["MIRO_CLIENT_ID"],
                "redirect_uri": "http://localhost:8000/cb",
                "state": "",
            },
        )
        assert redirect.status_code == 302
        query = parse_qs(urlsplit(redirect.headers["location"]).query, keep_blank_values=True)
        assert query.get("state") == returned
    finally:
        _stop(process)


def test_command_single_host_serves_both_roles_on_one_port() -> None:
    process, values = _start("--single-host")
    try:
        base = values["base_url"]
        assert "API host" not in values
        assert values["MIRO_TOKEN_URL"] == f"{base}/v1/oauth/token"
        assert httpx.post(values["MIRO_TOKEN_URL"]).json()["code"] == "invalidParameters"
        assert httpx.get(f"{base}/").headers["content-type"].startswith("text/html")
    finally:
        _stop(process)
