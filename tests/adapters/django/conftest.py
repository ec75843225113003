"""One Django configuration for the whole test process (Django's settings are process-wide):
sessions in signed cookies, no database. Each test puts its own client and hooks in place the
way an app's tests would, with ``override_settings(MIROFLOW=...)`` (the ``project`` fixture),
together with a fresh URLconf, so the routes follow the client's configuration. An
``AsyncClient`` project (async views) is served under ASGI by uvicorn (``uvicorn_serving``)."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlsplit

import django
import miroflow_django
import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client as Browser
from django.test.utils import override_settings
from django.urls import include, path
from django.utils.html import format_html
from miroflow_simulator import Simulator
from miroflow_simulator.testing import serving_asgi

import miroflow

SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
REDIRECT_URI = "http://127.0.0.1:8000/miro/callback"

if not settings.configured:
    settings.configure(
        SECRET_KEY="miroflow-django-tests: signs test sessions only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        ROOT_URLCONF="miroflow_django.urls",  # each test's project puts its own in place
        MIDDLEWARE=[SESSIONS],
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        MIROFLOW={},
    )
    django.setup()


def _page(tokens: miroflow.TokenSet | None) -> HttpResponse:
    if tokens is None:
        return HttpResponse("Not signed in")
    text = "Signed in as user {} in team {}"
    return HttpResponse(format_html(text, tokens.user_id, tokens.team_id))


def home(request: HttpRequest) -> HttpResponse:
    """The app's page: who is signed in, as ``current_tokens`` says."""
    return _page(miroflow_django.current_tokens(request))


async def ahome(request: HttpRequest) -> HttpResponse:
    """The app's page as an async view: who is signed in, as ``acurrent_tokens`` says."""
    return _page(await miroflow_django.acurrent_tokens(request))


def urlconf(page: Callable[..., Any] = home) -> types.ModuleType:
    """A project's URLconf: miroflow's routes and a home page (a fresh module each time: Django
    keeps one resolver per URLconf)."""
    module = types.ModuleType("miroflow_django_test_urls")
    module.urlpatterns = [  # type: ignore[attr-defined]
        path("", include("miroflow_django.urls")),
        path("", page),
        path("boards", page),
    ]
    return module


Project = Callable[..., None]


@pytest.fixture
def project() -> Iterator[Project]:
    """``project(CLIENT=client, ON_SIGNED_IN=..., ..., django_settings={...})``: the
    ``MIROFLOW`` setting (and any other settings) for this test, undone after it, and a URLconf
    with miroflow's routes and the home page (unless ``urls=False``; ``async_home=True``: an
    async view's)."""
    overrides: list[override_settings] = []

    def configure(
        django_settings: dict[str, Any] | None = None,
        urls: bool = True,
        async_home: bool = False,
        **miroflow_setting: Any,
    ) -> None:
        override = override_settings(MIROFLOW=miroflow_setting, **(django_settings or {}))
        override.enable()
        overrides.append(override)
        if urls:
            # After MIROFLOW: including miroflow_django.urls reads the client's paths.
            override = override_settings(ROOT_URLCONF=urlconf(ahome if async_home else home))
            override.enable()
            overrides.append(override)

    yield configure
    for override in reversed(overrides):
        override.disable()


@pytest.fixture
def miro_simulator_redirect_uri() -> str:
    return REDIRECT_URI


@pytest.fixture
def client(miro_simulator: Simulator) -> miroflow.Client:
    return miroflow.Client(
        miro_simulator.client_config(),
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=miro_simulator.transport,
        clock=miro_simulator.now,
    )


@pytest.fixture
def async_client(miro_simulator: Simulator) -> miroflow.AsyncClient:
    return miroflow.AsyncClient(
        miro_simulator.client_config(),
        flows=miroflow.AsyncMemoryFlowStore(),
        tokens=miroflow.AsyncMemoryTokenStore(),
        transport=miro_simulator.async_transport,
        clock=miro_simulator.now,
    )


@pytest.fixture
def browser() -> Browser:
    return Browser()


@pytest.fixture
def to_miro_and_back(miro_simulator: Simulator) -> Callable[[str], str]:
    """A browser at Miro: follow the login route's redirect, click "Install & authorize" (auto
    approve), and give back the path and query Miro sends the browser back to."""

    def follow(authorize_url: str) -> str:
        miro_simulator.auto_approve()
        back = miro_simulator.dispatch(miroflow.HttpRequest(method="GET", url=authorize_url))
        assert isinstance(back, miroflow.HttpResponse) and back.status == 302
        location = back.header("Location")
        assert location is not None and location.startswith(REDIRECT_URI + "?")
        parts = urlsplit(location)
        return f"{parts.path}?{parts.query}"

    return follow


@pytest.fixture
def uvicorn_serving() -> Callable[[Any, str], AbstractContextManager[None]]:
    """``with uvicorn_serving(asgi_app, url):`` the app under uvicorn on ``url``'s host and
    port, in a thread, until the block ends."""
    return serving_asgi
