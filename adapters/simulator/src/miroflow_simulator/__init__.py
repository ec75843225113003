"""miroflow-simulator: a faithful simulated Miro authorization server.

The behaviour lives in the pure model ``miroflow.simulator``; this package serves it: an
ASGI app (``SimulatorApp``), in-process transports (``SimulatorTransport``,
``AsyncSimulatorTransport``, ``httpx_transport``), a loopback server in a thread
(``LoopbackServer``), ``development_config`` for example apps, the ``miroflow-simulator``
command, and pytest fixtures
(``miro_simulator``, ``miro_simulator_server``).
"""

from ._asgi import SimulatorApp
from ._browser import SESSION_COOKIE, SIGN_IN_PATH, SignIn
from ._cli import main
from ._development import development_config
from ._serve import LoopbackServer
from ._simulator import (
    AUTHORIZE_PATH,
    CONTROL_PREFIX,
    DEFAULT_API_URL,
    DEFAULT_BASE_URL,
    FaultKind,
    LoggedRequest,
    Simulator,
    Stall,
)
from ._transport import AsyncSimulatorTransport, SimulatorTransport, httpx_transport

__all__ = [
    "AUTHORIZE_PATH",
    "CONTROL_PREFIX",
    "DEFAULT_API_URL",
    "DEFAULT_BASE_URL",
    "SESSION_COOKIE",
    "SIGN_IN_PATH",
    "AsyncSimulatorTransport",
    "FaultKind",
    "LoggedRequest",
    "LoopbackServer",
    "SignIn",
    "Simulator",
    "SimulatorApp",
    "SimulatorTransport",
    "Stall",
    "development_config",
    "httpx_transport",
    "main",
]
