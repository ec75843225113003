"""Replay specs/vectors/flow/*.json through the machine: exact states, effects, URLs, bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import miroflow

VECTORS = sorted(
    (Path(__file__).resolve().parents[2] / "specs" / "vectors" / "flow").glob("*.json")
)


def make_input(spec: dict[str, Any]) -> miroflow.Input:
    kind = spec["type"]
    if kind == "FlowStarted":
        return miroflow.FlowStarted(
            state_token=spec["state_token"],
            binding=spec["binding"],
            team_id=spec.get("team_id"),
            return_path=spec.get("return_path"),
        )
    if kind == "UserRedirected":
        return miroflow.UserRedirected()
    if kind == "CallbackReceived":
        return miroflow.CallbackReceived(
            callback=miroflow.parse_callback(spec["query"]), binding=spec["binding"]
        )
    if kind == "UnsolicitedCallbackReceived":
        return miroflow.UnsolicitedCallbackReceived(callback=miroflow.parse_callback(spec["query"]))
    if kind == "TokenResponseReceived":
        return miroflow.TokenResponseReceived(
            response=miroflow.HttpResponse(status=spec["status"], body=spec["body"].encode())
        )
    if kind == "TransportFailed":
        error_type = miroflow.TransportTimeout if spec["timeout"] else miroflow.TransportError
        return miroflow.TransportFailed(error=error_type("vector"))
    assert kind == "ClockAdvanced", kind
    return miroflow.ClockAdvanced()


def check(result: miroflow.Step, expect: dict[str, Any]) -> None:
    assert result.flow.state.value == expect["state"]
    assert [type(effect).__name__ for effect in result.effects] == expect["effects"]
    by_type = {type(effect).__name__: effect for effect in result.effects}
    redirect = by_type.get("RedirectBrowser")
    if "location" in expect:
        assert redirect is not None and redirect.location == expect["location"]
    if "set_cookie" in expect:
        assert redirect is not None and redirect.cookie is not None
        assert redirect.cookie.header_value() == expect["set_cookie"]
    if "request" in expect:
        request = by_type["SendTokenRequest"].request
        assert {
            "method": request.method,
            "url": request.url,
            "body": request.body.decode(),
        } == expect["request"]
        assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    if "error" in expect:
        error = by_type["RespondWithError"].error
        assert (error.code, error.status_code) == (expect["error"], expect["status"])
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
        result = miroflow.step(
            flow, make_input(step_spec["input"]), config=config, now=float(step_spec["now"])
        )
        try:
            check(result, step_spec["expect"])
        except AssertionError as exc:
            raise AssertionError(f"{path.name} step {number}: {exc}") from exc
        flow = result.flow


def test_there_are_vectors() -> None:
    assert len(VECTORS) >= 10
