"""Sign in with Miro in a FastAPI app: `python examples/fastapi/app.py`, then open
http://127.0.0.1:8000.

Against miroflow's simulator of Miro (on loopback) by default; against Miro when
MIRO_CLIENT_ID, MIRO_CLIENT_SECRET and MIRO_REDIRECT_URL are set (the app then serves on the
redirect URL's host and port). Tokens are kept in SQLite (MIROFLOW_DATABASE, or a file in the
temporary directory).
"""

from __future__ import annotations

import html
import os
import secrets
import tempfile
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import uvicorn
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse
from miroflow_httpx import AsyncHttpxTransport
from miroflow_simulator import development_config
from miroflow_sqlite import AsyncSQLiteFlowStore, AsyncSQLiteTokenStore
from miroflow_starlette import Miroflow
from starlette.middleware.sessions import SessionMiddleware

from miroflow import AsyncClient, TokenSet

config = development_config("http://127.0.0.1:8000/miro/callback")
database = os.environ.get("MIROFLOW_DATABASE") or Path(tempfile.gettempdir(), "fastapi.sqlite3")
client = AsyncClient(
    config,
    flows=AsyncSQLiteFlowStore(path=database),
    tokens=AsyncSQLiteTokenStore(path=database),
    transport=AsyncHttpxTransport(),
)
miro = Miroflow(client)
app = FastAPI()
app.add_middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32))
app.include_router(miro.router)


@app.get("/", response_class=HTMLResponse)
async def home(tokens: Annotated[TokenSet | None, Depends(miro.current_tokens)]) -> str:
    if tokens is None:
        return f'<p>Not signed in. <a href="{config.login_path}">Sign in with Miro</a></p>'
    who = html.escape(f"Signed in as user {tokens.user_id} in team {tokens.team_id}")
    return f"<h1>Miro</h1><p>{who}</p><p>Scopes: {html.escape(' '.join(tokens.scopes))}</p>"


if __name__ == "__main__":
    address = urlsplit(config.redirect_uri)
    # No access log: the callback's request line holds the code and state (RFC 9700 §4.2).
    host, port = address.hostname or "127.0.0.1", address.port or 8000
    uvicorn.run(app, host=host, port=port, access_log=False)
