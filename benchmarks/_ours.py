"""miroflow's side of each comparison, through its public API only (``miroflow`` and
``miroflow.machine``), with the same app settings and token answer as the floor."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from hashlib import sha256
from typing import Protocol

import attrs
import miroflow
import miroflow.simulator as sim
from miroflow.machine import (
    CallbackReceived,
    ClaimOutcome,
    SendTokenRequest,
    Step,
    claim_outcome,
    hash_binding,
    hash_state,
    parse_callback,
    parse_token_response,
    step,
    token_request,
)
from miroflow.records import dumps_flow, loads_flow

import _floor

CONFIG = miroflow.ClientConfig(
    client_id=_floor.CLIENT_ID,
    client_secret=_floor.CLIENT_SECRET,
    redirect_uri=_floor.REDIRECT_URI,
)
PKCE = attrs.evolve(CONFIG, pkce=True)
RESPONSE = miroflow.HttpResponse(status=200, body=_floor.TOKEN_BODY)


class InstantEndpoint:
    """A token endpoint that answers at once, with Miro's success JSON."""

    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        return RESPONSE


def token(now: float) -> miroflow.TokenSet:
    """(c): the token request built, the answer parsed into a ``TokenSet``."""
    token_request(CONFIG, _floor.CODE)
    return parse_token_response(RESPONSE, now=now, client_id=CONFIG.client_id)


def token_body() -> bytes:
    return token_request(CONFIG, _floor.CODE).body


class Ours:
    """A ``Client`` over ``flows`` (a memory token store, the instant endpoint), with the
    same methods as the floor's classes."""

    def __init__(
        self, flows: miroflow.FlowStore, config: miroflow.ClientConfig = CONFIG
    ) -> None:
        self.config = config
        self._use(flows)

    def close(self) -> None:
        pass

    def _use(self, flows: miroflow.FlowStore) -> None:
        self.flows = flows
        self.client = miroflow.Client(
            self.config, flows=flows, tokens=miroflow.MemoryTokenStore(),
            transport=InstantEndpoint(),
        )

    def start(self) -> tuple[str, str]:
        """(a): ``client.start()``; the authorization URL and the Set-Cookie value."""
        answer = self.client.start()
        if answer.location is None or answer.set_cookie is None:
            raise RuntimeError(f"start answered {answer.status}: {answer.detail}")
        return answer.location, answer.set_cookie

    def claim(self, state: str, binding: str, now: float) -> bool:
        presented = hash_binding(binding)
        flow, won = self.flows.claim(hash_state(CONFIG.client_id, state), presented)
        return claim_outcome(flow, won, presented, now) is ClaimOutcome.CLAIMED

    def callback(self, query: str, cookie: str) -> Step | None:
        """(b): what ``Client.handle_callback`` does before the token request goes out."""
        now = time.time()
        callback = parse_callback(query)
        if callback.state is None:
            return None
        presented = hash_binding(cookie)
        flow, won = self.flows.claim(hash_state(CONFIG.client_id, callback.state), presented)
        if flow is None or claim_outcome(flow, won, presented, now) is not ClaimOutcome.CLAIMED:
            return None
        return step(flow, CallbackReceived(callback=callback), config=CONFIG, now=now)

    def handle_callback(self, query: str, cookie: str) -> miroflow.Answer:
        """(d): the whole callback, token exchange included."""
        return self.client.handle_callback(query, binding_cookie=cookie)

    def populate(self, start: int, stop: int) -> None:
        """Save flows ``start`` to ``stop`` (distinct hashes, live for the flow lifetime)."""
        now = time.time()
        save_flows(self.flows, start, stop, now, now + CONFIG.flow_lifetime)


def save_flows(
    store: miroflow.FlowStore, start: int, stop: int, created_at: float, deadline: float
) -> None:
    """Save flows ``start`` to ``stop`` (distinct hashes), one ``save()`` each."""
    save = store.save
    for index in range(start, stop):
        seed = index.to_bytes(8, "big")
        save(
            miroflow.Flow(
                state=miroflow.FlowState.REDIRECTED,
                state_hash=sha256(seed).digest(),
                binding_hash=sha256(seed + b"b").digest()[:16],
                created_at=created_at,
                deadline=deadline,
            )
        )


