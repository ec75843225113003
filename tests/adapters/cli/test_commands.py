"""The token commands after a real sign-in, the configuration's three sources, `spec`, `--help`
everywhere, and errors: one plain line on stderr, a documented exit code, never a traceback
and never a secret."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner, Result
from miroflow_cli import ExitCode, Runtime, cli, default_config_path
from miroflow_simulator import Simulator
from miroflow_sqlite import SQLiteTokenStore

import miroflow
from miroflow import machine

Invoke = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[3]
COMMANDS = ["login", "tokens", "token", "refresh", "revoke", "whoami", "demo", "spec"]


def error_line(result: Result) -> str:
    """Exactly one line, on stderr; nothing else printed; no traceback."""
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("miroflow: "), result.stderr
    return lines[0]


# --- after a sign-in ----------------------------------------------------------------------


def test_tokens_lists_the_stored_set_redacted(signed_in: miroflow.TokenSet, invoke: Invoke) -> None:
    table = invoke("tokens")
    assert table.exit_code == 0
    assert signed_in.user_id in table.stdout and signed_in.team_id in table.stdout
    (row,) = json.loads(invoke("tokens", "--json").stdout)
    assert row["user_id"] == signed_in.user_id and row["team_id"] == signed_in.team_id
    assert row["scopes"] == list(signed_in.scopes) and row["refresh_token"] is True
    assert row["access_token"] == "…" and row["version"] == 1
    for secret in (signed_in.access_token, signed_in.refresh_token):
        assert secret and secret not in table.output


def test_token_prints_the_access_token_alone(signed_in: miroflow.TokenSet, invoke: Invoke) -> None:
    result = invoke("token")
    assert result.exit_code == 0
    assert result.stdout == f"{signed_in.access_token}\n"


def test_token_refreshes_a_token_that_is_due(
    simulator: Simulator,
    signed_in: miroflow.TokenSet,
    invoke: Invoke,
    stored: Callable[[str], miroflow.TokenSet],
) -> None:
    simulator.advance(3600)  # the access token has expired
    result = invoke("token")
    assert result.exit_code == 0, result.output
    fresh = stored(signed_in.client_id)
    assert result.stdout == f"{fresh.access_token}\n" != f"{signed_in.access_token}\n"
    assert len(simulator.token_requests("refresh_token")) == 1


def test_refresh_rotates_now(
    simulator: Simulator,
    signed_in: miroflow.TokenSet,
    invoke: Invoke,
    stored: Callable[[str], miroflow.TokenSet],
) -> None:
    result = invoke("refresh")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Refreshed: user {signed_in.user_id}")
    assert stored(signed_in.client_id).access_token != signed_in.access_token
    assert [e.status for e in simulator.token_requests("refresh_token")] == [200]


def test_whoami_asks_miro(signed_in: miroflow.TokenSet, invoke: Invoke) -> None:
    result = invoke("whoami")
    assert result.exit_code == 0, result.output
    assert f"({signed_in.user_id})" in result.stdout and "Scopes:" in result.stdout
    document = json.loads(invoke("whoami", "--json").stdout)
    assert document["user"]["id"] == signed_in.user_id
    assert document["team"]["id"] == signed_in.team_id


def test_revoke_then_token_says_sign_in_required(
    simulator: Simulator, signed_in: miroflow.TokenSet, invoke: Invoke
) -> None:
    revoked = invoke("revoke")
    assert revoked.exit_code == 0, revoked.output
    assert [e.endpoint for e in simulator.log][-1] == "revoke"
    assert json.loads(invoke("tokens", "--json").stdout) == []
    again = invoke("token")
    assert again.exit_code == 3 == ExitCode.SIGN_IN_REQUIRED.value
    assert "run `miroflow login`" in error_line(again)


def test_a_refresh_miro_rejects_is_sign_in_required(
    simulator: Simulator, signed_in: miroflow.TokenSet, invoke: Invoke
) -> None:
    simulator.advance(61 * 24 * 3600)  # past the refresh token's 60 days
    result = invoke("token")
    assert result.exit_code == ExitCode.SIGN_IN_REQUIRED
    line = error_line(result)
    assert line.startswith("miroflow: Sign-in required:") and line.endswith("Run `miroflow login`.")


def test_a_key_must_be_named_when_several_are_stored(
    simulator: Simulator, signed_in: miroflow.TokenSet, invoke: Invoke
) -> None:
    (app,) = simulator.apps.values()
    other = miroflow.TokenSet(
        client_id=app.client_id,
        access_token="another-access-token",
        user_id="42",
        team_id=signed_in.team_id,
        obtained_at=simulator.now(),
    )
    from miroflow_cli import default_data_dir

    store = SQLiteTokenStore(path=default_data_dir() / f"{app.client_id}.sqlite3")
    store.put(other)
    store.close()
    result = invoke("token")
    assert result.exit_code == ExitCode.USAGE
    assert "2 token sets are stored" in error_line(result)
    named = invoke("token", "--user", "42")
    assert named.stdout == "another-access-token\n"  # never expires: as stored
    both = invoke("token", "--user", signed_in.user_id, "--team", signed_in.team_id)
    assert both.stdout == f"{signed_in.access_token}\n"


def test_nothing_stored(invoke: Invoke) -> None:
    assert invoke("tokens").stdout.startswith("No tokens stored in ")
    assert json.loads(invoke("tokens", "--json").stdout) == []
    result = invoke("whoami")
    assert result.exit_code == ExitCode.SIGN_IN_REQUIRED
    assert "No tokens are stored for app" in error_line(result)


def test_transport_failures_are_one_line(
    signed_in: miroflow.TokenSet, runtime: Runtime, invoke: Invoke
) -> None:
    from miroflow_urllib import UrllibTransport

    runtime.environ = {**(runtime.environ or {}), "MIRO_TOKEN_URL": "http://127.0.0.1:9/token"}
    runtime.transport = UrllibTransport(timeout=2)
    result = invoke("refresh")
    assert result.exit_code == ExitCode.FAILED
    assert "127.0.0.1:9" in error_line(result)


def test_an_unexpected_error_is_one_line_naming_only_its_kind(
    signed_in: miroflow.TokenSet, runtime: Runtime, invoke: Invoke
) -> None:
    class Broken:
        def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
            raise RuntimeError(f"boom {request.body!r}")  # its text may hold anything

    runtime.transport = Broken()
    result = invoke("refresh")
    assert result.exit_code == ExitCode.FAILED
    assert error_line(result) == (
        "miroflow: unexpected RuntimeError; please report it (no traceback shown)."
    )


# --- configuration --------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_flags_then_environment_then_file(simulator: Simulator, runtime: Runtime) -> None:
    (app,) = simulator.apps.values()
    file_uri, env_uri, flag_uri = (f"http://127.0.0.1:{_free_port()}/cb" for _ in range(3))
    _write(
        default_config_path(),
        f'client_id = "{app.client_id}"\nclient_secret = "{app.client_secret.reveal()}"\n'
        f'redirect_uri = "{file_uri}"\nauthorize_endpoint = "{simulator.base_url}/from-file"\n',
    )
    links: list[str] = []

    def browser(link: str) -> bool:
        links.append(link)
        return True

    def ctrl_c(server: object, timeout: float) -> miroflow.Answer | None:
        raise KeyboardInterrupt

    runtime.open_browser, runtime.receive = browser, ctrl_c

    def login(*args: str) -> str:
        result = CliRunner().invoke(cli, ["login", *args], obj=runtime)
        assert result.exit_code == ExitCode.INTERRUPTED, result.output
        return (
            urlsplit(links[-1]).path
            + " "
            + dict(parse_qsl(urlsplit(links[-1]).query))["redirect_uri"]
        )

    runtime.environ = {}
    assert login() == f"/from-file {file_uri}"
    runtime.environ = {"MIRO_REDIRECT_URL": env_uri}
    assert login() == f"/from-file {env_uri}"
    assert login("--redirect-uri", flag_uri) == f"/from-file {flag_uri}"
    # Each time, login listened on the port of the redirect URI it used.
    assert (
        f"callback on {flag_uri.rsplit('/', 1)[0]}"
        in CliRunner().invoke(cli, ["login", "--redirect-uri", flag_uri], obj=runtime).stderr
    )


def test_the_config_file_is_checked(runtime: Runtime, invoke: Invoke, tmp_path: Path) -> None:
    runtime.environ = {}
    _write(default_config_path(), 'client_id = "1"\ncolour = "blue"\n')
    result = invoke("token")
    assert result.exit_code == ExitCode.USAGE
    assert "Unknown keys in" in error_line(result) and "colour" in result.stderr
    _write(default_config_path(), "client_id = \n")
    assert "is not valid TOML" in error_line(invoke("token"))
    missing = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "nope.toml"), "token"], obj=runtime
    )
    assert missing.exit_code == ExitCode.USAGE
    assert "does not exist" in error_line(missing)


def test_missing_settings_say_where_they_can_come_from(runtime: Runtime, invoke: Invoke) -> None:
    runtime.environ = {}
    line = error_line(invoke("token"))
    assert "--client-id" in line and "MIRO_CLIENT_ID" in line and "config.toml" in line
    runtime.environ = {"MIRO_CLIENT_ID": "1", "MIRO_REDIRECT_URL": "http://127.0.0.1:1/cb"}
    line = error_line(invoke("token"))
    assert "MIRO_CLIENT_SECRET" in line and "--client-secret" not in line


def test_a_bad_setting_is_a_usage_error_without_the_secret(
    simulator: Simulator, runtime: Runtime, invoke: Invoke
) -> None:
    (app,) = simulator.apps.values()
    result = invoke("token", "--redirect-uri", "http://app.example.com/callback")
    assert result.exit_code == ExitCode.USAGE
    assert "redirect_uri uses http on a non-loopback host" in error_line(result)
    assert app.client_secret.reveal() not in result.output


# --- spec, help, usage ----------------------------------------------------------------------


def test_spec_json_is_the_committed_spec(invoke: Invoke) -> None:
    result = invoke("spec", "--json", "flow")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads((ROOT / "specs" / "flow.json").read_text())
    every = json.loads(invoke("spec", "--json").stdout)
    assert set(every) == {"flow", "tokens", "simulator"}
    assert every["tokens"] == machine.table_to_spec(machine.TOKEN_TABLE, machine="tokens")


def test_spec_prints_the_tables(invoke: Invoke) -> None:
    result = invoke("spec", "flow")
    assert result.exit_code == 0
    for name in ("FlowStarted", "CallbackReceived", "code_received", "SendTokenRequest"):
        assert name in result.stdout


def test_spec_writes_the_mermaid_diagrams(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("spec", "--mermaid", str(tmp_path / "diagrams"))
    assert result.exit_code == 0
    for name, table in (("flow", machine.TABLE), ("tokens", machine.TOKEN_TABLE)):
        written = (tmp_path / "diagrams" / f"{name}.mmd").read_text()
        assert written == machine.table_to_mermaid(table)


def test_an_unknown_machine_is_a_usage_error(invoke: Invoke) -> None:
    result = invoke("spec", "nope")
    assert result.exit_code == ExitCode.USAGE
    assert "(see `miroflow spec --help`)" in error_line(result)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(invoke: Invoke, command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: miroflow {command} ")


def test_the_group_help_documents_the_exit_codes(invoke: Invoke) -> None:
    result = invoke("--help")
    assert "3 sign-in required; 4 sign-in expired; 5 sign-in denied; 130" in " ".join(
        result.stdout.split()
    )
    assert all(command in result.stdout for command in COMMANDS)


def test_an_unknown_option_is_one_line(invoke: Invoke) -> None:
    result = invoke("login", "--bogus")
    assert result.exit_code == ExitCode.USAGE
    assert error_line(result) == (
        "miroflow: No such option '--bogus' (see `miroflow login --help`)."
    )


def test_the_sqlite_store_lists_its_keys(tmp_path: Path) -> None:
    store = SQLiteTokenStore(path=tmp_path / "tokens.sqlite3")
    for client, user in (("2", "9"), ("1", "8"), ("1", "7")):
        store.put(
            miroflow.TokenSet(
                client_id=client, access_token="a" * 20, user_id=user, team_id="5", obtained_at=0
            )
        )
    assert [(k.client_id, k.user_id) for k in store.stored_keys()] == [
        ("1", "7"),
        ("1", "8"),
        ("2", "9"),
    ]
    store.delete(miroflow.TokenKey(client_id="1", user_id="8", team_id="5"))
    assert len(store.stored_keys()) == 2
    store.close()
