"""The loopback callback server: where Miro sends the browser back after consent.

One stdlib HTTP server on 127.0.0.1, in a thread (RFC 8252 §7.3: a native app receives the
redirect on the loopback interface). It knows nothing of OAuth: a GET of the callback path is
handed, raw query string and all, to the ``on_callback`` it was given (the client's
``handle_callback``), the browser is answered with a small page, and the answer is queued for
the command waiting in the foreground. Nothing is logged: a request line holds the code and
the state.
"""

from __future__ import annotations

import html
import queue
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlsplit

from miroflow import Answer

__all__ = ["CallbackServer", "OnCallback"]

OnCallback = Callable[[str], Answer]

HOST = "127.0.0.1"
_SIGNED_IN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Signed in to Miro</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto}}</style>
</head><body>
<h1>Signed in to Miro</h1>
<p>{what}</p>
<p>You can close this tab and go back to the terminal.</p>
</body></html>
"""
#: The same headers an ``Answer`` always sends: never cached, no Referer, never sniffed,
#: nothing loaded or run.
_PAGE_HEADERS = (
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
)


def _signed_in_page(answer: Answer) -> tuple[int, list[tuple[str, str]], bytes]:
    tokens = answer.tokens
    assert tokens is not None
    what = html.escape(f"User {tokens.user_id}, team {tokens.team_id}.")
    headers = [("Content-Type", "text/html; charset=utf-8"), *_PAGE_HEADERS]
    return 200, headers, _SIGNED_IN.format(what=what).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "miroflow"
    sys_version = ""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != self.server.callback_path:
            self._send(404, [("Content-Type", "text/plain; charset=utf-8")], b"Not found.\n")
            return
        self.server.busy = True
        try:
            try:
                answer = self.server.on_callback(parts.query)
            except Exception as error:  # handed to the command, which reports it in one line
                body = b"Signing in with Miro did not work: see the terminal.\n"
                self._send(500, [("Content-Type", "text/plain; charset=utf-8")], body)
                self.server.answers.put(error)
                return
            if answer.tokens is not None:
                # The flow ended here: a page of our own rather than the app's redirect
                # (there is no app behind this server to redirect to).
                status, headers, body = _signed_in_page(answer)
            else:
                page = answer.render(self.headers.get("Accept"))
                status, headers, body = page.status, page.headers, page.body
            try:
                self._send(status, headers, body)
            finally:
                # Queued once the browser has its page (the command may stop the server at
                # once), and queued even if the browser hung up.
                self.server.answers.put(answer)
        finally:
            self.server.busy = False

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a request line holds the code and the state: never written anywhere


class _Server(HTTPServer):
    def __init__(self, port: int, callback_path: str) -> None:
        super().__init__((HOST, port), _Handler)
        self.callback_path = callback_path
        self.on_callback: OnCallback = _not_serving
        self.answers: queue.Queue[Answer | Exception] = queue.Queue()
        #: A callback is being finished (its token request may be on the way).
        self.busy = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser that hung up mid-answer: nothing to report, no traceback


def _not_serving(query: str) -> Answer:  # pragma: no cover - replaced before serving
    raise RuntimeError("The callback server is not serving yet.")


class CallbackServer:
    """Listens on ``127.0.0.1:port`` (0: a free port) from construction on, so a port in use
    fails before any flow starts; ``serve(on_callback)`` starts answering, in a daemon
    thread; ``close()`` stops. A context manager."""

    def __init__(self, port: int, callback_path: str) -> None:
        self._server = _Server(port, callback_path or "/")
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def serve(self, on_callback: OnCallback) -> None:
        self._server.on_callback = on_callback
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="miroflow-callback",
            daemon=True,
        )
        self._thread.start()

    @property
    def busy(self) -> bool:
        """Whether a callback is being handled right now."""
        return self._server.busy or not self._server.answers.empty()

    def next_answer(self, timeout: float) -> Answer | None:
        """The next callback's answer, waiting at most ``timeout`` seconds (None if none).
        An exception the client raised while handling a callback is raised here."""
        try:
            answer = self._server.answers.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> CallbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
