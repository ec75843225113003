"""``Simulator``: the pure authorization server plus everything a test needs around it.

It owns the clock (the caller's clock plus an offset tests can advance), the entropy source,
injected faults, auto-approve mode and a log of API requests. ``dispatch`` answers any
request (consent pages, token endpoints, the control surface) as a ``miroflow.HttpResponse``,
or ``Stall`` for an injected stall; the ASGI app and the in-process transports only translate.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from miroflow import ClientConfig, Clock, Entropy, HttpRequest, HttpResponse, MiroflowError
from miroflow.simulator import (
    CONTEXT_PATH,
    DEFAULT_SCOPES,
    LEGACY_REVOKE_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    App,
    AuthorizationServer,
    Registry,
    miro_error,
    request_params,
)

from . import _browser as browser
from . import _pages as pages
from ._browser import AUTHORIZE_PATH, SIGN_IN_PATH, SIGN_OUT_PATH, SignIn
from ._control import ControlError, control_answer, handle_control

if TYPE_CHECKING:
    from ._asgi import SimulatorApp
    from ._transport import AsyncSimulatorTransport, SimulatorTransport

__all__ = [
    "AUTHORIZE_PATH",
    "CONTROL_PREFIX",
    "DEFAULT_API_URL",
    "DEFAULT_BASE_URL",
    "FaultKind",
    "LoggedRequest",
    "SignIn",
    "Simulator",
    "Stall",
]

CONTROL_PREFIX = "/_simulator"
#: In-process defaults: names under the reserved .invalid top-level domain (RFC 6761), so a
#: test that sends them through a real transport fails to resolve instead of reaching a
#: simulator that happens to run on this machine.
DEFAULT_BASE_URL = "https://miro.simulator.invalid"
DEFAULT_API_URL = "https://api.miro.simulator.invalid"
#: Over the parser's 64 KiB cap, and over any sane transport's.
HUGE_BODY_SIZE = 2 * 1024 * 1024
_ENDPOINTS = {
    TOKEN_PATH: "token",
    REVOKE_PATH: "revoke",
    LEGACY_REVOKE_PATH: "revoke_v1",
    CONTEXT_PATH: "token_context",
}
_API_PREFIXES = ("/v1/", "/v2/", "/v3/")


class FaultKind(str, enum.Enum):
    """What an injected fault does to a token-endpoint call (the model never sees it)."""

    SERVER_ERROR = "server_error"  # 500 with an HTML body
    STALL = "stall"  # no answer: a timeout on the client's side
    NOT_JSON = "not_json"  # 200 whose body is HTML
    HUGE_BODY = "huge_body"  # 200 with a 2 MiB body
    REDIRECT = "redirect"  # 307 to another URL


@attrs.frozen
class Stall:
    """Answer nothing for ``seconds`` (over HTTP) or time out at once (in-process)."""

    seconds: float


@attrs.frozen(kw_only=True)
class LoggedRequest:
    """One API request the simulator saw. Never holds a code, token or secret."""

    at: float
    endpoint: str  # "token", "revoke", "revoke_v1", "token_context"
    grant_type: str | None
    client_id: str | None
    status: int | None  # None for a stall
    fault: FaultKind | None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "endpoint": self.endpoint,
            "grant_type": self.grant_type,
            "client_id": self.client_id,
            "status": self.status,
            "fault": self.fault.value if self.fault else None,
        }


def _fault_response(kind: FaultKind, base_url: str) -> HttpResponse:
    html = (("Content-Type", "text/html; charset=utf-8"),)
    if kind is FaultKind.SERVER_ERROR:
        body = b"<html><body><h1>500 Internal Server Error</h1></body></html>"
        return HttpResponse(status=500, headers=html, body=body)
    if kind is FaultKind.NOT_JSON:
        return HttpResponse(status=200, headers=html, body=b"<html><body>Welcome</body></html>")
    if kind is FaultKind.HUGE_BODY:
        padding = b"A" * HUGE_BODY_SIZE
        body = b'{"access_token":"' + padding + b'","token_type":"bearer"}'
        return HttpResponse(status=200, headers=(("Content-Type", "application/json"),), body=body)
    location = f"{base_url}{CONTROL_PREFIX}/moved"
    return HttpResponse(status=307, headers=(("Location", location),))


def _api_url_for(base_url: str) -> str:
    """The API origin beside a consent origin: ``api.`` before a host name (miro.com and
    api.miro.com); the same origin for an IP address or localhost, which have no subdomains."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        return base_url
    except ValueError:
        if host == "localhost":
            return base_url
    netloc = f"api.{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, "", "", ""))


