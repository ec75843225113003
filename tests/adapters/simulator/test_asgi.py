"""Every endpoint and error through the ASGI app (httpx in-process: no socket). The loopback
and command tests (test_plugin.py, test_cli.py) cover real sockets."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from miroflow_simulator import FaultKind


def _code(asgi_client: Any, sim: Any, kit: Any) -> str:
    sim.auto_approve()
    location: str = asgi_client.get("/oauth/authorize", params=kit.authorize_params()).headers[
        "location"
    ]
    sim.manual_approve()
    code: str = parse_qs(urlsplit(location).query)["code"][0]
    return code


def test_token_exchange_success_and_reuse(
    asgi_client: Any, asgi_api: Any, sim: Any, kit: Any
) -> None:
    code = _code(asgi_client, sim, kit)
    first = kit.exchange(asgi_api, code)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    assert first.headers["content-type"].startswith("application/json")
    body = first.json()
    assert body["expires_in"] == 3599 and body["token_type"] == "bearer"
    assert body["scope"] == "boards:read boards:write"
    again = kit.exchange(asgi_api, code)
    assert again.status_code == 401
    assert again.json() == {
        "status": 401,
        "code": "oauthError",
        "message": "Invalid authorization code",
        "type": "error",
    }
    assert again.headers["cache-control"] == "no-store"


@pytest.mark.usefixtures("secret_in_url")
def test_token_params_in_the_query_string(
    asgi_client: Any, asgi_api: Any, sim: Any, kit: Any
) -> None:
    code = _code(asgi_client, sim, kit)
    params = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": kit.REDIRECT_URI,
        "client_id": kit.CLIENT_ID,
        "client_secret": kit.SECRET,
    }
    assert asgi_api.post("/v1/oauth/token", params=params).status_code == 200


def test_redirect_mismatch_and_wrong_secret(
    asgi_client: Any, asgi_api: Any, sim: Any, kit: Any
) -> None:
    code = _code(asgi_client, sim, kit)
    wrong_secret = kit.exchange(asgi_api, code, client_secret="nope")
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["code"] == "oauthError"
    mismatch = kit.exchange(asgi_api, code, redirect_uri=kit.REDIRECT_URI + "/")
    assert mismatch.json()["message"] == "Redirect URI mismatch."
    assert kit.exchange(asgi_api, code).status_code == 401  # burned


def test_expired_code_through_asgi(asgi_client: Any, asgi_api: Any, sim: Any, kit: Any) -> None:
    code = _code(asgi_client, sim, kit)
    advanced = asgi_client.post("/_simulator/clock/advance", json={"seconds": 600})
    assert advanced.status_code == 200
    assert advanced.json()["now"] == kit.T0 + 600
    assert kit.exchange(asgi_api, code).json()["message"] == "Invalid authorization code"


def test_refresh_revoke_and_context(asgi_client: Any, asgi_api: Any, sim: Any, kit: Any) -> None:
    tokens = kit.exchange(asgi_api, _code(asgi_client, sim, kit)).json()
    context = asgi_api.get(
        "/v1/oauth-token", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert context.status_code == 200
    assert context.headers["cache-control"] == "no-store"
    assert set(context.json()) == {"type", "organization", "team", "createdBy", "user", "scopes"}
    refreshed = asgi_api.post(
        "/v1/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": kit.CLIENT_ID,
            "client_secret": kit.SECRET,
        },
    )
    assert refreshed.status_code == 200
    new = refreshed.json()
    old_context = asgi_api.get(
        "/v1/oauth-token", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert old_context.status_code == 401
    revoke = {"accessToken": new["access_token"], "clientId": kit.CLIENT_ID}
    revoked = asgi_api.post("/v2/oauth/revoke", json={**revoke, "clientSecret": kit.SECRET})
    assert (revoked.status_code, revoked.content) == (204, b"")
    gone = asgi_api.post("/v2/oauth/revoke", json={**revoke, "clientSecret": kit.SECRET})
    assert gone.status_code == 404
    assert asgi_api.post("/v2/oauth/revoke", content=b"not json").status_code == 400
    assert asgi_api.get("/v1/oauth-token").status_code == 401


def test_big_team_ids_switch(asgi_client: Any, asgi_api: Any, sim: Any, kit: Any) -> None:
    assert asgi_client.post("/_simulator/big-team-ids", json={"enabled": True}).status_code == 204
    answer = kit.exchange(asgi_api, _code(asgi_client, sim, kit))
    assert f'"team_id":{kit.ALPHA}'.encode() in answer.content


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [
        ("server_error", 500, "text/html"),
        ("not_json", 200, "text/html"),
        ("huge_body", 200, "application/json"),
        ("redirect", 307, None),
    ],
)
def test_faults_through_asgi(
    asgi_client: Any,
    asgi_api: Any,
    sim: Any,
    kit: Any,
    kind: str,
    status: int,
    content_type: str | None,
) -> None:
    code = _code(asgi_client, sim, kit)
    assert (
        asgi_client.post("/_simulator/faults", json={"kind": kind, "count": 2}).status_code == 204
    )
    for _ in range(2):
        answer = kit.exchange(asgi_api, code)
        assert answer.status_code == status
        if content_type:
            assert answer.headers["content-type"].startswith(content_type)
    if kind == "huge_body":
        assert len(answer.content) > 1024 * 1024
    if kind == "redirect":
        assert answer.headers["location"].startswith(sim.base_url)
    assert kit.exchange(asgi_api, code).status_code == 200  # faults spare the model
    log = asgi_client.get("/_simulator/log").json()["requests"]
    assert [entry["fault"] for entry in log] == [kind, kind, None]
    assert [entry["grant_type"] for entry in log] == ["authorization_code"] * 3


def test_stall_over_asgi_answers_504_when_the_client_outwaits_it(
    asgi_client: Any, asgi_api: Any, sim: Any, kit: Any
) -> None:
    sim.inject_fault(FaultKind.STALL, seconds=0.01)
    assert kit.exchange(asgi_api, "whatever-code").status_code == 504
    assert sim.log[-1].status is None and sim.log[-1].fault is FaultKind.STALL


def test_control_surface(asgi_client: Any, asgi_api: Any, sim: Any, kit: Any) -> None:
    state = asgi_client.get("/_simulator/state").json()
    assert state["apps"][0]["client_id"] == kit.CLIENT_ID
    assert kit.SECRET not in asgi_client.get("/_simulator/state").text
    assert {u["user_id"] for u in state["users"]} == {kit.ADA, kit.GRACE}
    assert asgi_client.post("/_simulator/faults", json={"kind": "stall"}).status_code == 204
    assert asgi_client.get("/_simulator/state").json()["pending_faults"] == ["stall"]
    assert asgi_client.request("DELETE", "/_simulator/faults").status_code == 204
    assert sim.pending_faults == ()
    approve = asgi_client.post("/_simulator/auto-approve", json={"user_id": kit.GRACE})
    assert approve.status_code == 204
    assert asgi_client.get("/_simulator/state").json()["auto_approve"]["user_id"] == kit.GRACE
    assert asgi_client.request("DELETE", "/_simulator/auto-approve").status_code == 204
    created = asgi_client.post(
        "/_simulator/apps", json={"redirect_uris": ["http://localhost:9000/cb"], "expiring": False}
    )
    assert created.status_code == 201
    assert created.json()["client_id"].isdigit() and created.json()["client_secret"]
    kit.exchange(asgi_api, "unknown-code-unknown-code")
    assert len(asgi_client.get("/_simulator/log").json()["requests"]) == 1
    assert asgi_client.request("DELETE", "/_simulator/log").status_code == 204
    assert sim.log == ()


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("POST", "/_simulator/faults", {"kind": "meteor"}),
        ("POST", "/_simulator/faults", {"kind": "stall", "count": 0}),
        ("POST", "/_simulator/clock/advance", {"seconds": -1}),
        ("POST", "/_simulator/clock/advance", {"seconds": "soon"}),
        ("POST", "/_simulator/auto-approve", {"user_id": "42"}),
        ("POST", "/_simulator/apps", {"redirect_uris": []}),
    ],
)
def test_bad_control_requests_get_400(
    asgi_client: Any, method: str, path: str, payload: dict[str, Any]
) -> None:
    answer = asgi_client.request(method, path, json=payload)
    assert answer.status_code == 400
    assert "error" in answer.json()


def test_unknown_paths_and_methods(asgi_client: Any, asgi_api: Any) -> None:
    assert asgi_client.get("/_simulator/nothing").status_code == 404
    assert asgi_client.get("/nowhere").status_code == 404
    assert asgi_api.get("/v1/oauth/token").status_code == 405
    assert asgi_client.request("PUT", "/oauth/authorize").status_code == 405
    assert asgi_client.post("/_simulator/faults", content=b"[1]").status_code == 400
    index = asgi_client.get("/")
    assert index.status_code == 200 and "/v1/oauth/token" in index.text


def test_oversized_request_body_is_refused(asgi_client: Any, asgi_api: Any) -> None:
    too_large = b"x" * (1024 * 1024 + 1)
    api = asgi_api.post("/v1/oauth/token", content=too_large)
    assert api.status_code == 413
    assert api.json() == {
        "status": 413,
        "code": "payloadTooLarge",
        "message": "The request body is too large.",
        "type": "error",
    }
    page = asgi_client.post("/oauth/authorize", content=too_large)
    assert page.status_code == 413 and page.headers["content-type"].startswith("text/html")


def test_lifespan_is_answered(sim: Any) -> None:
    import asyncio

    sent: list[str] = []
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> Any:
        return next(incoming)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    asyncio.run(sim.asgi_app({"type": "lifespan"}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_log_and_reprs_hold_no_secret(asgi_client: Any, asgi_api: Any, sim: Any, kit: Any) -> None:
    code = _code(asgi_client, sim, kit)
    tokens = kit.exchange(asgi_api, code).json()
    text = asgi_client.get("/_simulator/log").text + repr(sim.log) + repr(sim.apps)
    for secret in (kit.SECRET, code, tokens["access_token"], tokens["refresh_token"]):
        assert secret not in text
