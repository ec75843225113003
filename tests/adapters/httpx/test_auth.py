"""``MiroAuth``: Miro's REST API called with a miroflow-managed token, against the simulator
(whose ``GET /v1/oauth-token`` stands for any REST call: it answers 401 ``tokenNotFound`` for
a token that stopped working)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import attrs
import httpx
import pytest
from miroflow_httpx import MiroAuth, token_rejected
from miroflow_simulator import Simulator, httpx_transport

import miroflow
import miroflow.machine


@attrs.define
class World:
    sim: Simulator
    client: miroflow.Client
    store: miroflow.MemoryTokenStore
    tokens: miroflow.TokenSet
    url: str

    def requests(self, endpoint: str) -> list[int | None]:
        return [entry.status for entry in self.sim.log if entry.endpoint == endpoint]


@pytest.fixture
def world() -> World:
    sim = Simulator()
    app = sim.register_app()
    sim.auto_approve()
    config = sim.client_config(app)
    store = miroflow.MemoryTokenStore()
    client = miroflow.Client(
        config,
        flows=miroflow.MemoryFlowStore(),
        tokens=store,
        transport=sim.transport,
        clock=sim.now,
    )
    answer = client.start()
    assert answer.location is not None and answer.cookie is not None
    redirect = sim.dispatch(miroflow.HttpRequest(method="GET", url=answer.location))
    assert isinstance(redirect, miroflow.HttpResponse)
    query = urlsplit(redirect.header("Location") or "").query
    tokens = client.handle_callback(query, binding_cookie=answer.cookie.value).tokens
    assert tokens is not None
    return World(sim, client, store, tokens, config.token_context_endpoint)


def test_one_line_to_call_miro(world: World) -> None:
    auth = MiroAuth(world.client, user_id=world.tokens.user_id, team_id=world.tokens.team_id)
    with httpx.Client(auth=auth, transport=httpx_transport(world.sim)) as http:
        response = http.get(world.url)
    assert response.status_code == 200
    assert response.json()["team"]["name"] == "Team Alpha"
    assert world.requests("token_context") == [200]


def test_a_rotated_token_is_refreshed_and_retried_once(world: World) -> None:
    # Another app instance refreshed at Miro without storing here: the stored token is dead.
    world.sim.server.handle(
        miroflow.machine.refresh_request(world.client.config, world.tokens.refresh_token or ""),
        now=world.sim.now(),
    )
    auth = MiroAuth(world.client, user_id=world.tokens.user_id, team_id=world.tokens.team_id)
    with (
        httpx.Client(auth=auth, transport=httpx_transport(world.sim)) as http,
        pytest.raises(miroflow.SignInRequired),  # its refresh token was rotated too
    ):
        http.get(world.url)
    assert world.requests("token_context") == [401]
    assert world.store.get(world.tokens.key) is None


def test_a_token_another_caller_refreshed_is_used_on_retry(world: World) -> None:
    user, team = world.tokens.user_id, world.tokens.team_id

    class Stale(MiroAuth):
        """Sends the old token first, as a caller that read it just before a refresh."""

    auth = Stale(world.client, user_id=user, team_id=team)
    new = world.client.refresh(user, team)  # the old pair is rotated away now
    world.store.put(world.tokens)  # the caller's view: the old token
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Authorization"])
        if len(calls) == 1:
            world.store.put(new)  # meanwhile another caller stored the new token
        return httpx_transport(world.sim).handle_request(request)

    with httpx.Client(auth=auth, transport=httpx.MockTransport(handler)) as http:
        response = http.get(world.url)
    assert response.status_code == 200
    assert calls == [f"Bearer {world.tokens.access_token}", f"Bearer {new.access_token}"]
    assert len(world.sim.token_requests("refresh_token")) == 1  # no second refresh


def test_a_second_401_is_returned_never_looped(world: World) -> None:
    auth = MiroAuth(world.client, user_id=world.tokens.user_id, team_id=world.tokens.team_id)
    refused = httpx.Response(401, json={"status": 401, "code": "tokenNotFound", "type": "error"})
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return refused

    with httpx.Client(auth=auth, transport=httpx.MockTransport(handler)) as http:
        response = http.get(world.url)
    assert response.status_code == 401
    assert len(sent) == 2
    assert len(world.sim.token_requests("refresh_token")) == 1


@pytest.mark.parametrize(
    ("response", "rejected"),
    [
        (httpx.Response(401, json={"code": "tokenNotFound"}), True),
        (httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}), True),
        (httpx.Response(401, json={"code": "tokenNotProvided"}), False),
        (httpx.Response(403, json={"code": "insufficientPermissions"}), False),
        (httpx.Response(401, content=b"not json"), False),
        (httpx.Response(200, json={"code": "tokenNotFound"}), False),
    ],
)
def test_which_401s_say_the_token_is_dead(response: httpx.Response, rejected: bool) -> None:
    assert token_rejected(response) is rejected


def test_async_flow_with_an_async_client(world: World) -> None:
    client = miroflow.AsyncClient(
        world.client.config,
        flows=miroflow.AsyncMemoryFlowStore(),
        tokens=miroflow.AsyncMemoryTokenStore(world.store),
        transport=world.sim.async_transport,
        clock=world.sim.now,
    )
    auth = MiroAuth(client, user_id=world.tokens.user_id, team_id=world.tokens.team_id)

    async def main() -> httpx.Response:
        async with httpx.AsyncClient(auth=auth, transport=httpx_transport(world.sim)) as http:
            return await http.get(world.url)

    assert asyncio.run(main()).status_code == 200
    with (
        httpx.Client(auth=auth, transport=httpx_transport(world.sim)) as http,
        pytest.raises(miroflow.UsageError),
    ):
        http.get(world.url)
