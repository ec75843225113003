"""Token pairs: rotation, refresh lifetime, revocation, token context, non-expiring apps,
big team IDs, and the token endpoint's parameter handling."""

from __future__ import annotations

import json
from typing import Any

import pytest

from miroflow import HttpRequest
from miroflow.machine import parse_token_response
from miroflow.simulator import PairState, append_query

DAY = 24 * 3600.0


def _pair(harness: Any, helpers: Any, now: float | None = None) -> dict[str, Any]:
    now = helpers.T0 if now is None else now
    code = harness.issue(now)
    document: dict[str, Any] = helpers.body(harness.redeem(code, now))
    return document


def test_rotation_kills_the_old_pair_at_once(harness: Any, helpers: Any) -> None:
    old = _pair(harness, helpers)
    new = helpers.body(harness.refresh(old["refresh_token"], helpers.T0 + 10))
    assert new["access_token"] != old["access_token"]
    assert new["refresh_token"] != old["refresh_token"]
    assert new["expires_in"] == 3599
    assert harness.server.pair_state(old["access_token"]) is PairState.ROTATED
    again = harness.refresh(old["refresh_token"], helpers.T0 + 11)
    assert helpers.body(again) == {
        "status": 401,
        "code": "oauthError",
        "message": "Invalid refresh token",
        "type": "error",
    }
    assert harness.context(old["access_token"], helpers.T0 + 11).status == 401
    assert harness.context(new["access_token"], helpers.T0 + 11).status == 200


def test_refresh_token_lives_60_days_renewed_on_each_use(harness: Any, helpers: Any) -> None:
    pair = _pair(harness, helpers)
    at = helpers.T0 + 60 * DAY - 0.001
    renewed = helpers.body(harness.refresh(pair["refresh_token"], at))
    # the new refresh token counts 60 days from its own issue
    late = harness.refresh(renewed["refresh_token"], at + 60 * DAY - 0.001)
    assert late.status == 200
    expired = _pair(harness, helpers)
    assert harness.refresh(expired["refresh_token"], helpers.T0 + 60 * DAY).status == 401
    assert harness.server.pair_state(expired["access_token"]) is PairState.EXPIRED


def test_tick_expires_pairs_after_60_days(harness: Any, helpers: Any) -> None:
    pair = _pair(harness, helpers)
    harness.server.tick(helpers.T0 + 60 * DAY - 1)
    assert harness.server.pair_state(pair["access_token"]) is PairState.ACTIVE
    harness.server.tick(helpers.T0 + 60 * DAY)
    assert harness.server.pair_state(pair["access_token"]) is PairState.EXPIRED


def test_wrong_secret_on_refresh_changes_nothing(harness: Any, helpers: Any) -> None:
    pair = _pair(harness, helpers)
    assert harness.refresh(pair["refresh_token"], helpers.T0 + 1, secret="nope").status == 401
    assert harness.refresh(pair["refresh_token"], helpers.T0 + 2).status == 200


def test_access_token_expires_after_3599_seconds(harness: Any, helpers: Any) -> None:
    pair = _pair(harness, helpers)
    assert harness.context(pair["access_token"], helpers.T0 + 3598.999).status == 200
    assert harness.context(pair["access_token"], helpers.T0 + 3599).status == 401
    assert harness.refresh(pair["refresh_token"], helpers.T0 + 3599).status == 200


def test_token_context_shape(harness: Any, helpers: Any) -> None:
    pair = _pair(harness, helpers)
    response = harness.context(pair["access_token"], helpers.T0 + 1)
    assert response.header("Cache-Control") == "no-store"
    document = helpers.body(response)
    assert set(document) == {"type", "organization", "team", "createdBy", "user", "scopes"}
    assert document["team"]["id"] == helpers.ALPHA
    assert document["user"]["id"] == helpers.ADA
    assert document["scopes"] == ["boards:read", "boards:write"]
    by_query = harness.server.handle(
        HttpRequest(
            method="GET",
            url=f"https://api.miro.com/v1/oauth-token?access_token={pair['access_token']}",
        ),
        now=helpers.T0 + 1,
    )
    assert by_query.status == 200
    missing = harness.server.handle(
        HttpRequest(method="GET", url="https://api.miro.com/v1/oauth-token"), now=helpers.T0
    )
    assert missing.status == 401


