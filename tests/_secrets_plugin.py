"""No secret in logs (issue 11): for the whole suite, remember every secret the tests actually
use, watch every log record of every logger, and fail the test during which a remembered
secret appears in a record's formatted message or in the text of an exception logged with it.

What is remembered (values of at least ``MIN_LENGTH`` characters; shorter ones would match
by chance):

* client secrets: every ``miroflow.ClientConfig`` made;
* access and refresh tokens: every ``miroflow.TokenSet`` made;
* states and binding cookies: every ``miroflow.Answer`` made (the ``state`` in its
  ``location``, the value of its cookie);
* codes, verifiers, tokens and secrets on the wire: every ``miroflow.HttpRequest`` made (its
  form body, its query string and a bearer ``Authorization``), which covers the token
  request that ``miroflow.machine.token_request`` builds and every request a test sends.

Only log records count: a test may put a secret in an assertion message or a ``repr`` on
purpose. The records are read through ``logging.Logger.callHandlers``, which every record
that passes its logger's level goes through, whichever logger it was made on and whether or
not it propagates (uvicorn's do not); the root logger is set to DEBUG for the session, so
every logger left at NOTSET makes all its records.

One carve-out, on purpose: a request line of ``httpx`` for a ``GET`` (``HTTP Request: GET
<url>``) may hold a *state* or a *code* in its query. In this suite that is a test's browser
following the authorize URL or the redirect back (states and codes ride the front channel by
design; RFC 6749 §4.1); the app's transports never GET a URL holding one. Tokens, client
secrets, verifiers and bindings in such a line still fail.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

import miroflow

#: Shorter values are not watched: the secrets miroflow and the simulator make (states,
#: bindings, codes, verifiers, tokens) run to 43 characters, and short ones that fuzzing and
#: property tests invent ("clockskew1", an 8-character "code") turn up by coincidence in
#: unrelated records (a session cookie's base64), failing tests that leak nothing.
MIN_LENGTH = 16
_FRONT_CHANNEL = frozenset({"state", "code"})
_WIRE_NAMES = {
    "code": "code",
    "code_verifier": "verifier",
    "client_secret": "client secret",
    "refresh_token": "refresh token",
    "access_token": "access token",
    "token": "token",
}


class SecretRegistry:
    """Secrets by their first ``MIN_LENGTH`` characters, so that a text is searched for all
    of them in one pass, however many there are."""

    def __init__(self) -> None:
        self._by_prefix: dict[str, dict[str, str]] = {}
        self._count = 0

    def add(self, value: object, kind: str) -> None:
        """Remember ``value``, and its percent-encoded form (as it would sit in a URL)."""
        if not isinstance(value, str) or len(value) < MIN_LENGTH:
            return
        for form in {value, quote(value, safe="", errors="replace")}:
            bucket = self._by_prefix.setdefault(form[:MIN_LENGTH], {})
            if form not in bucket:
                bucket[form] = kind
                self._count += 1

    def __len__(self) -> int:
        return self._count

    def found_in(self, text: str) -> list[tuple[str, str]]:
        """(kind, secret) for every remembered secret in ``text``."""
        hits: dict[str, str] = {}
        lookup = self._by_prefix.get
        for start in range(len(text) - MIN_LENGTH + 1):
            bucket = lookup(text[start : start + MIN_LENGTH])
            if bucket:
                for secret, kind in tuple(bucket.items()):  # another thread may add
                    if text.startswith(secret, start):
                        hits[secret] = kind
        return [(kind, secret) for secret, kind in hits.items()]


def record_text(record: logging.LogRecord) -> str:
    """The formatted message and the messages of any exception logged with it (its whole
    chain), but not its traceback's source lines: those quote test code, not the log."""
    try:
        text = record.getMessage()
    except Exception:  # a broken record: its raw parts are what a handler would print
        text = f"{record.msg!r} {record.args!r}"
    if record.exc_info and record.exc_info[1] is not None:
        error: BaseException | None = record.exc_info[1]
        seen: set[int] = set()
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            text += "\n" + "".join(traceback.format_exception_only(type(error), error))
            error = error.__cause__ or error.__context__
    return text


def _browser_get(record: logging.LogRecord) -> bool:
    """httpx's request line for a GET: ``logger.info("HTTP Request: %s %s ...", method, url)``."""
    args = record.args if isinstance(record.args, tuple) else ()
    return (
        record.name == "httpx"
        and str(record.msg).startswith("HTTP Request:")
        and bool(args)
        and str(args[0]).upper() == "GET"
    )


