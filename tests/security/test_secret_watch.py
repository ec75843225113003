"""The watch that fails a test whose log records give a secret away (tests/_secrets_plugin.py)
does fail one: its checking functions on records made here, the watch of this very session on
a secret logged on purpose (its finding taken back before it fails this test), and a run of
pytest in a subprocess whose test logs a client secret."""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import miroflow

PLUGIN = Path(__file__).resolve().parents[1] / "_secrets_plugin.py"
SECRET = "watch-self-test-secret-0123456789"


def _plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location("secrets_plugin_under_test", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(msg: str, *args: object, name: str = "app", exc: BaseException | None = None) -> Any:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, exc_info)


def test_a_registered_secret_in_a_message_its_arguments_or_an_exception_is_found() -> None:
    plugin = _plugin()
    registry = plugin.SecretRegistry()
    registry.add(SECRET, "client secret")
    registry.add("short", "state")  # under 8 characters: would match by chance, ignored
    assert plugin.leaks(registry, _record("nothing here, short")) == []
    assert plugin.leaks(registry, _record(f"secret={SECRET}"))
    assert plugin.leaks(registry, _record("secret=%s", SECRET))  # formatted, not raw
    registry.add("a+secret/with=signs", "binding")
    assert plugin.leaks(registry, _record("GET /x?b=a%2Bsecret%2Fwith%3Dsigns"))  # in a URL
    registry.add("a-lone\udcffsurrogate-binding", "binding")  # breaks nothing, and is found
    assert plugin.leaks(registry, _record("cookie a-lone\udcffsurrogate-binding"))
    try:
        try:
            raise ValueError(f"inner {SECRET}")
        except ValueError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as error:
        found = plugin.leaks(registry, _record("failed", exc=error))
    assert found and "client secret" in found[0] and SECRET not in found[0]


def test_a_browser_get_may_carry_a_state_but_never_a_token() -> None:
    plugin = _plugin()
    registry = plugin.SecretRegistry()
    registry.add("the-state-the-state", "state")
    registry.add("the-access-token-0", "access token")
    line = "HTTP Request: %s %s"
    get = _record(line, "GET", "https://miro.invalid/oauth/authorize?state=the-state-the-state")
    get.name = "httpx"
    assert plugin.leaks(registry, get) == []
    token = _record(
        line, "GET", "https://api.invalid/v1/oauth-token?access_token=the-access-token-0"
    )
    token.name = "httpx"
    assert plugin.leaks(registry, token)
    post = _record(line, "POST", "https://miro.invalid/x?state=the-state-the-state")
    post.name = "httpx"
    assert plugin.leaks(registry, post)


def test_this_sessions_watch_sees_a_client_secret_logged_on_purpose(
    request: pytest.FixtureRequest,
) -> None:
    watch = request.config.pluginmanager.get_plugin("miroflow-secret-watch")
    assert watch is not None
    miroflow.ClientConfig(
        client_id="1", client_secret=SECRET, redirect_uri="http://localhost:8000/cb"
    )
    logging.getLogger("a.careless.app").debug("configured with %s", SECRET)
    found = watch.take()  # taken back: this test must not fail for it
    assert found and "'a.careless.app'" in found[0]
    # a message that is not a log record is no finding (assertions may show secrets)
    assert SECRET in repr(SECRET) and watch.take() == []


def test_pytest_fails_the_test_that_logs_a_secret_and_only_that_one(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            f"""
            import importlib.util

            spec = importlib.util.spec_from_file_location("watch", {str(PLUGIN)!r})
            watch = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(watch)
            pytest_configure = watch.pytest_configure
            """
        )
    )
    (tmp_path / "test_leaky.py").write_text(
        textwrap.dedent(
            f"""
            import logging

            import miroflow

            CONFIG = miroflow.ClientConfig(
                client_id="1", client_secret={SECRET!r}, redirect_uri="http://localhost:8000/cb"
            )

            def test_logs_the_secret():
                logging.getLogger("app").warning("secret is %s", {SECRET!r})

            def test_shows_the_secret_only_in_an_assertion():
                assert {SECRET!r} in repr(CONFIG.client_secret.reveal())

            def test_logs_nothing_secret():
                logging.getLogger("app").warning("all is well")
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 2 passed" in run.stdout, run.stdout
    assert "FAILED test_leaky.py::test_logs_the_secret" in run.stdout
    assert "client secret" in run.stdout and "a secret reached a log record" in run.stdout
