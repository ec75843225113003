"""Shared set-up for the simulator adapter's tests: a simulator on a controllable clock with
reproducible entropy, httpx clients over its ASGI app (in-process: no browser, no socket), one
for each of its hosts, and a small HTML form reader."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from miroflow_simulator import Simulator

T0 = 1_800_000_000.0
REDIRECT_URI = "http://127.0.0.1:8000/callback"
QUERY_REDIRECT_URI = "http://127.0.0.1:8000/cb?tenant=7"


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def counter_entropy() -> Callable[[int], bytes]:
    count = 0

    def draw(size: int) -> bytes:
        nonlocal count
        count += 1
        out = b""
        while len(out) < size:
            out += hashlib.sha256(f"{count}:{len(out)}".encode()).digest()
        return out[:size]

    return draw


class Form(HTMLParser):
    """The first form of a page: its action, fields (hidden, select) and submit buttons."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.action: str | None = None
        self.method: str | None = None
        self.fields: dict[str, str] = {}
        self.options: dict[str, list[str]] = {}
        self.buttons: list[tuple[str, str, str]] = []
        self.labels: dict[str, str] = {}
        self._select: str | None = None
        self._button: dict[str, str] | None = None
        self._label_for: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action, self.method = a.get("action"), a.get("method", "get").lower()
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a["name"]
            self.options[a["name"]] = []
            self.labels.setdefault("select-id", a.get("id", ""))
        elif tag == "option" and self._select:
            self.options[self._select].append(a["value"])
            if "selected" in a:
                self.fields[self._select] = a["value"]
        elif tag == "button":
            self._button = {"name": a.get("name", ""), "value": a.get("value", ""), "text": ""}
        elif tag == "label":
            self._label_for = a.get("for", "")

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button["text"] += data
        if self._label_for is not None:
            self.labels[self._label_for] = data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "button" and self._button is not None:
            b = self._button
            self.buttons.append((b["name"], b["value"], b["text"]))
            self._button = None
        elif tag == "label":
            self._label_for = None

    def submit(self, button_text: str, **changes: str) -> dict[str, str]:
        """The form data a browser sends when this button is pressed."""
        data = {**self.fields, **changes}
        for name, value, text in self.buttons:
            if text == button_text:
                data[name] = value
                return data
        raise AssertionError(f"no button {button_text!r}")


class AsgiClient:
    """Blocking calls to the simulator's ASGI app through httpx (one event loop per call, no
    socket, no cookie jar), relative to one of its hosts."""

    def __init__(self, sim: Simulator, base_url: str) -> None:
        self.sim = sim
        self.base_url = base_url

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.sim.asgi_app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(call())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@pytest.fixture
def secret_in_url() -> Iterator[None]:
    """For a test whose own HTTP client sends a secret in a URL on purpose (Miro accepts
    parameters in the query string; its deprecated v1 revoke takes the token there): httpx
    logs every request's URL at INFO, so the test's client is kept at WARNING, or the suite's
    secret watch (tests/_secrets_plugin.py) would rightly fail it. It is the reason miroflow
    itself never puts a secret in a URL."""
    logger = logging.getLogger("httpx")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Simulator:
    simulator = Simulator(clock=clock, entropy=counter_entropy())
    simulator.register_app(
        [REDIRECT_URI, QUERY_REDIRECT_URI],
        client_id="3074457363680401096",
        client_secret="the-app-secret-the-app-secret",
    )
    return simulator


@pytest.fixture
def asgi_client(sim: Simulator) -> AsgiClient:
    """httpx over the ASGI app, to the consent host (Miro's miro.com)."""
    return AsgiClient(sim, sim.base_url)


@pytest.fixture
def asgi_api(sim: Simulator) -> AsgiClient:
    """httpx over the ASGI app, to the API host (Miro's api.miro.com)."""
    return AsgiClient(sim, sim.api_url)


@pytest.fixture(scope="session")
def kit() -> Any:
    """Helpers for test files (which cannot import each other)."""

    class _Kit:
        Form = Form
        FakeClock = FakeClock
        counter_entropy = staticmethod(counter_entropy)
        T0 = T0
        REDIRECT_URI = REDIRECT_URI
        QUERY_REDIRECT_URI = QUERY_REDIRECT_URI
        ADA = "3458764517517852417"
        GRACE = "3458764517517852418"
        ALPHA = "3458764517517819000"
        BETA = "3458764517517819001"
        CLIENT_ID = "3074457363680401096"
        SECRET = "the-app-secret-the-app-secret"

        @staticmethod
        def authorize_params(**extra: str) -> dict[str, str]:
            params = {
                "response_type": "code",
                "client_id": "3074457363680401096",
                "redirect_uri": REDIRECT_URI,
                "state": "opaque-state-123",
            }
            params.update(extra)
            return params

        @staticmethod
        def exchange(api: Any, code: str, **overrides: str) -> Any:
            """POST the code exchange to the API host, as the app would."""
            data = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": _Kit.CLIENT_ID,
                "client_secret": _Kit.SECRET,
                **overrides,
            }
            return api.post("/v1/oauth/token", data=data)

    return _Kit