def _netloc(url: str) -> str:
    return urlsplit(url).netloc.lower()


class Simulator:
    """A simulated Miro for tests, demos and local development.

    As on Miro, two hosts: ``base_url`` serves the browser (the consent page, sign-in; Miro's
    miro.com) and ``api_url`` the API (token, revoke, token context; api.miro.com). Each
    refuses the other's paths: an API call on the consent host gets an HTML 404, a browser
    path on the API host Miro's JSON 404. ``api_url`` defaults to ``api.`` before the
    ``base_url``'s host name (for an IP address or localhost, the same origin: both roles on
    one host). A host that is neither, or one origin for both, is served both ways, routed by
    path. The test controls (``/_simulator/``) answer on both.

    ``sign_in`` says who a browser without a session cookie is (``SignIn``); ``default_user``
    is that user (the first registered by default). ``clock`` and ``entropy`` default to the
    system's; ``now()`` is ``clock()`` plus the offset that ``advance`` moves.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_url: str | None = None,
        clock: Clock = time.time,
        entropy: Entropy = os.urandom,
        registry: Registry | None = None,
        stall_seconds: float = 30.0,
        sign_in: SignIn | str = SignIn.AUTOMATIC,
        default_user: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_url = (api_url or _api_url_for(self.base_url)).rstrip("/")
        self.server = AuthorizationServer(registry, entropy=entropy)
        self.sign_in = SignIn(sign_in)
        users = self.server.registry.users
        self.default_user = default_user or next(iter(users), "")
        if self.default_user not in users:
            raise ValueError(f"There is no user {self.default_user or '(none registered)'}.")
        self.stall_seconds = stall_seconds
        self._clock = clock
        self._offset = 0.0
        self._lock = threading.Lock()
        self._faults: list[tuple[FaultKind, float]] = []
        self._auto_approve: tuple[str, str | None] | None = None
        self._log: list[LoggedRequest] = []

    # --- clock --------------------------------------------------------------------------

    def now(self) -> float:
        """The simulator's time: the clock plus the offset. Pass it as a client's clock to
        keep both in step."""
        return self._clock() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the simulator's clock forward; records past their deadlines expire."""
        if seconds < 0:
            raise ValueError("The simulator's clock only moves forward.")
        with self._lock:
            self._offset += seconds
        now = self.now()
        self.server.tick(now)
        return now

    # --- registration -------------------------------------------------------------------

    def register_app(
        self,
        redirect_uris: tuple[str, ...] | list[str] = ("http://127.0.0.1:8000/callback",),
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        expiring: bool = True,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        name: str = "Simulated app",
    ) -> App:
        """Register an app (the ID and secret are drawn when not given)."""
        return self.server.register_app(
            redirect_uris=tuple(redirect_uris),
            client_id=client_id,
            client_secret=client_secret,
            expiring=expiring,
            scopes=scopes,
            name=name,
        )

    @property
    def apps(self) -> Mapping[str, App]:
        return self.server.registry.apps

    def endpoint(self, path: str) -> str:
        """A URL on the consent host (the browser's side)."""
        return f"{self.base_url}{path}"

    def api_endpoint(self, path: str) -> str:
        """A URL on the API host."""
        return f"{self.api_url}{path}"

    def environment(self, app: App | None = None) -> dict[str, str]:
        """The environment variables that point ``miroflow.ClientConfig.from_env`` (and
        Miro's own SDK, for the first three) at this simulator, for ``app`` (the first
        registered by default). Holds the client secret."""
        app = app or self._first_app()
        return {
            "MIRO_CLIENT_ID": app.client_id,
            "MIRO_CLIENT_SECRET": app.client_secret.reveal(),
            "MIRO_REDIRECT_URL": app.redirect_uris[0],
            "MIRO_AUTHORIZE_URL": self.endpoint(AUTHORIZE_PATH),
            "MIRO_TOKEN_URL": self.api_endpoint(TOKEN_PATH),
            "MIRO_REVOKE_URL": self.api_endpoint(REVOKE_PATH),
            "MIRO_TOKEN_CONTEXT_URL": self.api_endpoint(CONTEXT_PATH),
        }

    def _first_app(self) -> App:
        if not self.apps:
            raise ValueError("Register an app first.")
        return next(iter(self.apps.values()))

    def client_config(
        self, app: App | None = None, *, redirect_uri: str | None = None, **overrides: Any
    ) -> ClientConfig:
        """A ``miroflow.ClientConfig`` for ``app`` (the first registered by default) whose
        endpoints all point at this simulator."""
        app = app or self._first_app()
        values: dict[str, Any] = {
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uri": redirect_uri or app.redirect_uris[0],
            "authorize_endpoint": self.endpoint(AUTHORIZE_PATH),
            "token_endpoint": self.api_endpoint(TOKEN_PATH),
            "revoke_endpoint": self.api_endpoint(REVOKE_PATH),
            "token_context_endpoint": self.api_endpoint(CONTEXT_PATH),
        }
        values.update(overrides)
        return ClientConfig(**values)

    # --- test controls ------------------------------------------------------------------

    def inject_fault(
        self, kind: FaultKind | str, count: int = 1, *, seconds: float | None = None
    ) -> None:
        """Make the next ``count`` token-endpoint calls fail this way (in order, after any
        faults already queued). ``seconds`` is how long a stall lasts over HTTP."""
        kind = FaultKind(kind)
        if count < 1:
            raise ValueError("count must be at least 1.")
        with self._lock:
            self._faults += [(kind, self.stall_seconds if seconds is None else seconds)] * count

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> tuple[FaultKind, ...]:
        with self._lock:
            return tuple(kind for kind, _ in self._faults)

    def auto_approve(self, user_id: str | None = None, team_id: str | None = None) -> None:
        """From now on ``GET /oauth/authorize`` redirects at once, as if ``user_id`` (the first
        user by default) had clicked "Install & authorize" for ``team_id`` (the requested team
        if the user may install there, else the user's first team)."""
        users = self.server.registry.users
        user_id = user_id or next(iter(users))
        if user_id not in users:
            raise ValueError(f"There is no user {user_id}.")
        if team_id is not None and team_id not in users[user_id].team_ids:
            raise ValueError(f"User {user_id} may not install into team {team_id}.")
        with self._lock:
            self._auto_approve = (user_id, team_id)

    @property
    def auto_approve_as(self) -> dict[str, str | None] | None:
        """Who auto-approve acts as, or None when the consent page is shown."""
        with self._lock:
            auto = self._auto_approve
        return None if auto is None else {"user_id": auto[0], "team_id": auto[1]}

    def sign_in_as(self, user_id: str | None = None) -> str:
        """Sign ``user_id`` (the default user) in, as the sign-in page does: the session
        cookie's value (name ``SESSION_COOKIE``), for a test's browser."""
        return self.server.sign_in(user_id or self.default_user, now=self.now())

    def manual_approve(self) -> None:
        """Show the consent page again (turn auto-approve off)."""
        with self._lock:
            self._auto_approve = None

    @property
    def log(self) -> tuple[LoggedRequest, ...]:
        with self._lock:
            return tuple(self._log)

    def token_requests(self, grant_type: str | None = None) -> tuple[LoggedRequest, ...]:
        """The token-endpoint calls seen, optionally of one grant type."""
        return tuple(
            entry
            for entry in self.log
            if entry.endpoint == "token" and grant_type in (None, entry.grant_type)
        )

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # --- front ends ---------------------------------------------------------------------

    @property
    def transport(self) -> SimulatorTransport:
        """A blocking ``miroflow.Transport`` into this simulator, in-process."""
        from ._transport import SimulatorTransport

        return SimulatorTransport(self)

    @property
    def async_transport(self) -> AsyncSimulatorTransport:
        """An awaitable ``miroflow.AsyncTransport`` into this simulator, in-process."""
        from ._transport import AsyncSimulatorTransport

        return AsyncSimulatorTransport(self)

    @property
    def asgi_app(self) -> SimulatorApp:
        """This simulator as an ASGI app."""
        from ._asgi import SimulatorApp

        return SimulatorApp(self)

    # --- dispatch -----------------------------------------------------------------------

    def dispatch(self, request: HttpRequest) -> HttpResponse | Stall:
        """Answer any request to the simulator, as the host it was sent to."""
        parts = urlsplit(request.url)
        path = parts.path
        if path.startswith(CONTROL_PREFIX + "/"):
            try:
                return self._control(request, path[len(CONTROL_PREFIX) :])
            except (ControlError, ValueError, MiroflowError) as error:
                return control_answer(400, {"error": str(error)})
        role = self._role(parts.netloc.lower(), path)
        if role == "api":
            if path in _ENDPOINTS:
                return self._api(request, _ENDPOINTS[path])
            return miro_error(404, "notFound", f"No API endpoint {path}")
        if path == AUTHORIZE_PATH:
            return browser.authorize(self, request)
        if path == SIGN_IN_PATH:
            return browser.sign_in(self, request)
        if path == SIGN_OUT_PATH:
            return browser.sign_out(self, request)
        if path == "/":
            return pages.index_page(self)
        return pages.not_found_page()

    def refuse(self, request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
        """An error the front end detects before ``dispatch`` (a body too large), in the
        shape of the host it was sent to: Miro's JSON on the API host, a page elsewhere."""
        parts = urlsplit(request.url)
        if self._role(parts.netloc.lower(), parts.path) == "api":
            return miro_error(status, code, message)
        return pages.error_page(status, message)

    def _role(self, netloc: str, path: str) -> str:
        """ "api" or "consent": by host when the two hosts are apart, else by path."""
        consent, api = _netloc(self.base_url), _netloc(self.api_url)
        if consent != api:
            if netloc == api:
                return "api"
            if netloc == consent:
                return "consent"
        return "api" if path.startswith(_API_PREFIXES) else "consent"

    def _api(self, request: HttpRequest, endpoint: str) -> HttpResponse | Stall:
        try:
            params = request_params(request) if endpoint == "token" else {}
        except MiroflowError:  # unreadable parameters: the server answers them; log nothing
            params = {}
        fault: tuple[FaultKind, float] | None = None
        with self._lock:
            if endpoint == "token" and request.method.upper() == "POST" and self._faults:
                fault = self._faults.pop(0)
        now = self.now()
        answer: HttpResponse | Stall
        if fault is None:
            answer = self.server.handle(request, now=now)
        elif fault[0] is FaultKind.STALL:
            answer = Stall(fault[1])
        else:
            answer = _fault_response(fault[0], self.base_url)
        entry = LoggedRequest(
            at=now,
            endpoint=endpoint,
            grant_type=params.get("grant_type"),
            client_id=params.get("client_id"),
            status=answer.status if isinstance(answer, HttpResponse) else None,
            fault=fault[0] if fault else None,
        )
        with self._lock:
            self._log.append(entry)
        return answer

    def _control(self, request: HttpRequest, path: str) -> HttpResponse:
        return handle_control(self, request.method.upper(), path, request.body)
