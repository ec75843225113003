"""pytest fixtures for testing against the simulated Miro (loaded automatically once
``miroflow-simulator`` is installed, through the ``pytest11`` entry point).

* ``miro_simulator``: a ``Simulator`` in-process, with one app registered. Reach it with
  ``miro_simulator.transport`` (a ``miroflow.Transport``), ``.async_transport``, or
  ``miroflow_simulator.httpx_transport(miro_simulator)``; build the client's configuration
  with ``miro_simulator.client_config()``. Its hosts are names under ``.invalid`` (RFC 6761):
  a request sent there through a real transport fails to resolve, it never reaches a
  simulator running on this machine.
* ``miro_simulator_server``: the same on ``127.0.0.1`` (uvicorn in a thread), the consent host
  and the API host on two free ports, for browsers and apps running in a subprocess:
  ``.base_url``, ``.api_url``, ``.simulator``.

The app is registered for ``miro_simulator_redirect_uri`` (``http://127.0.0.1:8000/callback``
unless you override that fixture), or as a test's marker says::

    @pytest.mark.miro_simulator(redirect_uris=["http://localhost:5000/auth/miro"], expiring=False)
    def test_sign_in(miro_simulator): ...

Both offer the clock (``advance``), faults (``inject_fault``), auto-approve and the request
log, in-process or over HTTP under ``/_simulator/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ._serve import LoopbackServer
from ._simulator import Simulator

__all__ = ["miro_simulator", "miro_simulator_redirect_uri", "miro_simulator_server"]

#: The redirect URI the fixtures' app is registered with by default.
FIXTURE_REDIRECT_URI = "http://127.0.0.1:8000/callback"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "miro_simulator(redirect_uris=[...], **app): how the miro_simulator fixtures register "
        "their app (the keywords of Simulator.register_app)",
    )


@pytest.fixture
def miro_simulator_redirect_uri() -> str:
    """The redirect URI the fixtures register their app with; override it in a conftest."""
    return FIXTURE_REDIRECT_URI


def _register(simulator: Simulator, request: pytest.FixtureRequest, redirect_uri: str) -> None:
    marker = request.node.get_closest_marker("miro_simulator")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    uris = options.pop("redirect_uris", None) or [options.pop("redirect_uri", redirect_uri)]
    simulator.register_app(uris, **options)


@pytest.fixture
def miro_simulator(request: pytest.FixtureRequest, miro_simulator_redirect_uri: str) -> Simulator:
    """A simulated Miro, in-process, with one app registered."""
    simulator = Simulator()
    _register(simulator, request, miro_simulator_redirect_uri)
    return simulator


@pytest.fixture
def miro_simulator_server(
    request: pytest.FixtureRequest, miro_simulator_redirect_uri: str
) -> Iterator[LoopbackServer]:
    """A simulated Miro served on 127.0.0.1 (two free ports), with one app registered."""
    simulator = Simulator()
    _register(simulator, request, miro_simulator_redirect_uri)
    with LoopbackServer(simulator) as server:
        yield server
