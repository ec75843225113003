"""The pytest plugin's fixtures (loaded through the pytest11 entry point) and the loopback
server behind the second one."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from miroflow_simulator import FaultKind, LoopbackServer, Simulator, httpx_transport

import miroflow
from miroflow import Client, MemoryFlowStore, MemoryTokenStore, TransportTimeout


def test_in_process_fixture_completes_a_flow(miro_simulator: Simulator) -> None:
    assert len(miro_simulator.apps) == 1
    miro_simulator.auto_approve()
    client = Client(
        miro_simulator.client_config(),
        flows=MemoryFlowStore(),
        tokens=MemoryTokenStore(),
        transport=miro_simulator.transport,
        clock=miro_simulator.now,  # entropy: os.urandom, the default
    )
    started = client.start()
    assert started.location is not None
    with httpx.Client(transport=httpx_transport(miro_simulator)) as b:
        redirect = b.get(started.location)
    query = urlsplit(redirect.headers["location"]).query
    miro_simulator.inject_fault(FaultKind.STALL)
    assert started.cookie is not None
    answer = client.handle_callback(query, binding_cookie=started.cookie.value)
    assert isinstance(answer.error, TransportTimeout)
    before = miro_simulator.now()
    assert miro_simulator.advance(30) >= before + 30


def test_loopback_fixture_serves_over_a_real_socket(
    miro_simulator_server: LoopbackServer, kit: Any
) -> None:
    base = miro_simulator_server.base_url
    assert base.startswith("http://127.0.0.1:")
    sim = miro_simulator_server.simulator
    app = next(iter(sim.apps.values()))
    with httpx.Client(base_url=base, timeout=10) as http:
        # controls over HTTP, as a subprocess app's test would use them
        assert http.post("/_simulator/auto-approve", json={}).status_code == 204
        redirect = http.get(
            "/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": app.client_id,
                "redirect_uri": app.redirect_uris[0],
                "state": "s",
            },
        )
        assert redirect.status_code == 302
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        assert http.post("/_simulator/clock/advance", json={"seconds": 600}).status_code == 200
        exchange = http.post(
            f"{miro_simulator_server.api_url}/v1/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": app.redirect_uris[0],
                "client_id": app.client_id,
                "client_secret": app.client_secret.reveal(),
            },
        )
        assert exchange.status_code == 401
        assert exchange.json()["message"] == "Invalid authorization code"
        assert exchange.headers["cache-control"] == "no-store"
        log = http.get("/_simulator/log").json()["requests"]
        assert [(e["endpoint"], e["status"]) for e in log] == [("token", 401)]


def test_loopback_stall_times_the_client_out(miro_simulator_server: LoopbackServer) -> None:
    miro_simulator_server.simulator.inject_fault(FaultKind.STALL, seconds=30)
    url = f"{miro_simulator_server.api_url}/v1/oauth/token"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, data={"grant_type": "authorization_code"}, timeout=0.3)
    # the server is still healthy afterwards
    assert httpx.get(f"{miro_simulator_server.base_url}/_simulator/state").status_code == 200


def test_loopback_server_can_be_used_directly() -> None:
    simulator = Simulator()
    with LoopbackServer(simulator) as server:
        assert simulator.base_url == server.base_url
        assert httpx.get(f"{server.base_url}/").status_code == 200


def test_in_process_fixture_hosts_cannot_be_reached_by_a_real_transport(
    miro_simulator: Simulator,
) -> None:
    """A test that mistakenly uses a real transport fails to resolve the host; it never
    reaches a simulator that happens to run on this machine's documented port."""
    config = miro_simulator.client_config()
    for endpoint in (config.authorize_endpoint, config.token_endpoint):
        assert urlsplit(endpoint).hostname.endswith(".invalid")  # type: ignore[union-attr]
    assert "8765" not in config.token_endpoint
    with pytest.raises(httpx.ConnectError):
        httpx.post(config.token_endpoint, data={"grant_type": "authorization_code"}, timeout=5)


def test_loopback_fixture_serves_two_hosts_on_two_ports(
    miro_simulator_server: LoopbackServer,
) -> None:
    base, api = miro_simulator_server.base_url, miro_simulator_server.api_url
    assert base != api and urlsplit(base).port != urlsplit(api).port
    config = miro_simulator_server.simulator.client_config()
    assert config.authorize_endpoint.startswith(base) and config.token_endpoint.startswith(api)
    assert httpx.post(f"{base}/v1/oauth/token").status_code == 404  # not the API host
    assert httpx.post(f"{api}/v1/oauth/token").json()["code"] == "invalidParameters"


@pytest.mark.miro_simulator(
    redirect_uris=["http://localhost:5000/auth/miro", "http://localhost:5000/other"],
    expiring=False,
    client_id="777",
)
def test_the_marker_sets_the_fixture_app(miro_simulator: Simulator) -> None:
    (app,) = miro_simulator.apps.values()
    assert app.redirect_uris == ("http://localhost:5000/auth/miro", "http://localhost:5000/other")
    assert app.expiring is False and app.client_id == "777"
    assert miro_simulator.client_config().redirect_uri == "http://localhost:5000/auth/miro"


@pytest.mark.miro_simulator(redirect_uris=["http://localhost:5001/cb"])
def test_the_marker_sets_the_server_fixture_app(miro_simulator_server: LoopbackServer) -> None:
    (app,) = miro_simulator_server.simulator.apps.values()
    assert app.redirect_uris == ("http://localhost:5001/cb",)


class TestRedirectUriFixtureOverride:
    @pytest.fixture
    def miro_simulator_redirect_uri(self) -> str:
        return "http://127.0.0.1:9999/miro/callback"

    def test_the_overridden_redirect_uri_is_registered(self, miro_simulator: Simulator) -> None:
        config = miro_simulator.client_config()
        assert config.redirect_uri == "http://127.0.0.1:9999/miro/callback"


def test_environment_points_from_env_at_the_simulator(
    miro_simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in miro_simulator.environment().items():
        monkeypatch.setenv(name, value)
    assert miroflow.ClientConfig.from_env() == miro_simulator.client_config()


def test_a_single_origin_loopback_server_routes_by_path() -> None:
    with LoopbackServer(Simulator(), single_origin=True) as server:
        assert server.api_url == server.base_url == server.simulator.api_url
        assert httpx.post(f"{server.base_url}/v1/oauth/token").status_code == 400
        assert httpx.get(f"{server.base_url}/").status_code == 200
