"""Exists only to be type-checked by `mypy --strict` (make typecheck): the public API as an
app uses it. A change that breaks these lines breaks users."""

from __future__ import annotations

import os
import time

import miroflow


def sync_app(query: str, cookie: str | None) -> tuple[int, tuple[tuple[str, str], ...], str]:
    config = miroflow.ClientConfig.from_env(
        {
            "MIRO_CLIENT_ID": "1",
            "MIRO_CLIENT_SECRET": "s",
            "MIRO_REDIRECT_URL": "http://localhost/cb",
        }
    )
    client = miroflow.Client(
        config,
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=_NoNetwork(),
        clock=time.time,
        entropy=os.urandom,
    )
    started: miroflow.Answer = client.start(binding_cookie=cookie, team_id="1", return_path="/")
    answer = client.handle_callback(query, binding_cookie=cookie)
    if answer.tokens is not None:
        key: miroflow.TokenKey = answer.tokens.key
        stored: miroflow.StoredTokens | None = client.tokens.get(key)
        assert stored is not None
    error: miroflow.MiroflowError | None = answer.error
    status: int = error.status_code if error is not None else started.status
    return status, answer.headers, answer.body


async def async_app(query: bytes) -> int:
    config = miroflow.ClientConfig(
        client_id="1", client_secret="s", redirect_uri="https://app.example/cb"
    )
    client = miroflow.AsyncClient(
        config,
        flows=miroflow.AsyncMemoryFlowStore(),
        tokens=miroflow.AsyncMemoryTokenStore(),
        transport=_AsyncNoNetwork(),
        clock=time.time,
        entropy=os.urandom,
    )
    answer = await client.handle_callback(query, binding_cookie=None)
    return answer.status


def pure_machine(now: float) -> list[miroflow.Effect]:
    config = miroflow.ClientConfig(
        client_id="1", client_secret="s", redirect_uri="https://app.example/cb"
    )
    step: miroflow.Step = miroflow.step(
        None, miroflow.FlowStarted(state_token="s" * 43, binding="b" * 43), config=config, now=now
    )
    deadline: float | None = miroflow.next_deadline(step.flow)
    assert deadline is not None
    record = miroflow.flow_to_record(step.flow)
    flow: miroflow.Flow = miroflow.flow_from_record(record)
    assert flow.state is miroflow.FlowState.PENDING
    return list(step.effects)


class _NoNetwork:
    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        return miroflow.HttpResponse(status=503, body=b"")


class _AsyncNoNetwork:
    async def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        return miroflow.HttpResponse(status=503, body=b"")


_flow_store: miroflow.FlowStore = miroflow.MemoryFlowStore()
_token_store: miroflow.TokenStore = miroflow.MemoryTokenStore()
_async_flow_store: miroflow.AsyncFlowStore = miroflow.AsyncMemoryFlowStore()
_transport: miroflow.Transport = _NoNetwork()
