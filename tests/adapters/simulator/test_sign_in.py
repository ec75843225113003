"""Signed-in simulated users: the sign-in page, the session cookie, and the consent form's CSRF
token, through the ASGI app (httpx in-process) and over real loopback sockets."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from miroflow_simulator import SESSION_COOKIE, LoopbackServer, SignIn, Simulator


def _session(answer: httpx.Response) -> str:
    """The session cookie's value from a Set-Cookie header, checking its attributes."""
    header = answer.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    name, _, rest = header.partition("=")
    assert name == SESSION_COOKIE
    return rest.split(";")[0]


def _cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={value}"}


@pytest.fixture
def page_mode(sim: Simulator) -> Simulator:
    sim.sign_in = SignIn.PAGE
    return sim


def _sign_in(asgi_client: Any, kit: Any, user_id: str) -> str:
    """Open the consent link without a session, get sent to sign in, sign in as ``user_id``."""
    start = asgi_client.get("/oauth/authorize", params=kit.authorize_params())
    assert start.status_code == 303
    assert start.headers["location"].startswith("/login?next=%2Foauth%2Fauthorize%3F")
    page = asgi_client.get(start.headers["location"])
    assert page.status_code == 200 and "Sign in" in page.text
    form = kit.Form(page.text)
    assert form.action == "/login"
    signed_in = asgi_client.post(form.action, data={**form.fields, "user_id": user_id})
    assert signed_in.status_code == 303
    assert signed_in.headers["location"].startswith("/oauth/authorize?")
    return _session(signed_in)


def test_page_mode_signs_in_before_the_consent_page(
    page_mode: Simulator, asgi_client: Any, asgi_api: Any, kit: Any
) -> None:
    session = _sign_in(asgi_client, kit, kit.GRACE)
    page = asgi_client.get(
        "/oauth/authorize", params=kit.authorize_params(), headers=_cookie(session)
    )
    assert "Signed in as <strong>Grace</strong>" in page.text
    form = kit.Form(page.text)
    assert len(form.fields["csrf_token"]) >= 22
    # the same form without the session cookie: another browser, refused, no redirect
    stolen = asgi_client.post(form.action, data=form.submit("Install & authorize"))
    assert stolen.status_code == 403 and "location" not in stolen.headers
    answer = asgi_client.post(
        form.action, data=form.submit("Install & authorize"), headers=_cookie(session)
    )
    assert answer.status_code == 302
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    tokens = asgi_api.post(
        "/v1/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": kit.REDIRECT_URI,
            "client_id": kit.CLIENT_ID,
            "client_secret": kit.SECRET,
        },
    ).json()
    assert tokens["user_id"] == kit.GRACE and tokens["team_id"] == kit.ALPHA


def test_page_mode_refuses_a_post_without_a_session(
    page_mode: Simulator, asgi_client: Any, kit: Any
) -> None:
    forged = {**kit.authorize_params(), "decision": "approve", "team_id": kit.ALPHA}
    answer = asgi_client.post("/oauth/authorize", data=forged)
    assert answer.status_code == 403 and "location" not in answer.headers


def test_a_hand_built_approval_without_the_csrf_token_is_refused(
    asgi_client: Any, kit: Any
) -> None:
    """What used to pass: decision=approve with a user_id field, no page, no token."""
    forged = {
        **kit.authorize_params(),
        "decision": "approve",
        "user_id": kit.ADA,
        "team_id": kit.ALPHA,
    }
    answer = asgi_client.post("/oauth/authorize", data=forged)
    assert answer.status_code == 403 and "location" not in answer.headers
    assert "CSRF" in answer.text


def test_a_form_is_used_once_and_expires(asgi_client: Any, sim: Simulator, kit: Any) -> None:
    form = kit.Form(asgi_client.get("/oauth/authorize", params=kit.authorize_params()).text)
    assert asgi_client.post(form.action, data=form.submit("Install & authorize")).status_code == 302
    again = asgi_client.post(form.action, data=form.submit("Install & authorize"))
    assert again.status_code == 403 and "location" not in again.headers
    late = kit.Form(asgi_client.get("/oauth/authorize", params=kit.authorize_params()).text)
    assert asgi_client.post("/_simulator/clock/advance", json={"seconds": 1800}).status_code == 200
    expired = asgi_client.post(late.action, data=late.submit("Cancel"))
    assert expired.status_code == 403 and "location" not in expired.headers


