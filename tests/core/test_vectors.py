"""Replay specs/vectors/flow/*.json through the machine (exact states, effects, replies, URLs,
bodies) and specs/vectors/claim.json through claim_outcome and claim_error."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

import miroflow
from miroflow import machine as m

SPECS = Path(__file__).resolve().parents[2] / "specs" / "vectors"
VECTORS = sorted((SPECS / "flow").glob("*.json"))


def _entropy(parts: list[str]) -> bytes:
    """The vectors name the entropy by what it encodes to: state, binding, verifier."""
    return b"".join(base64.urlsafe_b64decode(part + "=") for part in parts)


def make_input(spec: dict[str, Any]) -> m.Input:
    kind = spec["type"]
    if kind == "FlowStarted":
        return m.FlowStarted(
            entropy=_entropy(spec["entropy"]),
            binding_cookie=spec.get("binding_cookie"),
            team_id=spec.get("team_id"),
            return_path=spec.get("return_path"),
        )
    if kind == "UserRedirected":
        return m.UserRedirected()
    if kind == "CallbackReceived":
        return m.CallbackReceived(callback=m.parse_callback(spec["query"]))
    if kind == "UnsolicitedCallbackReceived":
        return m.UnsolicitedCallbackReceived(callback=m.parse_callback(spec["query"]))
    if kind == "TokenResponseReceived":
        return m.TokenResponseReceived(
            response=miroflow.HttpResponse(status=spec["status"], body=spec["body"].encode())
        )
    if kind == "TransportFailed":
        error_type = miroflow.TransportTimeout if spec["timeout"] else miroflow.TransportError
        return m.TransportFailed(error=error_type("vector"))
    assert kind == "ClockAdvanced", kind
    return m.ClockAdvanced()


def _reply(answer: miroflow.Answer | None) -> dict[str, Any] | None:
    if answer is None:
        return None
    seen: dict[str, Any] = {"status": answer.status}
    if answer.location is not None:
        seen["location"] = answer.location
    if answer.set_cookie is not None:
        seen["set_cookie"] = answer.set_cookie
    if answer.error is not None:
        seen["error"] = answer.error.code
    return seen


def check(result: m.Step, expect: dict[str, Any]) -> None:
    assert result.flow.state.value == expect["state"]
    assert [type(effect).__name__ for effect in result.effects] == expect["effects"]
    reply = _reply(result.reply)
    wanted = expect["reply"]
    if reply is not None and wanted is not None:
        # A vector names the parts of the reply it pins down; the status always.
        reply = {key: value for key, value in reply.items() if key in wanted}
    assert reply == wanted
    by_type = {type(effect).__name__: effect for effect in result.effects}
    if "request" in expect:
        request = by_type["SendTokenRequest"].request
        assert {
            "method": request.method,
            "url": request.url,
            "body": request.body.decode(),
        } == expect["request"]
        assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    if "tokens" in expect:
        tokens = by_type["StoreTokens"].tokens
        assert {
            "user_id": tokens.user_id,
            "team_id": tokens.team_id,
            "scopes": list(tokens.scopes),
            "expires_at": tokens.expires_at,
            "has_refresh_token": tokens.refresh_token is not None,
        } == expect["tokens"]


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector_replays_exactly(path: Path) -> None:
    vector = json.loads(path.read_text())
    config = miroflow.ClientConfig(**vector["config"])
    flow: miroflow.Flow | None = None
    for number, step_spec in enumerate(vector["steps"]):
        result = m.step(
            flow, make_input(step_spec["input"]), config=config, now=float(step_spec["now"])
        )
        try:
            check(result, step_spec["expect"])
        except AssertionError as exc:
            raise AssertionError(f"{path.name} step {number}: {exc}") from exc
        flow = result.flow


def test_there_are_vectors() -> None:
    assert len(VECTORS) >= 8


CLAIMS = json.loads((SPECS / "claim.json").read_text())


@pytest.mark.parametrize("case", CLAIMS["cases"], ids=[c["why"][:40] for c in CLAIMS["cases"]])
def test_claim_vector(case: dict[str, Any]) -> None:
    spec = CLAIMS["flow"]
    flow = miroflow.Flow(
        state=miroflow.FlowState.REDIRECTED,
        state_hash=m.hash_state("1", "s"),
        binding_hash=m.hash_binding(spec["binding"]),
        created_at=float(spec["created_at"]),
        deadline=float(spec["deadline"]),
    )
    presented = {"right": flow.binding_hash, "wrong": m.hash_binding("W" * 43), None: None}[
        case["presented"]
    ]
    stored = flow if case["stored"] else None
    now = float(case["now"])
    outcome = m.claim_outcome(stored, case["won"], presented, now)
    assert outcome.value == case["outcome"]
    if outcome is m.ClaimOutcome.CLAIMED:
        assert "error" not in case
        return
    error = m.claim_error(outcome, stored, now)
    assert (error.code, error.status_code) == (case["error"], case["status"])
    if "expired_for" in case:
        assert isinstance(error, miroflow.FlowExpired)
        assert error.expired_for == case["expired_for"]
