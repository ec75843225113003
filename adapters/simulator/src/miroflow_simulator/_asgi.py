"""The simulator as a plain ASGI app: it translates an ASGI request into a
``miroflow.HttpRequest``, asks ``Simulator.dispatch``, and writes the answer back.

It writes its own access log, one INFO line per request on the ``miroflow_simulator.access``
logger, in uvicorn's format but with the value of every query parameter redacted unless its
name is known to be harmless: the requests it serves carry states, codes, tokens and client
secrets, and a log is where stolen codes are found (RFC 9700 §4.2.4). uvicorn's own access
log, which writes the raw query, is turned off (see ``_serve``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_plus

from miroflow import HttpRequest, HttpResponse

from ._pages import html_response
from ._simulator import Simulator, Stall

__all__ = ["ACCESS_LOGGER", "SimulatorApp", "redact_query"]

#: The simulator's access log (uvicorn's is off: it writes query values as they came).
ACCESS_LOGGER = logging.getLogger("miroflow_simulator.access")

#: Parameters whose values are shown in the access log; every other value is redacted (a
#: state, a code, a token or a secret may hide under any other name).
_SHOWN = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "team_id",
        "code_challenge_method",
        "grant_type",
        "error",
    }
)
REDACTED = "[redacted]"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Nothing the simulator accepts comes near this; larger bodies get 413.
MAX_REQUEST_BODY = 1024 * 1024


class SimulatorApp:
    """``SimulatorApp(simulator)`` is an ASGI 3 application (uvicorn, httpx.ASGITransport)."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        if body is None:
            refused = self.simulator.refuse(
                _request(scope, b""), 413, "payloadTooLarge", "The request body is too large."
            )
            await _send(send, refused)
            _log_access(scope, refused.status)
            return
        answer = self.simulator.dispatch(_request(scope, body))
        if isinstance(answer, Stall):
            if await _disconnected_within(receive, answer.seconds):
                _log_access(scope, 499)
                return
            answer = html_response(504, "<h1>504 Gateway Timeout</h1>")
        await _send(send, answer)
        _log_access(scope, answer.status)


def redact_query(query: str) -> str:
    """``query`` with every value redacted except those of the names in ``_SHOWN``; a part
    without ``=`` is a bare value and is redacted whole. Names are compared decoded and
    case-folded, so ``%73tate`` or ``STATE`` is no way around it."""
    parts = []
    for part in query.split("&"):
        if not part:
            continue
        name, equals, _ = part.partition("=")
        if not equals:
            parts.append(REDACTED)
        elif unquote_plus(name).strip().lower() in _SHOWN:
            parts.append(part)
        else:
            parts.append(f"{name}={REDACTED}")
    return "&".join(parts)


def _log_access(scope: Scope, status: int) -> None:
    if not ACCESS_LOGGER.isEnabledFor(logging.INFO):
        return
    client = scope.get("client")
    address = f"{client[0]}:{client[1]}" if client else "-"
    path = scope.get("path", "")
    query = scope.get("query_string", b"").decode("latin-1")
    if query:
        path = f"{path}?{redact_query(query)}"
    version = scope.get("http_version", "1.1")
    ACCESS_LOGGER.info(
        '%s - "%s %s HTTP/%s" %d', address, scope.get("method", ""), path, version, status
    )


def _request(scope: Scope, body: bytes) -> HttpRequest:
    headers = tuple(
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]
    )
    host = next((value for name, value in headers if name.lower() == "host"), None)
    if host is None:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    raw_path = scope.get("raw_path") or scope["path"].encode()
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(raw_path)
    query = scope.get("query_string", b"").decode("latin-1")
    url = f"{scope.get('scheme', 'http')}://{host}{path}" + (f"?{query}" if query else "")
    return HttpRequest(method=scope["method"], url=url, headers=headers, body=body)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_REQUEST_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _disconnected_within(receive: Receive, seconds: float) -> bool:
    """An injected stall: say nothing until the client gives up (True) or ``seconds`` pass."""
    try:
        await asyncio.wait_for(_until_disconnect(receive), seconds)
    except asyncio.TimeoutError:
        return False
    return True


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send(send: Send, response: HttpResponse) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
