"""Where the simulator follows Miro's shapes: two hosts, Miro's JSON errors on every API path,
the deprecated v1 revoke, IDs as strings or bare numbers, and an empty state. Through the ASGI
app (httpx in-process); test_cli.py repeats the host checks over real sockets."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from miroflow_simulator import DEFAULT_API_URL, DEFAULT_BASE_URL, Simulator

from miroflow import HttpRequest


def _code(asgi_client: Any, sim: Simulator, kit: Any, **params: str) -> str:
    sim.auto_approve()
    location = asgi_client.get("/oauth/authorize", params=kit.authorize_params(**params))
    sim.manual_approve()
    code: str = parse_qs(urlsplit(location.headers["location"]).query)["code"][0]
    return code


def _tokens(asgi_api: Any, kit: Any, code: str) -> Any:
    return asgi_api.post(
        "/v1/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": kit.REDIRECT_URI,
            "client_id": kit.CLIENT_ID,
            "client_secret": kit.SECRET,
        },
    )


# --- two hosts --------------------------------------------------------------------------------


def test_the_defaults_are_two_hosts_that_cannot_resolve(sim: Simulator) -> None:
    assert (sim.base_url, sim.api_url) == (DEFAULT_BASE_URL, DEFAULT_API_URL)
    assert sim.base_url.endswith(".invalid") and sim.api_url.endswith(".invalid")
    config = sim.client_config()
    assert config.authorize_endpoint.startswith(DEFAULT_BASE_URL + "/")
    for endpoint in (config.token_endpoint, config.revoke_endpoint, config.token_context_endpoint):
        assert endpoint.startswith(DEFAULT_API_URL + "/")


@pytest.mark.parametrize(
    ("base_url", "api_url"),
    [
        ("https://miro.simulated", "https://api.miro.simulated"),
        ("http://sim.test:8080", "http://api.sim.test:8080"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),  # an IP has no subdomain
    ],
)
def test_the_api_host_is_derived_from_the_consent_host(base_url: str, api_url: str) -> None:
    assert Simulator(base_url=base_url).api_url == api_url


def test_an_api_call_on_the_consent_host_is_refused(
    asgi_client: Any, asgi_api: Any, sim: Simulator, kit: Any
) -> None:
    code = _code(asgi_client, sim, kit)
    wrong = asgi_client.post(
        "/v1/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": kit.CLIENT_ID},
    )
    assert wrong.status_code == 404 and wrong.headers["content-type"].startswith("text/html")
    assert sim.log == ()  # the API never saw it, and the code is still good
    assert _tokens(asgi_api, kit, code).status_code == 200
    # and through miroflow's transport too, in-process
    misdirected = sim.transport.send(
        HttpRequest(method="POST", url=f"{sim.base_url}/v1/oauth/token", body=b"grant_type=x")
    )
    assert misdirected.status == 404


def test_the_consent_page_is_not_on_the_api_host(asgi_api: Any, kit: Any) -> None:
    answer = asgi_api.get("/oauth/authorize", params=kit.authorize_params())
    assert answer.status_code == 404 and answer.json()["type"] == "error"


def test_one_origin_for_both_roles_routes_by_path(kit: Any) -> None:
    sim = Simulator(base_url="http://127.0.0.1:9000")
    sim.register_app([kit.REDIRECT_URI])
    assert sim.api_url == sim.base_url
    token = sim.transport.send(
        HttpRequest(method="POST", url=f"{sim.base_url}/v1/oauth/token", body=b"grant_type=x")
    )
    assert token.status == 400 and json.loads(token.body)["code"] == "invalidParameters"


# --- Miro's JSON on every API path --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v2/boards"), ("POST", "/v1/oauth/nothing"), ("GET", "/"), ("GET", "/favicon.ico")],
)
def test_unknown_api_paths_answer_miros_json_error(asgi_api: Any, method: str, path: str) -> None:
    answer = asgi_api.request(method, path)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"status", "code", "message", "type"}
    assert (body["status"], body["code"], body["type"]) == (404, "notFound", "error")


def test_a_wrong_method_on_the_api_is_json_too(asgi_api: Any) -> None:
    answer = asgi_api.get("/v1/oauth/revoke")
    assert answer.status_code == 405 and answer.json()["type"] == "error"


# --- v1 revoke (deprecated) ---------------------------------------------------------------------


@pytest.mark.usefixtures("secret_in_url")
def test_v1_revoke_takes_the_token_in_the_query(
    asgi_client: Any, asgi_api: Any, sim: Simulator, kit: Any
) -> None:
    tokens = _tokens(asgi_api, kit, _code(asgi_client, sim, kit)).json()
    revoked = asgi_api.post("/v1/oauth/revoke", params={"access_token": tokens["access_token"]})
    assert (revoked.status_code, revoked.content) == (204, b"")
    assert sim.server.pair_state(tokens["refresh_token"]).value == "pair_revoked"
    refresh = asgi_api.post(
        "/v1/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": kit.CLIENT_ID,
            "client_secret": kit.SECRET,
        },
    )
    assert refresh.status_code == 401  # the refresh token died with it
    again = asgi_api.post("/v1/oauth/revoke", params={"access_token": tokens["access_token"]})
    assert again.status_code == 404 and again.json()["code"] == "notFound"
    missing = asgi_api.post("/v1/oauth/revoke")
    assert missing.status_code == 400 and missing.json()["code"] == "invalidParameters"
    logged = [(entry.endpoint, entry.status) for entry in sim.log if entry.endpoint == "revoke_v1"]
    assert logged == [("revoke_v1", 204), ("revoke_v1", 404), ("revoke_v1", 400)]


@pytest.mark.usefixtures("secret_in_url")
def test_v1_revoke_of_an_unknown_token_can_answer_204(asgi_client: Any, asgi_api: Any) -> None:
    unknown = {"access_token": "never-issued-never-issued"}
    assert asgi_api.post("/v1/oauth/revoke", params=unknown).status_code == 404
    state = asgi_client.post("/_simulator/settings", json={"v1_revoke_unknown_ok": True}).json()
    assert state["v1_revoke_unknown_ok"] is True
    assert asgi_api.post("/v1/oauth/revoke", params=unknown).status_code == 204


# --- IDs as strings or numbers ------------------------------------------------------------------


def test_each_id_form_is_selectable(
    asgi_client: Any, asgi_api: Any, sim: Simulator, kit: Any
) -> None:
    assert _tokens(asgi_api, kit, _code(asgi_client, sim, kit)).json()["user_id"] == kit.ADA
    settings = {"number_ids": ["user_id", "organization_id"]}
    assert asgi_client.post("/_simulator/settings", json=settings).status_code == 200
    answer = _tokens(asgi_api, kit, _code(asgi_client, sim, kit))
    assert answer.text.startswith(f'{{"user_id":{kit.ADA},')  # a bare number above 2**53
    assert f'"team_id":"{kit.ALPHA}"' in answer.text  # still a string
    context = asgi_api.get(
        "/v1/oauth-token", headers={"Authorization": f"Bearer {answer.json()['access_token']}"}
    )
    organization = '"name":"Simulated Organization","id":3458764500000000001}'
    assert organization in context.text
    assert f'"id":{kit.ADA}' in context.text and f'"id":"{kit.ALPHA}"' in context.text
    bad = asgi_client.post("/_simulator/settings", json={"number_ids": ["board_id"]})
    assert bad.status_code == 400


# --- an empty state -----------------------------------------------------------------------------


def _callback(asgi_client: Any, kit: Any, button: str) -> dict[str, list[str]]:
    form = kit.Form(asgi_client.get("/oauth/authorize", params=kit.authorize_params(state="")).text)
    answer = asgi_client.post(form.action, data=form.submit(button))
    assert answer.status_code == 302
    return parse_qs(urlsplit(answer.headers["location"]).query, keep_blank_values=True)


def test_an_empty_state_comes_back_empty_by_default(asgi_client: Any, kit: Any) -> None:
    assert _callback(asgi_client, kit, "Install & authorize")["state"] == [""]
    assert _callback(asgi_client, kit, "Cancel")["state"] == [""]


def test_an_empty_state_can_be_dropped(asgi_client: Any, kit: Any) -> None:
    assert (
        asgi_client.post("/_simulator/settings", json={"return_empty_state": False}).json()[
            "return_empty_state"
        ]
        is False
    )
    assert "state" not in _callback(asgi_client, kit, "Install & authorize")
    assert "state" not in _callback(asgi_client, kit, "Cancel")
