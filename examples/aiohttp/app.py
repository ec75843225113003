"""Sign in with Miro in an aiohttp app: `.venv/bin/python examples/aiohttp/app.py`, then open
http://127.0.0.1:8003/. Against miroflow's simulator of Miro unless MIRO_CLIENT_ID,
MIRO_CLIENT_SECRET and MIRO_REDIRECT_URL are set; served on the redirect URI's host and port."""

import html
import logging
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp_session
import miroflow_aiohttp
from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from miroflow_httpx import AsyncHttpxTransport
from miroflow_simulator import development_config
from miroflow_sqlite import AsyncSQLiteFlowStore, AsyncSQLiteTokenStore

import miroflow


async def home(request: web.Request) -> web.Response:
    tokens = await miroflow_aiohttp.current_tokens(request)
    if tokens is None:
        login = html.escape(request.config_dict[miroflow_aiohttp.CLIENT].config.login_path)
        body = f'Not signed in. <a href="{login}">Sign in with Miro</a>'
    else:
        user, team = html.escape(tokens.user_id), html.escape(tokens.team_id)
        body = f"Signed in as user {user} in team {team}"
    return web.Response(text=f"<!doctype html><p>{body}", content_type="text/html")


def make_app(config: miroflow.ClientConfig, database: Path) -> web.Application:
    client = miroflow.AsyncClient(
        config,
        flows=AsyncSQLiteFlowStore(database, client_id=config.client_id),
        tokens=AsyncSQLiteTokenStore(database, client_id=config.client_id),
        transport=AsyncHttpxTransport(),
    )
    app = web.Application()
    key = os.urandom(32)  # of the encrypted session cookie: a real app keeps one in its secrets
    secure = config.secure_cookies  # Secure over https, as miroflow's own cookie
    aiohttp_session.setup(app, EncryptedCookieStorage(key, samesite="Lax", secure=secure))
    miroflow_aiohttp.setup(app, client)
    app.router.add_get("/", home)
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO)  # miroflow logs why a sign-in failed
    config = development_config(redirect_uri="http://127.0.0.1:8003/miro/callback")
    database = os.environ.get("MIROFLOW_DATABASE") or Path(tempfile.mkdtemp()) / "miroflow.db"
    where = urlsplit(config.redirect_uri)
    app, logger = make_app(config, Path(database)), miroflow_aiohttp.AccessLogger  # no codes
    web.run_app(app, host=where.hostname, port=where.port, access_log_class=logger)


if __name__ == "__main__":
    main()
