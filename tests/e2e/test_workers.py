"""Many workers: two app processes (the Starlette adapter under uvicorn) on two ports share
one store, Redis or PostgreSQL. A flow started on one finishes on the other, and 50 copies of
one callback spread over both make exactly one token request at the simulated Miro."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import httpx
import psycopg
import pytest
from miroflow_simulator import LoopbackServer, Simulator
from miroflow_simulator.testing import Browser, Site, free_port


@pytest.fixture(params=["redis", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """The shared store's URL and a namespace of this test's own, removed afterwards."""
    namespace = f"e2e_{secrets.token_hex(6)}"
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        yield url, namespace
        import redis

        client = redis.Redis.from_url(url)
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)
        client.close()
    else:
        url = request.getfixturevalue("postgres_url")
        yield url, namespace
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{namespace}" CASCADE')


@pytest.fixture
def workers(store: tuple[str, str], spawn: Any) -> Iterator[tuple[Site, list[str]]]:
    """Two workers; the site is the first (the redirect URI's); the workers' URLs."""
    url, namespace = store
    ports = [free_port(), free_port()]
    with LoopbackServer(Simulator()) as miro:
        simulator = miro.simulator
        redirect_uri = f"http://127.0.0.1:{ports[0]}/miro/callback"
        app = simulator.register_app([redirect_uri])
        env = {
            **simulator.environment(app),
            "MIROFLOW_STORE": url,
            "MIROFLOW_NAMESPACE": namespace,
            "SESSION_SECRET": secrets.token_urlsafe(16),
        }
        with ExitStack() as stack:
            for port in ports:
                stack.enter_context(
                    spawn(["tests/e2e/workers_app.py"], port, {**env, "PORT": str(port)})
                )
            urls = [f"http://127.0.0.1:{port}" for port in ports]
            site = Site(url=urls[0], config=simulator.client_config(app), simulator=simulator)
            yield site, urls


def test_a_flow_started_on_one_worker_finishes_on_the_other(
    workers: tuple[Site, list[str]],
) -> None:
    site, (first, second) = workers
    browser = Browser(site)
    try:
        back = browser.to_miro("next=/boards")
        landed = browser.get(back.replace(first, second, 1))
        assert landed.status_code == 303
        assert landed.headers["location"] == "/boards"
        for url in (first, second):  # the session is every worker's
            assert browser.get(f"{url}/boards").text.startswith("Signed in in team ")
    finally:
        browser.close()
    assert len(site.simulator.token_requests("authorization_code")) == 1


def test_fifty_copies_of_one_callback_over_both_workers_make_one_token_request(
    workers: tuple[Site, list[str]],
) -> None:
    site, urls = workers
    browser = Browser(site)
    try:
        back = browser.to_miro()
        binding = browser.http.cookies[site.config.binding_cookie_name]
    finally:
        browser.close()
    copies = [back.replace(urls[0], urls[i % 2], 1) for i in range(50)]
    cookie = {"Cookie": f"{site.config.binding_cookie_name}={binding}"}

    def replay(url: str) -> int:
        with httpx.Client(timeout=30.0) as http:
            return http.get(url, headers=cookie).status_code

    with ThreadPoolExecutor(max_workers=25) as pool:
        statuses = list(pool.map(replay, copies))
    assert sorted(set(statuses)) == [303, 409]
    assert statuses.count(303) == 1
    assert len(site.simulator.token_requests("authorization_code")) == 1
