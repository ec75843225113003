"""The contract: miroflow's client and the simulator complete a flow together in-process, and
every fault the simulator injects reaches the client as the right typed error."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from miroflow_simulator import FaultKind, Simulator, httpx_transport

from miroflow import (
    Answer,
    AsyncClient,
    AsyncMemoryFlowStore,
    AsyncMemoryTokenStore,
    AuthorizationDenied,
    BindingMismatch,
    Client,
    HttpRequest,
    HttpResponse,
    MemoryFlowStore,
    MemoryTokenStore,
    MiroflowError,
    MissingBindingCookie,
    StateAlreadyUsed,
    TokenRequestRejected,
    TokenResponseMalformed,
    TransportTimeout,
)
from miroflow.machine import parse_token_response, refresh_request, revoke_request


def _client(sim: Simulator, kit: Any, **config: Any) -> Client:
    return Client(
        sim.client_config(**config),
        flows=MemoryFlowStore(),
        tokens=MemoryTokenStore(),
        transport=sim.transport,
        clock=sim.now,
        entropy=kit.counter_entropy(),
    )


def _binding(started: Answer) -> str:
    """The binding cookie's value, as the browser sends it back."""
    cookie = started.cookie
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    return cookie.value


def _consent_auto(sim: Simulator, location: str) -> str:
    """The browser at the authorize URL, with auto-approve on: the callback's query."""
    answer = sim.dispatch(HttpRequest(method="GET", url=location))
    assert isinstance(answer, HttpResponse) and answer.status == 302
    callback = answer.header("Location")
    assert callback is not None and callback.startswith(sim.client_config().redirect_uri)
    return urlsplit(callback).query


def _consent_form(sim: Simulator, kit: Any, location: str, button: str) -> str:
    """The browser at the authorize URL, reading and submitting the consent form."""
    with httpx.Client(transport=httpx_transport(sim)) as browser:
        page = browser.get(location)
        assert page.status_code == 200
        form = kit.Form(page.text)
        answer = browser.post(
            f"{sim.base_url}{form.action}", data=form.submit(button, team_id=kit.BETA)
        )
    assert answer.status_code == 302
    return urlsplit(answer.headers["location"]).query


def test_whole_flow_through_the_consent_form(sim: Simulator, kit: Any) -> None:
    client = _client(sim, kit)
    started = client.start()
    assert started.status == 302 and started.location is not None
    assert started.location.startswith(f"{sim.base_url}/oauth/authorize?")
    cookie = _binding(started)
    query = _consent_form(sim, kit, started.location, "Install & authorize")
    done = client.handle_callback(query, binding_cookie=cookie)
    assert done.status == 303, done.error
    assert done.location == client.config.success_path
    assert done.tokens is not None
    assert done.tokens.team_id == kit.BETA and done.tokens.user_id == kit.ADA
    assert done.tokens.client_id == kit.CLIENT_ID == done.tokens.key.client_id
    assert done.tokens.expires_at == sim.now() + 3599
    stored = client.tokens.get(done.tokens.key)
    assert stored is not None and stored.tokens == done.tokens
    assert len(sim.token_requests("authorization_code")) == 1
    # the tokens work against the simulator: context, rotation, revocation
    access = done.tokens.access_token
    context = sim.transport.send(
        HttpRequest(
            method="GET",
            url=client.config.token_context_endpoint,
            headers=(("Authorization", f"Bearer {access}"),),
        )
    )
    assert context.status == 200
    assert done.tokens.refresh_token is not None
    rotated = sim.transport.send(refresh_request(client.config, done.tokens.refresh_token))
    fresh = parse_token_response(rotated, now=sim.now(), client_id=client.config.client_id)
    assert fresh.access_token != access and fresh.key == done.tokens.key
    assert sim.transport.send(revoke_request(client.config, access)).status == 404
    assert sim.transport.send(revoke_request(client.config, fresh.access_token)).status == 204


def test_whole_flow_with_auto_approve_and_pkce(sim: Simulator, kit: Any) -> None:
    sim.auto_approve()
    client = _client(sim, kit, pkce=True)
    started = client.start(team_id=kit.BETA)
    assert started.location is not None and "code_challenge=" in started.location
    query = _consent_auto(sim, started.location)
    done = client.handle_callback(query, binding_cookie=_binding(started))
    assert done.tokens is not None and done.tokens.team_id == kit.BETA


