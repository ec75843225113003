"""Authorization codes: single use under every interleaving, exact expiry, what burns a code
and what does not, PKCE, and the revocation that follows a replay."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from miroflow.machine import code_challenge
from miroflow.simulator import CodeState, PairState

INVALID_CODE = {
    "status": 401,
    "code": "oauthError",
    "message": "Invalid authorization code",
    "type": "error",
}


def test_code_is_long_single_use_and_bound(harness: Any, helpers: Any) -> None:
    code = harness.issue(helpers.T0)
    assert len(code) >= 22  # >= 128 bits of base64url
    first = harness.redeem(code, helpers.T0 + 1)
    assert first.status == 200
    assert first.header("Cache-Control") == "no-store"
    document = helpers.body(first)
    assert list(document) == [
        "user_id",
        "refresh_token",
        "access_token",
        "expires_in",
        "team_id",
        "scope",
        "token_type",
    ]
    assert document["expires_in"] == 3599
    assert document["user_id"] == helpers.ADA and document["team_id"] == helpers.ALPHA
    assert document["token_type"] == "bearer"
    second = harness.redeem(code, helpers.T0 + 2)
    assert (second.status, helpers.body(second)) == (401, INVALID_CODE)
    assert second.header("Cache-Control") == "no-store"


@pytest.mark.parametrize(
    ("age", "works"), [(0.0, True), (599.999, True), (600.0, False), (601.0, False)]
)
def test_code_dies_exactly_600_seconds_after_issue(
    harness: Any, helpers: Any, age: float, works: bool
) -> None:
    code = harness.issue(helpers.T0)
    response = harness.redeem(code, helpers.T0 + age)
    if works:
        assert response.status == 200
        assert harness.server.code_state(code) is CodeState.REDEEMED
    else:
        assert (response.status, helpers.body(response)) == (401, INVALID_CODE)
        assert harness.server.code_state(code) is CodeState.EXPIRED


def test_tick_expires_codes_at_600_seconds(harness: Any, helpers: Any) -> None:
    code = harness.issue(helpers.T0)
    harness.server.tick(helpers.T0 + 599.999)
    assert harness.server.code_state(code) is CodeState.ISSUED
    harness.server.tick(helpers.T0 + 600)
    assert harness.server.code_state(code) is CodeState.EXPIRED


def test_wrong_secret_fails_without_burning(harness: Any, helpers: Any) -> None:
    code = harness.issue(helpers.T0)
    response = harness.redeem(code, helpers.T0 + 1, secret="wrong")
    assert response.status == 401
    assert helpers.body(response)["code"] == "oauthError"
    assert harness.server.code_state(code) is CodeState.ISSUED
    assert harness.redeem(code, helpers.T0 + 2).status == 200


def test_unknown_client_fails_without_burning(harness: Any, helpers: Any) -> None:
    code = harness.issue(helpers.T0)
    response = harness.redeem(code, helpers.T0 + 1, client_id="1234")
    assert response.status == 401
    assert harness.server.code_state(code) is CodeState.ISSUED


@pytest.mark.parametrize(
    "wrong",
    [
        "http://127.0.0.1:8000/callback/",  # a trailing slash
        "http://localhost:8000/callback",  # another host name
        "http://127.0.0.1:8000/other?keep=1",  # registered, but not the one authorized
    ],
)
def test_wrong_redirect_uri_burns_the_code(harness: Any, helpers: Any, wrong: str) -> None:
    code = harness.issue(helpers.T0)
    response = harness.redeem(code, helpers.T0 + 1, redirect_uri=wrong)
    assert helpers.body(response) == {
        "status": 401,
        "code": "oauthError",
        "message": "Redirect URI mismatch.",
        "type": "error",
    }
    assert harness.server.code_state(code) is CodeState.BURNED
    assert harness.redeem(code, helpers.T0 + 2).status == 401


def test_pkce_verifier_checked_and_a_wrong_one_burns(harness: Any, helpers: Any) -> None:
    verifier = "v" * 43
    code = harness.issue(helpers.T0, challenge=code_challenge(verifier))
    assert harness.redeem(code, helpers.T0 + 1, verifier="w" * 43).status == 401
    assert harness.server.code_state(code) is CodeState.BURNED
    good = harness.issue(helpers.T0, challenge=code_challenge(verifier))
    assert harness.redeem(good, helpers.T0 + 1).status == 401  # no verifier at all
    again = harness.issue(helpers.T0, challenge=code_challenge(verifier))
    assert harness.redeem(again, helpers.T0 + 1, verifier=verifier).status == 200


def test_replay_revokes_every_pair_issued_from_the_code(harness: Any, helpers: Any) -> None:
    code = harness.issue(helpers.T0)
    first = helpers.body(harness.redeem(code, helpers.T0 + 1))
    rotated = helpers.body(harness.refresh(first["refresh_token"], helpers.T0 + 2))
    assert harness.context(rotated["access_token"], helpers.T0 + 3).status == 200
    assert harness.redeem(code, helpers.T0 + 4).status == 401
    assert harness.server.code_state(code) is CodeState.BURNED
    assert harness.server.pair_state(rotated["access_token"]) is PairState.REVOKED
    assert harness.context(rotated["access_token"], helpers.T0 + 5).status == 401
    assert harness.refresh(rotated["refresh_token"], helpers.T0 + 6).status == 401


def test_unknown_code_is_invalid(harness: Any, helpers: Any) -> None:
    response = harness.redeem("never-issued-never-issued", helpers.T0)
    assert (response.status, helpers.body(response)) == (401, INVALID_CODE)


def test_codes_single_use_under_every_interleaving(helpers: Any) -> None:
    """Several codes, redeemed correctly or wrongly, refreshed and aged in any order: at most
    one success per code, and the model's state always matches the server's."""

    class Codes(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.h = helpers.Harness()
            self.now = helpers.T0
            self.codes: list[dict[str, Any]] = []

        @rule()
        def issue(self) -> None:
            code = self.h.issue(self.now)
            self.codes.append(
                {"code": code, "issued": self.now, "state": CodeState.ISSUED, "pairs": []}
            )

        @rule(seconds=st.sampled_from([0.0, 0.001, 1.0, 299.5, 599.999, 600.0]), tick=st.booleans())
        def advance(self, seconds: float, tick: bool) -> None:
            self.now += seconds
            if tick:
                self.h.server.tick(self.now)
                for entry in self.codes:
                    if entry["state"] is CodeState.ISSUED and self.now >= entry["issued"] + 600:
                        entry["state"] = CodeState.EXPIRED

        @precondition(lambda self: bool(self.codes))
        @rule(data=st.data(), how=st.sampled_from(["ok", "bad_secret", "bad_redirect"]))
        def redeem(self, data: st.DataObject, how: str) -> None:
            entry = data.draw(st.sampled_from(self.codes))
            response = self.h.redeem(
                entry["code"],
                self.now,
                secret="wrong" if how == "bad_secret" else None,
                redirect_uri=(
                    "http://127.0.0.1:8000/callback/"
                    if how == "bad_redirect"
                    else helpers.REDIRECT_URI
                ),
            )
            state = entry["state"]
            if how == "bad_secret":
                assert response.status == 401
                return
            if state is CodeState.ISSUED and self.now >= entry["issued"] + 600:
                entry["state"] = CodeState.EXPIRED
                assert helpers.body(response) == INVALID_CODE
            elif state is CodeState.ISSUED and how == "bad_redirect":
                entry["state"] = CodeState.BURNED
                assert helpers.body(response)["message"] == "Redirect URI mismatch."
            elif state is CodeState.ISSUED:
                assert response.status == 200
                entry["state"] = CodeState.REDEEMED
                entry["pairs"].append(helpers.body(response))
            elif state is CodeState.REDEEMED:
                assert helpers.body(response) == INVALID_CODE
                entry["state"] = CodeState.BURNED
                entry["revoked"] = True
            else:
                assert helpers.body(response) == INVALID_CODE

        @precondition(lambda self: any(e["pairs"] for e in self.codes))
        @rule(data=st.data())
        def refresh(self, data: st.DataObject) -> None:
            entry = data.draw(st.sampled_from([e for e in self.codes if e["pairs"]]))
            latest = entry["pairs"][-1]
            response = self.h.refresh(latest["refresh_token"], self.now)
            if entry.get("revoked"):
                assert response.status == 401
            else:
                assert response.status == 200
                entry["pairs"].append(helpers.body(response))

        @invariant()
        def server_agrees(self) -> None:
            for entry in self.codes:
                assert self.h.server.code_state(entry["code"]) is entry["state"]
                for index, pair in enumerate(entry["pairs"]):
                    expected = (
                        PairState.REVOKED
                        if entry.get("revoked") and index == len(entry["pairs"]) - 1
                        else PairState.ROTATED
                        if index < len(entry["pairs"]) - 1
                        else PairState.ACTIVE
                    )
                    assert self.h.server.pair_state(pair["access_token"]) is expected

    run_state_machine_as_test(Codes, settings=settings(stateful_step_count=30))


@given(age=st.floats(min_value=0, max_value=1200, allow_nan=False))
def test_expiry_boundary_for_any_age(helpers: Any, age: float) -> None:
    h = helpers.Harness()
    code = h.issue(helpers.T0)
    status = h.redeem(code, helpers.T0 + age).status
    assert status == (200 if helpers.T0 + age < helpers.T0 + 600 else 401)
