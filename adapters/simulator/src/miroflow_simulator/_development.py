"""``development_config``: an example app's configuration, for Miro or for the simulator.

An app under development wants one line that works on a laptop with nothing set up (the
simulator, served on loopback, shows a real consent page) and against Miro the moment the
app's credentials are in the environment, with no code changed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from miroflow import ClientConfig

from ._serve import LoopbackServer
from ._simulator import Simulator

__all__ = ["development_config"]

logger = logging.getLogger("miroflow_simulator")

#: The simulators started for this process, kept so that their servers live as long as it.
_RUNNING: list[LoopbackServer] = []


def development_config(
    redirect_uri: str = "http://127.0.0.1:8000/miro/callback",
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> ClientConfig:
    """``ClientConfig.from_env()`` when ``MIRO_CLIENT_ID`` is set (Miro, or whatever the
    ``MIRO_*`` variables point at); otherwise a simulator of Miro served on loopback in a
    background thread for the rest of the process, with an app registered for
    ``redirect_uri``, and that app's configuration. ``overrides`` set any other field."""
    environ = os.environ if environ is None else environ
    if environ.get("MIRO_CLIENT_ID", "").strip():
        return ClientConfig.from_env(environ, **overrides)
    server = LoopbackServer(Simulator()).start()
    _RUNNING.append(server)
    simulator = server.simulator
    app = simulator.register_app([redirect_uri], name="Development app")
    logger.warning(
        "MIRO_CLIENT_ID is not set: signing in goes to miroflow's simulator of Miro at %s "
        "(set MIRO_CLIENT_ID, MIRO_CLIENT_SECRET and MIRO_REDIRECT_URL to use Miro).",
        simulator.base_url,
    )
    return simulator.client_config(app, **overrides)