def test_revoke_kills_both_tokens_and_unknown_gives_404(harness: Any, helpers: Any) -> None:
    pair = _pair(harness, helpers)
    revoked = harness.revoke(pair["access_token"], helpers.T0 + 1)
    assert (revoked.status, revoked.body) == (204, b"")
    assert harness.context(pair["access_token"], helpers.T0 + 2).status == 401
    assert harness.refresh(pair["refresh_token"], helpers.T0 + 2).status == 401
    assert harness.revoke(pair["access_token"], helpers.T0 + 3).status == 404
    assert harness.revoke("never-issued-never-issued", helpers.T0 + 3).status == 404
    other = _pair(harness, helpers)
    assert harness.revoke(other["access_token"], helpers.T0 + 3, secret="bad").status == 401
    assert harness.server.pair_state(other["access_token"]) is PairState.ACTIVE


def test_revoke_needs_its_json_fields(harness: Any, helpers: Any) -> None:
    response = harness.server.handle(
        HttpRequest(
            method="POST",
            url="https://api.miro.com/v2/oauth/revoke",
            body=json.dumps({"accessToken": "x"}).encode(),
        ),
        now=helpers.T0,
    )
    assert response.status == 400
    assert helpers.body(response)["type"] == "error"


def test_non_expiring_app_gets_no_refresh_token(helpers: Any) -> None:
    harness = helpers.Harness(expiring=False)
    pair = _pair(harness, helpers)
    assert "refresh_token" not in pair and "expires_in" not in pair
    assert harness.context(pair["access_token"], helpers.T0 + 400 * DAY).status == 200
    tokens = parse_token_response(
        harness.redeem(harness.issue(), helpers.T0), now=helpers.T0, client_id="1"
    )
    assert tokens.refresh_token is None and tokens.expires_at is None


def test_big_team_ids_come_as_bare_json_numbers(harness: Any, helpers: Any) -> None:
    harness.server.set_big_team_ids(True)
    response = harness.redeem(harness.issue(), helpers.T0)
    assert f'"team_id":{helpers.ALPHA},'.encode() in response.body
    assert int(helpers.ALPHA) > 2**53
    tokens = parse_token_response(response, now=helpers.T0, client_id="1")
    assert tokens.team_id == helpers.ALPHA


def test_parameters_accepted_in_the_query(harness: Any, helpers: Any) -> None:
    code = harness.issue()
    params = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": helpers.REDIRECT_URI,
        "client_id": harness.app.client_id,
        "client_secret": harness.secret,
    }
    assert harness.post_token(params, helpers.T0, in_query=True).status == 200


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({}, 400),
        ({"grant_type": "password"}, 400),
        ({"grant_type": "authorization_code", "code": "x"}, 400),
        ({"grant_type": "refresh_token", "client_id": "1"}, 400),
    ],
)
def test_bad_token_requests_are_miro_shaped(
    harness: Any, helpers: Any, params: dict[str, str], status: int
) -> None:
    response = harness.post_token(params, helpers.T0)
    assert response.status == status
    document = helpers.body(response)
    assert document["status"] == status and document["type"] == "error"
    assert response.header("Cache-Control") == "no-store"


def test_a_parameter_twice_with_different_values_is_refused(harness: Any, helpers: Any) -> None:
    response = harness.server.handle(
        HttpRequest(
            method="POST",
            url="https://api.miro.com/v1/oauth/token?grant_type=refresh_token",
            headers=(("Content-Type", "application/x-www-form-urlencoded"),),
            body=b"grant_type=authorization_code",
        ),
        now=helpers.T0,
    )
    assert response.status == 400


def test_wrong_method_and_unknown_path(harness: Any, helpers: Any) -> None:
    get = HttpRequest(method="GET", url="https://api.miro.com/v1/oauth/token")
    assert harness.server.handle(get, now=helpers.T0).status == 405
    other = HttpRequest(method="GET", url="https://api.miro.com/v2/boards")
    assert harness.server.handle(other, now=helpers.T0).status == 404


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://h/cb", "http://h/cb?code=c"),
        ("http://h/cb?t=1", "http://h/cb?t=1&code=c"),
        ("http://h/cb?", "http://h/cb?code=c"),
        ("http://h/cb?t=1&", "http://h/cb?t=1&code=c"),
    ],
)
def test_append_query_keeps_the_registered_query(uri: str, expected: str) -> None:
    assert append_query(uri, [("code", "c")]) == expected
