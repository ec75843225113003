"""The pytest plugin's fixtures (loaded through the pytest11 entry point) and the loopback
server behind the second one."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from miroflow_simulator import FaultKind, LoopbackServer, Simulator, httpx_transport

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
            "/v1/oauth/token",
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
    url = f"{miro_simulator_server.base_url}/v1/oauth/token"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, data={"grant_type": "authorization_code"}, timeout=0.3)
    # the server is still healthy afterwards
    assert httpx.get(f"{miro_simulator_server.base_url}/_simulator/state").status_code == 200


def test_loopback_server_can_be_used_directly() -> None:
    simulator = Simulator()
    with LoopbackServer(simulator) as server:
        assert simulator.base_url == server.base_url
        assert httpx.get(f"{server.base_url}/").status_code == 200