def test_another_sessions_form_and_an_ended_session_are_refused(
    asgi_client: Any, sim: Simulator, kit: Any
) -> None:
    ada, grace = sim.sign_in_as(kit.ADA), sim.sign_in_as(kit.GRACE)
    page = asgi_client.get("/oauth/authorize", params=kit.authorize_params(), headers=_cookie(ada))
    form = kit.Form(page.text)
    crossed = asgi_client.post(
        form.action, data=form.submit("Install & authorize"), headers=_cookie(grace)
    )
    assert crossed.status_code == 403
    signed_out = asgi_client.post("/logout", data={"next": "/"}, headers=_cookie(ada))
    assert signed_out.status_code == 303 and "Max-Age=0" in signed_out.headers["set-cookie"]
    after = asgi_client.post(
        form.action, data=form.submit("Install & authorize"), headers=_cookie(ada)
    )
    assert after.status_code == 403


def test_the_sign_in_page_is_no_open_redirect(asgi_client: Any, kit: Any) -> None:
    answer = asgi_client.post("/login", data={"user_id": kit.ADA, "next": "https://evil.example/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert asgi_client.post("/login", data={"user_id": "42"}).status_code == 400


def test_sign_in_mode_and_sessions_over_the_control_surface(asgi_client: Any, kit: Any) -> None:
    state = asgi_client.post("/_simulator/settings", json={"sign_in": "page"}).json()
    assert state["sign_in"] == "page"
    assert asgi_client.get("/oauth/authorize", params=kit.authorize_params()).status_code == 303
    made = asgi_client.post("/_simulator/sessions", json={"user_id": kit.GRACE}).json()
    assert made["cookie"] == SESSION_COOKIE
    page = asgi_client.get(
        "/oauth/authorize", params=kit.authorize_params(), headers=_cookie(made["value"])
    )
    assert page.status_code == 200 and "Grace" in page.text
    assert asgi_client.post("/_simulator/settings", json={"sign_in": "never"}).status_code == 400


def test_auto_approve_still_skips_sign_in_and_consent(
    page_mode: Simulator, asgi_client: Any, kit: Any
) -> None:
    page_mode.auto_approve(kit.GRACE)
    answer = asgi_client.get("/oauth/authorize", params=kit.authorize_params())
    assert answer.status_code == 302 and "code=" in answer.headers["location"]


def test_sign_in_over_real_sockets_with_a_cookie_jar(kit: Any) -> None:
    simulator = Simulator(sign_in="page")
    app = simulator.register_app([kit.REDIRECT_URI])
    with LoopbackServer(simulator) as server, httpx.Client(base_url=server.base_url) as browser:
        params = {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": kit.REDIRECT_URI,
            "state": "xyz",
        }
        start = browser.get("/oauth/authorize", params=params)
        assert start.status_code == 303
        login = kit.Form(browser.get(start.headers["location"]).text)
        back = browser.post(login.action, data={**login.fields, "user_id": kit.GRACE})
        assert back.status_code == 303 and SESSION_COOKIE in browser.cookies
        consent = kit.Form(browser.get(back.headers["location"]).text)
        answer = browser.post(consent.action, data=consent.submit("Install & authorize"))
        assert answer.status_code == 302
        query = parse_qs(urlsplit(answer.headers["location"]).query)
        assert query["state"] == ["xyz"] and query["team_id"] == [kit.ALPHA]


def test_a_session_lasts_a_day(page_mode: Simulator, asgi_client: Any, kit: Any) -> None:
    cookie = _cookie(page_mode.sign_in_as(kit.GRACE))
    params = kit.authorize_params()
    assert asgi_client.get("/oauth/authorize", params=params, headers=cookie).status_code == 200
    page_mode.advance(24 * 3600)
    assert asgi_client.get("/oauth/authorize", params=params, headers=cookie).status_code == 303
