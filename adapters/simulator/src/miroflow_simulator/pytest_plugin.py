"""pytest fixtures for testing against the simulated Miro (loaded automatically once
``miroflow-simulator`` is installed, through the ``pytest11`` entry point).

* ``miro_simulator``: a ``Simulator`` in-process, with one app registered. Reach it with
  ``miro_simulator.transport`` (a ``miroflow.Transport``), ``.async_transport``, or
  ``miroflow_simulator.httpx_transport(miro_simulator)``; build the client's configuration
  with ``miro_simulator.client_config()``.
* ``miro_simulator_server``: the same on ``127.0.0.1`` and an ephemeral port (uvicorn in a
  thread), for browsers and apps running in a subprocess: ``.base_url``, ``.simulator``.

Both offer the clock (``advance``), faults (``inject_fault``), auto-approve and the request
log, in-process or over HTTP under ``/_simulator/``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._serve import LoopbackServer
from ._simulator import Simulator

__all__ = ["miro_simulator", "miro_simulator_server"]

#: The redirect URI the fixtures' app is registered with.
FIXTURE_REDIRECT_URI = "http://127.0.0.1:8000/callback"


@pytest.fixture
def miro_simulator() -> Simulator:
    """A simulated Miro, in-process, with one app registered (redirect URI
    ``http://127.0.0.1:8000/callback``)."""
    simulator = Simulator(base_url="http://127.0.0.1:8765")
    simulator.register_app([FIXTURE_REDIRECT_URI])
    return simulator


@pytest.fixture
def miro_simulator_server() -> Iterator[LoopbackServer]:
    """A simulated Miro served on 127.0.0.1 and a free port, with one app registered."""
    simulator = Simulator()
    simulator.register_app([FIXTURE_REDIRECT_URI])
    with LoopbackServer(simulator) as server:
        yield server
