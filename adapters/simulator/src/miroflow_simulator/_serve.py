"""Serving the simulator with uvicorn: on a socket bound before the server starts (so the
port, even an ephemeral one, is known at once and connections queue until it accepts), in
the foreground for the command or in a thread for tests."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from ._asgi import SimulatorApp
from ._simulator import Simulator

__all__ = ["LoopbackServer", "bind", "uvicorn_server"]

_READY_WITHIN = 10.0


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def uvicorn_server(simulator: Simulator, **options: Any) -> Any:
    import uvicorn  # imported here: the pytest plugin loads this package in every session

    config = uvicorn.Config(
        SimulatorApp(simulator),
        log_level=options.pop("log_level", "warning"),
        lifespan="on",
        timeout_graceful_shutdown=1,
        **options,
    )
    return uvicorn.Server(config)


class LoopbackServer:
    """The simulator on ``127.0.0.1`` and an ephemeral port, served by uvicorn in a thread.

    ``start()`` returns once the server accepts connections (bounded wait); ``stop()`` shuts it
    down. Use it as a context manager. ``simulator.base_url`` is set to the real address.
    """

    def __init__(self, simulator: Simulator | None = None, *, host: str = "127.0.0.1") -> None:
        self._socket = bind(host, 0)
        port = self._socket.getsockname()[1]
        self.base_url = f"http://{host}:{port}"
        self.simulator = simulator or Simulator()
        self.simulator.base_url = self.base_url
        self._server = uvicorn_server(self.simulator)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + _READY_WITHIN
        while not self._server.started:  # polled, with a bounded deadline
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The simulator's server did not start.")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=_READY_WITHIN)
        self._socket.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