def leaks(registry: SecretRegistry, record: logging.LogRecord) -> list[str]:
    """What ``record`` gives away, as printable findings (the secret itself shortened)."""
    hits = registry.found_in(record_text(record))
    if _browser_get(record):
        hits = [(kind, secret) for kind, secret in hits if kind not in _FRONT_CHANNEL]
    return [
        f"{kind} {secret[:4]}…({len(secret)} chars) in a {record.levelname} record of "
        f"{record.name!r} at {record.pathname}:{record.lineno}"
        for kind, secret in hits
    ]


class SecretWatch:
    """The plugin: registration hooks on miroflow's values, the log watch, the verdicts."""

    def __init__(self) -> None:
        self.registry = SecretRegistry()
        self._lock = threading.Lock()
        self._findings: list[str] = []
        self._undo: list[Callable[[], None]] = []
        self._root_level = logging.NOTSET
        self.records_read = 0
        self.findings_total = 0

    # --- registration -----------------------------------------------------------------

    def _wrap_init(self, cls: type[Any], remember: Callable[[Any], None]) -> None:
        original = cls.__init__

        def __init__(instance: Any, *args: Any, **kwargs: Any) -> None:
            original(instance, *args, **kwargs)
            with contextlib.suppress(Exception):  # a value odd enough to break it holds none
                remember(instance)

        cls.__init__ = __init__
        self._undo.append(lambda: setattr(cls, "__init__", original))

    def _config(self, config: miroflow.ClientConfig) -> None:
        self.registry.add(config.client_secret.reveal(), "client secret")

    def _tokens(self, tokens: miroflow.TokenSet) -> None:
        self.registry.add(tokens.access_token, "access token")
        self.registry.add(tokens.refresh_token, "refresh token")

    def _answer(self, answer: miroflow.Answer) -> None:
        if answer.location is not None:
            for name, value in parse_qsl(urlsplit(answer.location).query):
                if name == "state":
                    self.registry.add(value, "state")
        cookie = answer.cookie
        if cookie is not None:
            self.registry.add(cookie.value, "binding")

    def _request(self, request: miroflow.HttpRequest) -> None:
        pairs = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
        if request.body:
            with contextlib.suppress(UnicodeDecodeError):
                pairs += parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
        for name, value in pairs:
            kind = _WIRE_NAMES.get(name)
            if kind is not None:
                self.registry.add(value, kind)
        scheme, _, credentials = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer":
            self.registry.add(credentials.strip(), "access token")

    # --- the watch ----------------------------------------------------------------------

    def check(self, record: logging.LogRecord) -> None:
        self.records_read += 1
        if not len(self.registry):
            return
        found = leaks(self.registry, record)
        if found:
            with self._lock:
                self._findings.extend(found)

    def take(self) -> list[str]:
        with self._lock:
            found, self._findings = self._findings, []
        self.findings_total += len(found)
        return found

    def install(self) -> None:
        self._wrap_init(miroflow.ClientConfig, self._config)
        self._wrap_init(miroflow.TokenSet, self._tokens)
        self._wrap_init(miroflow.Answer, self._answer)
        self._wrap_init(miroflow.HttpRequest, self._request)
        original = logging.Logger.callHandlers
        watch = self

        def callHandlers(logger: logging.Logger, record: logging.LogRecord) -> None:
            try:
                watch.check(record)
            except Exception as error:  # a broken watch fails the test, never the logging
                with watch._lock:
                    watch._findings.append(f"the secret watch failed on a record: {error!r}")
            original(logger, record)

        logging.Logger.callHandlers = callHandlers  # type: ignore[method-assign,assignment]
        self._undo.append(lambda: setattr(logging.Logger, "callHandlers", original))
        root = logging.getLogger()
        self._root_level = root.level
        root.setLevel(logging.DEBUG)
        self._undo.append(lambda: root.setLevel(self._root_level))

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    # --- pytest hooks -------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        found = self.take()
        if found:
            text = "a secret reached a log record:\n  " + "\n  ".join(sorted(set(found)))
            if report.passed:
                report.outcome = "failed"
                report.longrepr = text
            else:
                report.sections.append(("secrets in logs", text))
        return report

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        found = self.take()  # logged outside every test (collection, session fixtures)
        if found:
            reporter = session.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(
                    "secrets in logs outside any test:\n  " + "\n  ".join(sorted(set(found))),
                    red=True,
                )
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(
            f"secret watch: {len(self.registry)} secrets remembered, {self.records_read} log "
            f"records read, {self.findings_total} findings"
        )


def pytest_configure(config: pytest.Config) -> None:
    watch = SecretWatch()
    watch.install()
    config.pluginmanager.register(watch, "miroflow-secret-watch")
    config.add_cleanup(watch.uninstall)
