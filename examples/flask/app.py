"""Sign in with Miro in a Flask app: `.venv/bin/python examples/flask/app.py`, then open
http://127.0.0.1:8001/.

Against miroflow's simulator of Miro (a real consent page, no account needed) unless
MIRO_CLIENT_ID, MIRO_CLIENT_SECRET and MIRO_REDIRECT_URL are set: then against Miro (or
whatever the MIRO_* variables point at), served on the redirect URI's host and port. Tokens
go to SQLite (MIROFLOW_DATABASE, or a file in a fresh temporary directory); the session key
comes from FLASK_SECRET_KEY, or is made up for this run.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import flask
import miroflow_flask
from markupsafe import escape
from miroflow_simulator import development_config
from miroflow_sqlite import SQLiteFlowStore, SQLiteTokenStore
from miroflow_urllib import UrllibTransport
from werkzeug.serving import WSGIRequestHandler, run_simple

import miroflow

config = development_config(redirect_uri="http://127.0.0.1:8001/miro/callback")
database = os.environ.get("MIROFLOW_DATABASE") or Path(tempfile.mkdtemp()) / "miroflow.sqlite3"
client = miroflow.Client(
    config,
    flows=SQLiteFlowStore(database, client_id=config.client_id),
    tokens=SQLiteTokenStore(database, client_id=config.client_id),
    transport=UrllibTransport(),
)
app = flask.Flask(__name__)
app.config.from_prefixed_env()  # FLASK_SECRET_KEY: one key for every worker of the app
app.secret_key = app.secret_key or secrets.token_hex(32)
app.register_blueprint(miroflow_flask.blueprint(client))  # /miro/login and /miro/callback


@app.get("/")
def home() -> str:
    tokens = miroflow_flask.current_tokens()
    if tokens is None:
        login = escape(flask.url_for("miroflow.login"))
        return f'<p>Not signed in. <a href="{login}">Sign in with Miro</a></p>'
    return f"<p>Signed in as user {escape(tokens.user_id)} in team {escape(tokens.team_id)}</p>"


class PathOnlyLog(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # A callback's query holds a code and a state: log the path alone.
        self.log("info", '"%s %s" %s', self.command, urlsplit(self.path).path, code)


if __name__ == "__main__":
    where = urlsplit(config.redirect_uri)
    run_simple(where.hostname or "127.0.0.1", where.port or 80, app, request_handler=PathOnlyLog)
