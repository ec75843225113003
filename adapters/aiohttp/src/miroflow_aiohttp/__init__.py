"""miroflow-aiohttp: Miro's sign-in (OAuth 2.0 authorization code) for aiohttp.web apps.

import aiohttp_session, miroflow_aiohttp
aiohttp_session.setup(app, storage)  # who is signed in: aiohttp-session's session
miroflow_aiohttp.setup(app, client)  # a miroflow.AsyncClient: /miro/login and the callback
tokens = await miroflow_aiohttp.current_tokens(request)  # in a handler: TokenSet or None
"""

from ._routes import (
    CLIENT,
    SESSION_KEY,
    AccessLogger,
    IsSignedIn,
    OnSignedIn,
    RenderError,
    current_tokens,
    send,
    setup,
)

__all__ = [
    "CLIENT",
    "SESSION_KEY",
    "AccessLogger",
    "IsSignedIn",
    "OnSignedIn",
    "RenderError",
    "current_tokens",
    "send",
    "setup",
]