class ClosableStore(miroflow.FlowStore, Protocol):
    def close(self) -> None: ...


class Closing(Ours):
    """``Ours`` over a store that holds connections: ``close`` closes it."""

    def __init__(self, flows: ClosableStore) -> None:
        super().__init__(flows)
        self._closable = flows

    def close(self) -> None:
        self._closable.close()


class FileStoreSide(Ours):
    """``Ours`` over a store kept in one file (SQLite). With ``scratch`` (a tmpfs directory),
    ``populate`` saves into a copy of the file there, where a commit costs no fsync, and
    copies it back: one ``save()`` per flow still, but 100k of them in seconds, not minutes.
    The timed operations always run on the file at ``path``."""

    def __init__(self, open_store: Callable[[str], ClosableStore], path: str, scratch: str | None):
        self._open, self._path, self._scratch = open_store, path, scratch
        self._store = open_store(path)
        super().__init__(self._store)

    def close(self) -> None:
        self._store.close()

    def populate(self, start: int, stop: int) -> None:
        if self._scratch is None:
            return super().populate(start, stop)
        self._store.close()  # the last connection: SQLite folds its WAL into the file
        if os.path.exists(f"{self._path}-wal"):
            raise RuntimeError(f"{self._path} still has a WAL after close(): not copying it")
        scratch = os.path.join(self._scratch, os.path.basename(self._path))
        if os.path.exists(self._path):
            shutil.copyfile(self._path, scratch)
            os.chmod(scratch, 0o600)  # as the store keeps it (it holds tokens)
        builder = self._open(scratch)
        try:
            Ours(builder).populate(start, stop)
        finally:
            builder.close()
        shutil.copyfile(scratch, self._path)
        os.chmod(self._path, 0o600)
        os.remove(scratch)
        self._store = self._open(self._path)
        self._use(self._store)
        return None


def callback_ok(result: Step | None) -> bool:
    return result is not None and any(type(e) is SendTokenRequest for e in result.effects)


# --- (d) one step of each machine, (e) a snapshot's round trip ------------------------------

#: A stored flow, as a callback finds it.
FLOW = miroflow.Flow(
    state=miroflow.FlowState.REDIRECTED,
    state_hash=hash_state(CONFIG.client_id, "bench-state"),
    binding_hash=hash_binding("bench-binding"),
    created_at=1_700_000_000.0,
    deadline=1_700_000_900.0,
)
CALLBACK = CallbackReceived(
    callback=parse_callback(f"code={_floor.CODE}&state=bench-state&client_id={CONFIG.client_id}")
)


def client_step() -> Step:
    """The client machine: a callback arrives for a stored flow (-> the token request)."""
    return step(FLOW, CALLBACK, config=CONFIG, now=1_700_000_010.0)


def client_step_ok(result: Step) -> bool:
    return callback_ok(result) and result.flow is not None


REGISTRY = sim.default_registry().with_app(
    sim.App(client_id=CONFIG.client_id, client_secret=_floor.CLIENT_SECRET,
            redirect_uris=(_floor.REDIRECT_URI,))
)
CODE = sim.AuthorizationCode(
    code_hash=sha256(_floor.CODE.encode()).hexdigest(), state=sim.CodeState.ISSUED,
    client_id=CONFIG.client_id, redirect_uri=_floor.REDIRECT_URI,
    user_id="3458764517517852417", team_id=_floor.TEAM_ID, issued_at=1_700_000_000.0,
)
REDEEM = sim.CodeRedeemed(
    client_id=CONFIG.client_id, client_secret=_floor.CLIENT_SECRET,
    redirect_uri=_floor.REDIRECT_URI, new_access_token="a" * 43, new_refresh_token="r" * 43,
)


def simulator_step() -> sim.ServerStep:
    """The simulator's machine: the token endpoint redeems an issued code."""
    return sim.step(CODE, REDEEM, registry=REGISTRY, now=1_700_000_010.0)


def simulator_step_ok(result: sim.ServerStep) -> bool:
    answers = [e for e in result.effects if type(e) is sim.Respond]
    return len(answers) == 1 and answers[0].response.status == 200


def snapshot() -> miroflow.Flow:
    """A stored flow's record written and read back."""
    return loads_flow(dumps_flow(FLOW))
