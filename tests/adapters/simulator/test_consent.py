"""The consent page, used as a asgi_client would: GET it, read the form, POST it, follow the
redirect."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest


def _query(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query, keep_blank_values=True)


def test_install_and_authorize_redirects_with_code_state_client_and_team(
    asgi_client: Any, asgi_api: Any, kit: Any
) -> None:
    page = asgi_client.get("/oauth/authorize", params=kit.authorize_params(team_id=kit.BETA))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    form = kit.Form(page.text)
    assert form.method == "post"
    assert form.options["team_id"] == [kit.ALPHA, kit.BETA]
    assert form.fields["team_id"] == kit.BETA  # the requested team is pre-selected
    # keyboard-reachable, readable without CSS: real buttons and a labelled select
    assert [text for _, _, text in form.buttons] == ["Install & authorize", "Cancel"]
    assert form.labels.get("team") == "Install into team"
    assert "<style" not in page.text and "<script" not in page.text
    # the user may pick another team than the one requested
    answer = asgi_client.post(
        form.action, data=form.submit("Install & authorize", team_id=kit.ALPHA)
    )
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(kit.REDIRECT_URI + "?")
    query = _query(location)
    assert list(query) == ["code", "state", "client_id", "team_id"]
    assert query["state"] == ["opaque-state-123"]
    assert query["client_id"] == [kit.CLIENT_ID]
    assert query["team_id"] == [kit.ALPHA]
    assert len(query["code"][0]) >= 22
    exchanged = asgi_api.post(
        "/v1/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": kit.REDIRECT_URI,
            "client_id": kit.CLIENT_ID,
            "client_secret": kit.SECRET,
        },
    )
    assert exchanged.status_code == 200
    assert exchanged.json()["team_id"] == kit.ALPHA


def test_cancel_sends_access_denied_with_the_state(asgi_client: Any, kit: Any) -> None:
    form = kit.Form(asgi_client.get("/oauth/authorize", params=kit.authorize_params()).text)
    answer = asgi_client.post(form.action, data=form.submit("Cancel"))
    assert answer.status_code == 302
    query = _query(answer.headers["location"])
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["opaque-state-123"]
    assert "code" not in query


def test_no_state_sent_means_no_state_returned(asgi_client: Any, kit: Any) -> None:
    params = kit.authorize_params()
    del params["state"]
    form = kit.Form(asgi_client.get("/oauth/authorize", params=params).text)
    assert "state" not in form.fields
    answer = asgi_client.post(form.action, data=form.submit("Install & authorize"))
    assert "state" not in _query(answer.headers["location"])
    form = kit.Form(asgi_client.get("/oauth/authorize", params=params).text)  # a form is used once
    cancel = asgi_client.post(form.action, data=form.submit("Cancel"))
    assert "state" not in _query(cancel.headers["location"])


def test_registered_redirect_uri_keeps_its_own_query(asgi_client: Any, kit: Any) -> None:
    params = kit.authorize_params(redirect_uri=kit.QUERY_REDIRECT_URI)
    form = kit.Form(asgi_client.get("/oauth/authorize", params=params).text)
    location = asgi_client.post(form.action, data=form.submit("Install & authorize")).headers[
        "location"
    ]
    assert location.startswith("http://127.0.0.1:8000/cb?tenant=7&code=")
    assert _query(location)["tenant"] == ["7"]


def test_signing_in_as_another_user_shows_only_their_teams(
    asgi_client: Any, sim: Any, kit: Any
) -> None:
    page = asgi_client.get("/oauth/authorize", params=kit.authorize_params())
    assert "Signed in as <strong>Ada</strong>" in page.text
    assert "user_id" not in kit.Form(page.text).fields  # the user is never a form field
    token = sim.sign_in_as(kit.GRACE)
    cookie = {"Cookie": f"simulator_session={token}"}
    page = asgi_client.get("/oauth/authorize", params=kit.authorize_params(), headers=cookie)
    form = kit.Form(page.text)
    assert form.options["team_id"] == [kit.ALPHA]
    answer = asgi_client.post(form.action, data=form.submit("Install & authorize"), headers=cookie)
    assert answer.status_code == 302
    code = _query(answer.headers["location"])["code"][0]
    assert sim.server.code_state(code) is not None


@pytest.mark.parametrize(
    "tamper",
    [
        {"team_id": "3458764517517819001", "user_id": "3458764517517852418"},  # not her team
        {"user_id": "3458764517517852418"},  # another user than the one signed in
        {"state": "another-state"},  # another request than the page showed
        {"csrf_token": ""},
        {"redirect_uri": "http://evil.example/callback"},
        {"client_id": "999"},
        {"decision": "maybe"},
        {"team_id": ""},
    ],
)
def test_a_tampered_form_gets_a_4xx_page_and_no_redirect(
    asgi_client: Any, kit: Any, tamper: dict[str, str]
) -> None:
    form = kit.Form(asgi_client.get("/oauth/authorize", params=kit.authorize_params()).text)
    data = {**form.submit("Install & authorize"), **tamper}
    answer = asgi_client.post(form.action, data=data)
    assert answer.status_code in (400, 403)
    assert "location" not in answer.headers


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "1234567890"},  # unknown client
        {"redirect_uri": "http://127.0.0.1:8000/callback/"},  # trailing slash
        {"redirect_uri": "http://localhost:8000/callback"},  # another host name
        {"redirect_uri": "http://127.0.0.1:8000/CALLBACK"},  # case
        {"redirect_uri": ""},
        {"response_type": "token"},
        {"code_challenge": "abc", "code_challenge_method": "plain"},
    ],
)
def test_bad_authorization_request_gets_a_400_page_never_a_redirect(
    asgi_client: Any, kit: Any, change: dict[str, str]
) -> None:
    page = asgi_client.get("/oauth/authorize", params=kit.authorize_params(**change))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "cannot be installed" in page.text


def test_auto_approve_redirects_at_once(asgi_client: Any, sim: Any, kit: Any) -> None:
    sim.auto_approve(kit.ADA, kit.BETA)
    answer = asgi_client.get("/oauth/authorize", params=kit.authorize_params())
    assert answer.status_code == 302
    query = _query(answer.headers["location"])
    assert query["team_id"] == [kit.BETA] and query["state"] == ["opaque-state-123"]
    sim.manual_approve()
    assert asgi_client.get("/oauth/authorize", params=kit.authorize_params()).status_code == 200


def test_values_are_escaped(asgi_client: Any, kit: Any) -> None:
    page = asgi_client.get("/oauth/authorize", params=kit.authorize_params(state='"><script>x'))
    assert "<script>x" not in page.text
    assert kit.Form(page.text).fields["state"] == '"><script>x'


def test_a_parameter_given_twice_gets_a_400_page(asgi_client: Any, kit: Any) -> None:
    query = "&".join(f"{k}={v}" for k, v in kit.authorize_params().items())
    page = asgi_client.get(f"/oauth/authorize?{query}&state=other")
    assert page.status_code == 400
    assert "location" not in page.headers
