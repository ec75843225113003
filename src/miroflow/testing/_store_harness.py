"""What the store conformance suite runs stores with (re-exported by
``miroflow.testing.stores``): async stores behind a blocking face, stores opened again in
spawned processes from a ``StoreSpec``, and threads released together to race.

Spawned processes import this module to run ``claim_in_process``, so it stays free of pytest
and hypothesis."""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

import attrs

from miroflow import (
    AsyncFlowStore,
    AsyncTokenStore,
    ClaimResult,
    Flow,
    StoredTokens,
    TokenKey,
    TokenSet,
)

__all__ = [
    "BlockingFlowStore",
    "BlockingTokenStore",
    "EventLoopThread",
    "StoreSpec",
    "build_store",
    "claim_in_process",
    "close_store",
    "open_store",
    "race",
]

T = TypeVar("T")


# --- async stores behind a blocking face -----------------------------------------------------


class EventLoopThread:
    """An event loop running in a daemon thread; ``run`` waits for an awaitable on it.

    Calls from many threads run concurrently on the loop, so an async store's own
    concurrency (its connection pool) is what the suite exercises."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> EventLoopThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def run(self, awaitable: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(_awaited(awaitable), self._loop).result()


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


class BlockingFlowStore:
    """An ``AsyncFlowStore`` seen as a ``FlowStore`` (for tests only)."""

    def __init__(self, store: AsyncFlowStore, loop: EventLoopThread) -> None:
        self.store, self._loop = store, loop

    def save(self, flow: Flow) -> None:
        self._loop.run(self.store.save(flow))

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> ClaimResult:
        return self._loop.run(self.store.claim(state_hash, binding_hash))

    def sweep(self, now: float) -> int:
        sweep = getattr(self.store, "sweep", None)
        if sweep is None:
            raise AttributeError("This store forgets flows by itself; it has no sweep().")
        result: int = self._loop.run(sweep(now))
        return result


class BlockingTokenStore:
    """An ``AsyncTokenStore`` seen as a ``TokenStore`` (for tests only)."""

    def __init__(self, store: AsyncTokenStore, loop: EventLoopThread) -> None:
        self.store, self._loop = store, loop

    def get(self, key: TokenKey) -> StoredTokens | None:
        return self._loop.run(self.store.get(key))

    def put(self, tokens: TokenSet, *, expected_version: int | None = None) -> StoredTokens:
        return self._loop.run(self.store.put(tokens, expected_version=expected_version))

    def delete(self, key: TokenKey) -> None:
        self._loop.run(self.store.delete(key))

    def lease(self, key: TokenKey, holder: str, *, now: float, ttl: float) -> bool:
        return self._loop.run(self.store.lease(key, holder, now=now, ttl=ttl))

    def release(self, key: TokenKey, holder: str) -> None:
        self._loop.run(self.store.release(key, holder))


async def open_store(factory: Callable[[], Any]) -> Any:
    """Call a store factory inside the running loop; await it if it is a coroutine function."""
    store = factory()
    return await store if isinstance(store, Coroutine) else store


async def close_store(store: object) -> None:
    """Close a store through its ``aclose()`` or ``close()``, whichever it has."""
    closer = getattr(store, "aclose", None) or getattr(store, "close", None)
    if closer is not None:
        result = closer()
        if isinstance(result, Coroutine):
            await result


# --- stores in other processes ---------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StoreSpec:
    """How another process opens the same store: ``"module:callable"`` and its keyword
    arguments (plain values, so the spec pickles)."""

    factory: str
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)


def build_store(spec: StoreSpec) -> Any:
    """Call the spec's factory with its keyword arguments."""
    module_name, _, attribute = spec.factory.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    return factory(**spec.kwargs)


def claim_in_process(
    spec: StoreSpec,
    state_hash: bytes,
    binding_hash: bytes,
    threads: int,
    start: Any,
    results: Any,
) -> None:
    """Runs in a spawned process: open the store, wait for the other process, race; report
    whether each claim won."""
    try:
        store = build_store(spec)
        outcomes = race(lambda: store.claim(state_hash, binding_hash)[1], threads, start)
        results.put(outcomes)
        closer = getattr(store, "close", None)
        if closer is not None:
            closer()
    except BaseException as exc:  # reported to the parent, which fails the test
        results.put([f"error: {type(exc).__name__}: {exc}"])


def race(call: Callable[[], T], threads: int, start: Any = None) -> list[T | str]:
    """Run ``call`` in ``threads`` threads released together; collect results or error names."""
    gate = threading.Barrier(threads)
    results: list[T | str] = []
    lock = threading.Lock()

    def one() -> None:
        gate.wait()
        try:
            result: T | str = call()
        except Exception as exc:
            result = type(exc).__name__
        with lock:
            results.append(result)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    if start is not None:
        start.wait()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results
