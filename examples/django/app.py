"""Sign in with Miro in a one-file Django project: `.venv/bin/python examples/django/app.py`, then
open http://127.0.0.1:8002/. Against miroflow's simulator unless MIRO_CLIENT_ID, MIRO_CLIENT_SECRET
and MIRO_REDIRECT_URL are set; tokens in SQLite (MIROFLOW_DATABASE, or a temporary file)."""

import logging
import os
import tempfile
from urllib.parse import urlsplit

import miroflow_django
from django.conf import settings
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.utils.html import format_html
from miroflow_simulator import development_config
from miroflow_sqlite import SQLiteFlowStore, SQLiteTokenStore
from miroflow_urllib import UrllibTransport

import miroflow

config = development_config(redirect_uri="http://127.0.0.1:8002/miro/callback")
database = os.environ.get("MIROFLOW_DATABASE") or os.path.join(tempfile.mkdtemp(), "miroflow.db")
flows = SQLiteFlowStore(database, client_id=config.client_id)
tokens = SQLiteTokenStore(database, client_id=config.client_id)
client = miroflow.Client(config, flows=flows, tokens=tokens, transport=UrllibTransport())
where = urlsplit(config.redirect_uri)  # served on the redirect URI's host and port
settings.configure(
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or os.urandom(32).hex(),  # signs sessions
    ALLOWED_HOSTS=[where.hostname],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    SESSION_COOKIE_SECURE=config.secure_cookies,
    MIROFLOW={"CLIENT": client},
)


def home(request: HttpRequest) -> HttpResponse:
    me = miroflow_django.current_tokens(request)
    if me is None:
        return HttpResponse(format_html('<a href="{}">Sign in with Miro</a>', config.login_path))
    return HttpResponse(format_html("Signed in as user {} in team {}", me.user_id, me.team_id))


urlpatterns = [path("", include("miroflow_django.urls")), path("", home)]


class PathOnlyLog(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # A callback's query holds a code and a state: log the path alone.
        self.log_message('"%s %s" %s', self.command, urlsplit(self.path).path, code)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # miroflow logs why a sign-in failed
    server = ThreadedWSGIServer((where.hostname or "127.0.0.1", where.port or 80), PathOnlyLog)
    server.set_app(get_wsgi_application())  # django.setup() too
    server.serve_forever()
