"""The clients start a flow in one call (the pending snapshot between the two steps is never
made): what they answer, save and report must be exactly what ``step`` gives for
``FlowStarted`` and then ``UserRedirected``, for any input, including the ones it refuses."""

from __future__ import annotations

import asyncio

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import miroflow
from miroflow.machine import ENTROPY_BYTES, FlowStarted, UserRedirected, step

CONFIG = miroflow.ClientConfig(
    client_id="3074457363680401096",
    client_secret="client-test-secret",
    redirect_uri="https://app.example/callback",
)
ISSUED = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=43, max_size=43
)


class Recording:
    """A flow store that keeps what it was asked to save, in order."""

    def __init__(self) -> None:
        self.saved: list[miroflow.Flow] = []

    def save(self, flow: miroflow.Flow) -> None:
        self.saved.append(flow)

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> miroflow.ClaimResult:
        raise AssertionError("a start claims nothing")


class AsyncRecording(Recording):
    async def save(self, flow: miroflow.Flow) -> None:  # type: ignore[override]
        Recording.save(self, flow)


starts = st.fixed_dictionaries(
    {
        "entropy": st.binary(min_size=ENTROPY_BYTES, max_size=ENTROPY_BYTES),
        "binding_cookie": st.none() | ISSUED | st.text(max_size=50),
        "team_id": st.none() | st.from_regex(r"[0-9]{1,19}", fullmatch=True) | st.text(max_size=5),
        "return_path": st.none() | st.sampled_from(["/", "/boards?x=1", "//evil.example", "x"]),
    }
)
configs = st.builds(
    lambda pkce, lifetime, secure: attrs.evolve(
        CONFIG,
        pkce=pkce,
        flow_lifetime=lifetime,
        redirect_uri="https://app.example/callback" if secure else "http://localhost/callback",
    ),
    st.booleans(),
    st.floats(min_value=1.0, max_value=3600.0),
    st.booleans(),
)
nows = st.floats(min_value=1.0e9, max_value=2.0e9)


def _two_steps(
    start: dict[str, object], config: miroflow.ClientConfig, now: float
) -> tuple[miroflow.machine.Step, list[miroflow.Transition]] | str:
    """What the machine gives, step by step (or the message of the UsageError it raises)."""
    event = FlowStarted(**start)  # type: ignore[arg-type]
    try:
        pending = step(None, event, config=config, now=now)
    except miroflow.UsageError as error:
        return str(error)
    sent = step(pending.flow, UserRedirected(), config=config, now=now)
    assert sent.reply is not None
    transitions = [
        miroflow.Transition.of(now, None, event, pending.flow.state, pending.effects),
        miroflow.Transition.of(
            now, pending.flow.state, UserRedirected(), sent.flow.state, sent.effects, 302
        ),
    ]
    return sent, transitions


def _client(
    cls: type[miroflow.Client] | type[miroflow.AsyncClient],
    flows: Recording,
    config: miroflow.ClientConfig,
    now: float,
    entropy: bytes,
    seen: list[miroflow.Transition],
) -> miroflow.Client | miroflow.AsyncClient:
    return cls(
        config,
        flows=flows,  # type: ignore[arg-type]
        tokens=miroflow.MemoryTokenStore(),  # type: ignore[arg-type]
        transport=None,  # type: ignore[arg-type]
        clock=lambda: now,
        entropy=lambda size: entropy,
        on_transition=seen.append,
    )


@given(start=starts, config=configs, now=nows)
def test_client_start_is_exactly_the_two_steps(
    start: dict[str, object], config: miroflow.ClientConfig, now: float
) -> None:
    expected = _two_steps(start, config, now)
    flows, seen = Recording(), []
    entropy = start.pop("entropy")
    assert isinstance(entropy, bytes)
    client = _client(miroflow.Client, flows, config, now, entropy, seen)
    assert isinstance(client, miroflow.Client)
    if isinstance(expected, str):
        with pytest.raises(miroflow.UsageError) as raised:
            client.start(**start)  # type: ignore[arg-type]
        assert str(raised.value) == expected
        assert flows.saved == [] and seen == []
        return
    sent, transitions = expected
    answer = client.start(**start)  # type: ignore[arg-type]
    assert answer == sent.reply
    assert flows.saved == [sent.flow]
    assert seen == transitions


@given(start=starts, config=configs, now=nows)
def test_async_client_start_is_exactly_the_two_steps(
    start: dict[str, object], config: miroflow.ClientConfig, now: float
) -> None:
    expected = _two_steps(start, config, now)
    flows, seen = AsyncRecording(), []
    entropy = start.pop("entropy")
    assert isinstance(entropy, bytes)
    client = _client(miroflow.AsyncClient, flows, config, now, entropy, seen)
    assert isinstance(client, miroflow.AsyncClient)
    if isinstance(expected, str):
        with pytest.raises(miroflow.UsageError) as raised:
            asyncio.run(client.start(**start))  # type: ignore[arg-type]
        assert str(raised.value) == expected
        return
    sent, transitions = expected
    assert asyncio.run(client.start(**start)) == sent.reply  # type: ignore[arg-type]
    assert flows.saved == [sent.flow]
    assert seen == transitions
