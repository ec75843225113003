"""Many callers in several processes ask for a valid token at once (re-exported by
``miroflow.testing.leases``): ``run_concurrent_refreshes`` and what it needs.

Spawned processes import this module to run ``_callers_in_process``, so it stays free of
pytest and hypothesis. Objects that live in the test's process (the simulator's transport,
or an in-memory store) reach the others through ``SharedObjects``: a ``multiprocessing``
manager served from a thread of the test's process, so every call runs there, on the one
object.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import secrets
import threading
from collections.abc import Mapping
from multiprocessing.connection import Listener
from multiprocessing.managers import BaseManager
from typing import Any

import attrs

from miroflow import Client, ClientConfig, MiroflowError

from ._store_harness import StoreSpec, build_store, race

__all__ = [
    "RefreshRace",
    "SharedObjects",
    "connect_shared",
    "run_concurrent_refreshes",
    "token_digest",
]


def token_digest(access_token: str) -> str:
    """A short SHA-256 of an access token: what the callers report instead of the token."""
    return hashlib.sha256(access_token.encode()).hexdigest()[:16]


# --- objects shared with other processes -------------------------------------------------------


def _manager_class(names: tuple[str, ...]) -> type[BaseManager]:
    # A class per use: BaseManager.register writes to the class, never to a shared registry.
    class _Manager(BaseManager):
        pass

    manager = _Manager
    for name in names:
        manager.register(name)
    return manager


def connect_shared(address: tuple[str, int], authkey: bytes, name: str) -> Any:
    """A proxy, in this process, to the object shared under ``name`` (the factory behind
    ``SharedObjects.spec``): every method call runs in the sharing process."""
    manager = _manager_class((name,))(address=address, authkey=authkey)
    manager.connect()
    return getattr(manager, name)()


def _serve(server: Any) -> None:
    # The manager's server ends with sys.exit(0) once stopped: in a thread, that is a plain
    # end, not an error to report.
    with contextlib.suppress(SystemExit):
        server.serve_forever()


class SharedObjects:
    """Shares objects of this process with spawned ones::

        with SharedObjects() as shared:
            transport = shared.spec(simulator.transport)  # a StoreSpec other processes open

    The manager's server runs in a daemon thread of this process, on 127.0.0.1 with a random
    authentication key, until the ``with`` block ends."""

    def __init__(self) -> None:
        self._objects: dict[str, Any] = {}
        self._authkey = secrets.token_bytes(16)
        self._server: Any = None
        self._address: tuple[str, int] | None = None
        self._manager: type[BaseManager] | None = None

    def spec(self, obj: object) -> StoreSpec:
        """A spec that opens a proxy to ``obj`` (its public methods) in another process.
        Call it before entering the ``with`` block or inside it."""
        name = f"shared_{len(self._objects)}"
        self._objects[name] = obj
        if self._manager is not None:
            self._manager.register(name, callable=lambda: obj)
        return StoreSpec(
            factory="miroflow.testing.leases:connect_shared",
            kwargs={"address": self._address_or_pending(), "authkey": self._authkey, "name": name},
        )

    def _address_or_pending(self) -> tuple[str, int]:
        if self._address is None:
            self._start()
        assert self._address is not None
        return self._address

    def _start(self) -> None:
        class _Server(BaseManager):
            pass

        manager = _Server
        # The class gets its own registry now, before the server takes it: objects shared
        # later are registered into that same dict, which the running server reads.
        manager.register("_keepalive", callable=lambda: None)
        self._manager = manager
        for name, obj in self._objects.items():
            manager.register(name, callable=lambda obj=obj: obj)
        server: Any = manager(address=("127.0.0.1", 0), authkey=self._authkey).get_server()
        # The manager listens with a backlog of 16: dozens of threads connecting at once (each
        # thread's proxy has its own connection) would see connections dropped. Listen again
        # on the same address with room for them all.
        address = server.listener.address
        server.listener.close()
        server.listener = Listener(address=address, backlog=1024)
        self._server = server
        host, port = address
        self._address = (str(host), int(port))
        threading.Thread(target=_serve, args=(server,), name="miroflow-shared", daemon=True).start()

    def __enter__(self) -> SharedObjects:
        self._address_or_pending()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop_event.set()


# --- the race --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RefreshRace:
    """What every caller got: the ``token_digest`` of its access token, or ``"error: <code>"``
    (never a token)."""

    outcomes: tuple[str, ...]

    @property
    def digests(self) -> frozenset[str]:
        return frozenset(o for o in self.outcomes if not o.startswith("error"))

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(o for o in self.outcomes if o.startswith("error"))


def _callers_in_process(
    store: StoreSpec,
    transport: StoreSpec,
    config: Mapping[str, Any],
    user_id: str,
    team_id: str,
    threads: int,
    start: Any,
    results: Any,
) -> None:
    """Runs in a spawned process: open the store and the transport, build a client, wait for
    the other processes, then ``threads`` callers at once ask for an access token."""
    try:
        client = Client(
            ClientConfig(**config),
            flows=_NoFlows(),
            tokens=build_store(store),
            transport=build_store(transport),
        )

        def one() -> str:
            try:
                return token_digest(client.access_token(user_id, team_id))
            except MiroflowError as error:
                return f"error: {error.code}"

        outcomes = race(one, threads, start)
        results.put([str(outcome) for outcome in outcomes])
        closer = getattr(client.tokens, "close", None)
        if closer is not None:
            closer()
    except BaseException as exc:  # reported to the parent, which fails the test
        first_line = (str(exc).strip().splitlines() or [""])[-1][:200]
        results.put([f"error: {type(exc).__name__}: {first_line}"] * threads)


class _NoFlows:
    """The callers never run a flow."""

    def save(self, flow: Any) -> None:
        raise AssertionError("no flow is started in a refresh race")

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> Any:
        raise AssertionError("no flow is claimed in a refresh race")


def _config_values(config: ClientConfig) -> dict[str, Any]:
    values = {
        field.alias or field.name: getattr(config, field.name)
        for field in attrs.fields(ClientConfig)
        if field.init
    }
    values["client_secret"] = config.client_secret.reveal()
    values["team_policy"] = config.team_policy.value
    values["unsolicited_policy"] = config.unsolicited_policy.value
    return values


def run_concurrent_refreshes(
    *,
    store: StoreSpec,
    transport: StoreSpec,
    config: ClientConfig,
    user_id: str,
    team_id: str,
    callers: int = 50,
    processes: int = 2,
    timeout: float = 60.0,
) -> RefreshRace:
    """``callers`` callers, spread over ``processes`` spawned processes (threads in each,
    released together), each ask ``Client.access_token(user_id, team_id)`` of a client on
    the store ``store`` opens and the transport ``transport`` opens (``SharedObjects.spec``
    shares a simulator's transport). Store the due tokens first; then check the simulator saw
    one refresh and that every outcome is the ``token_digest`` of the stored new token."""
    if callers < processes or processes < 1:
        raise ValueError("Give at least one caller per process.")
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    shares = [
        callers // processes + (1 if i < callers % processes else 0) for i in range(processes)
    ]
    values = _config_values(config)
    workers = [
        context.Process(
            target=_callers_in_process,
            args=(store, transport, values, user_id, team_id, share, start, results),
        )
        for share in shares
    ]
    for worker in workers:
        worker.start()
    try:
        outcomes = [o for _ in workers for o in results.get(timeout=timeout)]
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    return RefreshRace(outcomes=tuple(outcomes))
