"""Serving the simulator with uvicorn: on a socket bound before the server starts (so the
port, even an ephemeral one, is known at once and connections queue until it accepts), in
the foreground for the command or in a thread for tests."""

from __future__ import annotations

import copy
import socket
import threading
import time
from typing import Any

from ._asgi import ACCESS_LOGGER, SimulatorApp
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


def uvicorn_server(simulator: Simulator, *, show_access: bool = False, **options: Any) -> Any:
    """A uvicorn server for the simulator. uvicorn's access log is off, as it writes each
    query string as it came (states, codes): the app writes its own, redacted, on
    ``miroflow_simulator.access``; ``show_access=True`` (the command) prints it as uvicorn
    would. "trace" is served as "debug": uvicorn's trace logs every ASGI message whole,
    query strings, cookies and form bodies (client secrets) included."""
    import uvicorn  # imported here: the pytest plugin loads this package in every session
    from uvicorn.config import LOGGING_CONFIG

    level = options.pop("log_level", "warning")
    if isinstance(level, str) and level.lower() == "trace":
        level = "debug"
    log_config = copy.deepcopy(LOGGING_CONFIG)
    if show_access:
        log_config["loggers"][ACCESS_LOGGER.name] = {
            "handlers": ["access"],
            "level": level.upper() if isinstance(level, str) else level,
            "propagate": False,
        }
    config = uvicorn.Config(
        SimulatorApp(simulator),
        log_level=level,
        log_config=log_config,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
        **options,
    )
    return uvicorn.Server(config)


class LoopbackServer:
    """The simulator on ``127.0.0.1``, served by uvicorn in a thread: the consent host on one
    ephemeral port (``base_url``) and the API host on another (``api_url``), as Miro serves
    miro.com and api.miro.com apart; ``single_origin=True`` serves both on one port.

    ``start()`` returns once the server accepts connections (bounded wait); ``stop()`` shuts it
    down. Use it as a context manager. The simulator's ``base_url`` and ``api_url`` are set to
    the real addresses.
    """

    def __init__(
        self,
        simulator: Simulator | None = None,
        *,
        host: str = "127.0.0.1",
        single_origin: bool = False,
    ) -> None:
        self._sockets = [bind(host, 0)]
        if not single_origin:
            try:
                self._sockets.append(bind(host, 0))
            except OSError:
                self._sockets[0].close()
                raise
        shown = f"[{host}]" if ":" in host else host
        urls = [f"http://{shown}:{sock.getsockname()[1]}" for sock in self._sockets]
        self.base_url, self.api_url = urls[0], urls[-1]
        self.simulator = simulator or Simulator()
        self.simulator.base_url, self.simulator.api_url = self.base_url, self.api_url
        self._server = uvicorn_server(self.simulator)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": self._sockets}, daemon=True
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
        for sock in self._sockets:
            sock.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
