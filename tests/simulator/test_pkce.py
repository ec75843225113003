"""PKCE at the simulated token endpoint (RFC 7636 §4.1, RFC 9700 §2.1.1): a verifier is
accepted only for a code issued with a challenge, and only in the form RFC 7636 allows."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from miroflow.machine import code_challenge
from miroflow.simulator import CodeState

UNRESERVED = string.ascii_letters + string.digits + "-._~"
GOOD = "a" * 43


def _ascii_or_good(verifier: str) -> str:
    """A challenge can only be made of an ASCII verifier; others get an unrelated one."""
    return verifier if verifier and verifier.isascii() else GOOD


def _invalid_parameters(response: Any, helpers: Any) -> str:
    assert response.status == 400
    assert response.header("Cache-Control") == "no-store"
    document = helpers.body(response)
    assert set(document) == {"status", "code", "message", "type"}
    assert (document["status"], document["code"], document["type"]) == (
        400,
        "invalidParameters",
        "error",
    )
    message: str = document["message"]
    return message


def test_a_verifier_for_a_code_issued_without_a_challenge_is_refused_and_burns_it(
    harness: Any, helpers: Any
) -> None:
    code = harness.issue(helpers.T0)  # no challenge
    refused = harness.redeem(code, helpers.T0 + 1, verifier=GOOD)
    assert "without a code_challenge" in _invalid_parameters(refused, helpers)
    assert harness.server.code_state(code) is CodeState.BURNED
    # the downgraded code is dead for its own client too
    assert harness.redeem(code, helpers.T0 + 2).status == 401


def test_a_code_without_a_challenge_still_redeems_without_a_verifier(
    harness: Any, helpers: Any
) -> None:
    code = harness.issue(helpers.T0)
    assert harness.redeem(code, helpers.T0 + 1).status == 200


@pytest.mark.parametrize(
    "verifier",
    [
        "",
        "a" * 42,
        "a" * 129,
        "a" * 42 + "+",
        "a" * 42 + "/",
        "a" * 42 + "=",
        "a" * 42 + " ",
        "a" * 42 + "é",
        "a" * 42 + "\n",
    ],
    ids=["empty", "42", "129", "plus", "slash", "equals", "space", "non-ascii", "newline"],
)
@pytest.mark.parametrize("with_challenge", [True, False], ids=["challenge", "no-challenge"])
def test_a_malformed_verifier_is_refused_and_leaves_the_code_alone(
    harness: Any, helpers: Any, verifier: str, with_challenge: bool
) -> None:
    challenge = code_challenge(_ascii_or_good(verifier)) if with_challenge else None
    code = harness.issue(helpers.T0, challenge=challenge)
    refused = harness.redeem(code, helpers.T0 + 1, verifier=verifier)
    assert "RFC 7636" in _invalid_parameters(refused, helpers)
    assert harness.server.code_state(code) is CodeState.ISSUED


@pytest.mark.parametrize("length", [43, 128])
def test_verifiers_at_the_bounds_are_accepted(harness: Any, helpers: Any, length: int) -> None:
    verifier = (UNRESERVED * 3)[:length]
    code = harness.issue(helpers.T0, challenge=code_challenge(verifier))
    assert harness.redeem(code, helpers.T0 + 1, verifier=verifier).status == 200


@given(st.text(alphabet=UNRESERVED + "+/= %é\x00", max_size=140) | st.text(max_size=140))
def test_only_rfc_7636_verifiers_reach_the_code(helpers: Any, verifier: str) -> None:
    harness = helpers.Harness()  # a fresh one per example
    code = harness.issue(helpers.T0, challenge=code_challenge(_ascii_or_good(verifier)))
    response = harness.redeem(code, helpers.T0 + 1, verifier=verifier)
    well_formed = 43 <= len(verifier) <= 128 and all(c in UNRESERVED for c in verifier)
    if well_formed:
        assert response.status == 200
    else:
        assert response.status == 400
        assert harness.server.code_state(code) is CodeState.ISSUED