def test_cancel_reaches_the_client_as_a_denial(sim: Simulator, kit: Any) -> None:
    client = _client(sim, kit)
    started = client.start()
    assert started.location is not None
    query = _consent_form(sim, kit, started.location, "Cancel")
    done = client.handle_callback(query, binding_cookie=_binding(started))
    assert isinstance(done.error, AuthorizationDenied)
    assert done.error.error == "access_denied"
    assert sim.token_requests() == ()


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        (FaultKind.SERVER_ERROR, TokenRequestRejected),
        (FaultKind.NOT_JSON, TokenResponseMalformed),
        (FaultKind.HUGE_BODY, TokenResponseMalformed),
        (FaultKind.REDIRECT, TokenResponseMalformed),
        (FaultKind.STALL, TransportTimeout),
    ],
)
def test_each_fault_surfaces_as_its_typed_error(
    sim: Simulator, kit: Any, fault: FaultKind, error_type: type[MiroflowError]
) -> None:
    sim.auto_approve()
    client = _client(sim, kit)
    started = client.start()
    assert started.location is not None
    sim.inject_fault(fault)
    done = client.handle_callback(
        _consent_auto(sim, started.location), binding_cookie=_binding(started)
    )
    assert type(done.error) is error_type
    assert done.tokens is None
    assert [entry.fault for entry in sim.token_requests("authorization_code")] == [fault]


def test_expired_code_is_rejected_with_miros_message(sim: Simulator, kit: Any) -> None:
    sim.auto_approve()
    client = _client(sim, kit)
    started = client.start()
    assert started.location is not None
    query = _consent_auto(sim, started.location)
    sim.advance(600)  # between Miro's redirect and the callback reaching the app
    done = client.handle_callback(query, binding_cookie=_binding(started))
    assert isinstance(done.error, TokenRequestRejected)
    assert done.error.http_status == 401
    assert done.error.description == "Invalid authorization code"


def test_code_at_599_999_seconds_still_works(sim: Simulator, kit: Any) -> None:
    sim.auto_approve()
    client = _client(sim, kit)
    started = client.start()
    assert started.location is not None
    query = _consent_auto(sim, started.location)
    sim.advance(599.999)
    done = client.handle_callback(query, binding_cookie=_binding(started))
    assert done.tokens is not None


def test_replayed_callback_is_state_already_used_and_exchanges_once(
    sim: Simulator, kit: Any
) -> None:
    sim.auto_approve()
    client = _client(sim, kit)
    started = client.start()
    assert started.location is not None
    query = _consent_auto(sim, started.location)
    cookie = _binding(started)
    assert client.handle_callback(query, binding_cookie=cookie).tokens is not None
    replay = client.handle_callback(query, binding_cookie=cookie)
    assert isinstance(replay.error, StateAlreadyUsed)
    assert len(sim.token_requests("authorization_code")) == 1


def test_another_browsers_callback_exchanges_nothing_and_the_owner_still_finishes(
    sim: Simulator, kit: Any
) -> None:
    sim.auto_approve()
    client = _client(sim, kit)
    started = client.start()
    other = client.start()  # a second browser, with a binding of its own
    assert started.location is not None
    query = _consent_auto(sim, started.location)
    no_cookie = client.handle_callback(query, binding_cookie=None)
    wrong_cookie = client.handle_callback(query, binding_cookie=_binding(other))
    assert isinstance(no_cookie.error, MissingBindingCookie)
    assert isinstance(wrong_cookie.error, BindingMismatch)
    assert no_cookie.status == wrong_cookie.status == 400
    assert sim.token_requests() == ()
    done = client.handle_callback(query, binding_cookie=_binding(started))
    assert done.status == 303 and done.tokens is not None
    assert len(sim.token_requests("authorization_code")) == 1


def test_async_client_completes_a_flow(sim: Simulator, kit: Any) -> None:
    sim.auto_approve()
    client = AsyncClient(
        sim.client_config(),
        flows=AsyncMemoryFlowStore(),
        tokens=AsyncMemoryTokenStore(),
        transport=sim.async_transport,
        clock=sim.now,
        entropy=kit.counter_entropy(),
    )

    async def flow() -> Any:
        started = await client.start()
        assert started.location is not None
        query = _consent_auto(sim, started.location)
        return await client.handle_callback(query, binding_cookie=_binding(started))

    done = asyncio.run(flow())
    assert done.tokens is not None
    sim.inject_fault(FaultKind.STALL)
    stalled = asyncio.run(flow())
    assert isinstance(stalled.error, TransportTimeout)


def test_httpx_transport_raises_read_timeout_on_a_stall(sim: Simulator) -> None:
    sim.inject_fault("stall")
    with httpx.Client(transport=httpx_transport(sim)) as http, pytest.raises(httpx.ReadTimeout):
        http.post(f"{sim.api_url}/v1/oauth/token", data={"grant_type": "x"})
