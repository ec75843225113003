"""Every endpoint and error over HTTP, through httpx against the ASGI app."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from miroflow_simulator import FaultKind


def _code(browser: Any, sim: Any, kit: Any) -> str:
    sim.auto_approve()
    location: str = browser.get("/oauth/authorize", params=kit.authorize_params()).headers[
        "location"
    ]
    sim.manual_approve()
    code: str = parse_qs(urlsplit(location).query)["code"][0]
    return code


def _exchange(browser: Any, kit: Any, code: str, **overrides: str) -> Any:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": kit.REDIRECT_URI,
        "client_id": kit.CLIENT_ID,
        "client_secret": kit.SECRET,
        **overrides,
    }
    return browser.post("/v1/oauth/token", data=data)


def test_token_exchange_success_and_reuse(browser: Any, sim: Any, kit: Any) -> None:
    code = _code(browser, sim, kit)
    first = _exchange(browser, kit, code)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    assert first.headers["content-type"].startswith("application/json")
    body = first.json()
    assert body["expires_in"] == 3599 and body["token_type"] == "bearer"
    assert body["scope"] == "boards:read boards:write"
    again = _exchange(browser, kit, code)
    assert again.status_code == 401
    assert again.json() == {
        "status": 401,
        "code": "oauthError",
        "message": "Invalid authorization code",
        "type": "error",
    }
    assert again.headers["cache-control"] == "no-store"


def test_token_params_in_the_query_string(browser: Any, sim: Any, kit: Any) -> None:
    code = _code(browser, sim, kit)
    params = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": kit.REDIRECT_URI,
        "client_id": kit.CLIENT_ID,
        "client_secret": kit.SECRET,
    }
    assert browser.post("/v1/oauth/token", params=params).status_code == 200


def test_redirect_mismatch_and_wrong_secret(browser: Any, sim: Any, kit: Any) -> None:
    code = _code(browser, sim, kit)
    wrong_secret = _exchange(browser, kit, code, client_secret="nope")
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["code"] == "oauthError"
    mismatch = _exchange(browser, kit, code, redirect_uri=kit.REDIRECT_URI + "/")
    assert mismatch.json()["message"] == "Redirect URI mismatch."
    assert _exchange(browser, kit, code).status_code == 401  # burned


def test_expired_code_over_http(browser: Any, sim: Any, kit: Any) -> None:
    code = _code(browser, sim, kit)
    advanced = browser.post("/_simulator/clock/advance", json={"seconds": 600})
    assert advanced.status_code == 200
    assert advanced.json()["now"] == kit.T0 + 600
    assert _exchange(browser, kit, code).json()["message"] == "Invalid authorization code"


def test_refresh_revoke_and_context(browser: Any, sim: Any, kit: Any) -> None:
    tokens = _exchange(browser, kit, _code(browser, sim, kit)).json()
    context = browser.get(
        "/v1/oauth-token", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert context.status_code == 200
    assert context.headers["cache-control"] == "no-store"
    assert set(context.json()) == {"type", "organization", "team", "createdBy", "user", "scopes"}
    refreshed = browser.post(
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
    old_context = browser.get(
        "/v1/oauth-token", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert old_context.status_code == 401
    revoke = {"accessToken": new["access_token"], "clientId": kit.CLIENT_ID}
    revoked = browser.post("/v2/oauth/revoke", json={**revoke, "clientSecret": kit.SECRET})
    assert (revoked.status_code, revoked.content) == (204, b"")
    gone = browser.post("/v2/oauth/revoke", json={**revoke, "clientSecret": kit.SECRET})
    assert gone.status_code == 404
    assert browser.post("/v2/oauth/revoke", content=b"not json").status_code == 400
    assert browser.get("/v1/oauth-token").status_code == 401


def test_big_team_ids_switch(browser: Any, sim: Any, kit: Any) -> None:
    assert browser.post("/_simulator/big-team-ids", json={"enabled": True}).status_code == 204
    answer = _exchange(browser, kit, _code(browser, sim, kit))
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
def test_faults_over_http(
    browser: Any, sim: Any, kit: Any, kind: str, status: int, content_type: str | None
) -> None:
    code = _code(browser, sim, kit)
    assert browser.post("/_simulator/faults", json={"kind": kind, "count": 2}).status_code == 204
    for _ in range(2):
        answer = _exchange(browser, kit, code)
        assert answer.status_code == status
        if content_type:
            assert answer.headers["content-type"].startswith(content_type)
    if kind == "huge_body":
        assert len(answer.content) > 1024 * 1024
    if kind == "redirect":
        assert answer.headers["location"].startswith(sim.base_url)
    assert _exchange(browser, kit, code).status_code == 200  # faults spare the model
    log = browser.get("/_simulator/log").json()["requests"]
    assert [entry["fault"] for entry in log] == [kind, kind, None]
    assert [entry["grant_type"] for entry in log] == ["authorization_code"] * 3


def test_stall_over_asgi_answers_504_when_the_client_outwaits_it(
    browser: Any, sim: Any, kit: Any
) -> None:
    sim.inject_fault(FaultKind.STALL, seconds=0.01)
    assert _exchange(browser, kit, "whatever-code").status_code == 504
    assert sim.log[-1].status is None and sim.log[-1].fault is FaultKind.STALL


def test_control_surface(browser: Any, sim: Any, kit: Any) -> None:
    state = browser.get("/_simulator/state").json()
    assert state["apps"][0]["client_id"] == kit.CLIENT_ID
    assert kit.SECRET not in browser.get("/_simulator/state").text
    assert {u["user_id"] for u in state["users"]} == {kit.ADA, kit.GRACE}
    assert browser.post("/_simulator/faults", json={"kind": "stall"}).status_code == 204
    assert browser.get("/_simulator/state").json()["pending_faults"] == ["stall"]
    assert browser.request("DELETE", "/_simulator/faults").status_code == 204
    assert sim.pending_faults == ()
    approve = browser.post("/_simulator/auto-approve", json={"user_id": kit.GRACE})
    assert approve.status_code == 204
    assert browser.get("/_simulator/state").json()["auto_approve"]["user_id"] == kit.GRACE
    assert browser.request("DELETE", "/_simulator/auto-approve").status_code == 204
    created = browser.post(
        "/_simulator/apps", json={"redirect_uris": ["http://localhost:9000/cb"], "expiring": False}
    )
    assert created.status_code == 201
    assert created.json()["client_id"].isdigit() and created.json()["client_secret"]
    _exchange(browser, kit, "unknown-code-unknown-code")
    assert len(browser.get("/_simulator/log").json()["requests"]) == 1
    assert browser.request("DELETE", "/_simulator/log").status_code == 204
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
    browser: Any, method: str, path: str, payload: dict[str, Any]
) -> None:
    answer = browser.request(method, path, json=payload)
    assert answer.status_code == 400
    assert "error" in answer.json()


def test_unknown_paths_and_methods(browser: Any) -> None:
    assert browser.get("/_simulator/nothing").status_code == 404
    assert browser.get("/nowhere").status_code == 404
    assert browser.get("/v1/oauth/token").status_code == 405
    assert browser.request("PUT", "/oauth/authorize").status_code == 405
    assert browser.post("/_simulator/faults", content=b"[1]").status_code == 400
    index = browser.get("/")
    assert index.status_code == 200 and "/v1/oauth/token" in index.text


def test_oversized_request_body_is_refused(browser: Any) -> None:
    assert browser.post("/v1/oauth/token", content=b"x" * (1024 * 1024 + 1)).status_code == 413


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


def test_log_and_reprs_hold_no_secret(browser: Any, sim: Any, kit: Any) -> None:
    code = _code(browser, sim, kit)
    tokens = _exchange(browser, kit, code).json()
    text = browser.get("/_simulator/log").text + repr(sim.log) + repr(sim.apps)
    for secret in (kit.SECRET, code, tokens["access_token"], tokens["refresh_token"]):
        assert secret not in text
