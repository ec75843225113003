"""``Simulator``: the pure authorization server plus everything a test needs around it.

It owns the clock (the caller's clock plus an offset tests can advance), the entropy source,
injected faults, auto-approve mode and a log of API requests. ``dispatch`` answers any
request (consent pages, token endpoints, the control surface) as a ``miroflow.HttpResponse``,
or ``Stall`` for an injected stall; the ASGI app and the in-process transports only translate.
"""

from __future__ import annotations

import enum
import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from miroflow import ClientConfig, Clock, Entropy, HttpRequest, HttpResponse, MiroflowError
from miroflow.simulator import (
    CONTEXT_PATH,
    DEFAULT_SCOPES,
    REVOKE_PATH,
    TOKEN_PATH,
    App,
    AuthorizationRequestRejected,
    AuthorizationServer,
    Registry,
    request_params,
)

from . import _pages as pages
from ._control import ControlError, control_answer, handle_control

if TYPE_CHECKING:
    from ._asgi import SimulatorApp
    from ._transport import AsyncSimulatorTransport, SimulatorTransport

__all__ = ["AUTHORIZE_PATH", "CONTROL_PREFIX", "FaultKind", "LoggedRequest", "Simulator", "Stall"]

AUTHORIZE_PATH = "/oauth/authorize"
CONTROL_PREFIX = "/_simulator"
#: Over the parser's 64 KiB cap, and over any sane transport's.
HUGE_BODY_SIZE = 2 * 1024 * 1024
_ENDPOINTS = {TOKEN_PATH: "token", REVOKE_PATH: "revoke", CONTEXT_PATH: "token_context"}


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
    endpoint: str  # "token", "revoke" or "token_context"
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


class Simulator:
    """A simulated Miro for tests, demos and local development.

    ``clock`` and ``entropy`` default to the system's; ``now()`` is ``clock()`` plus the
    offset that ``advance`` moves. ``base_url`` is where the simulator is reached (used for
    the endpoints it hands out; any host reaches it in-process).
    """

    def __init__(
        self,
        *,
        base_url: str = "http://127.0.0.1:8765",
        clock: Clock = time.time,
        entropy: Entropy = os.urandom,
        registry: Registry | None = None,
        stall_seconds: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.server = AuthorizationServer(registry, entropy=entropy)
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
        return f"{self.base_url}{path}"

    def client_config(
        self, app: App | None = None, *, redirect_uri: str | None = None, **overrides: Any
    ) -> ClientConfig:
        """A ``miroflow.ClientConfig`` for ``app`` (the first registered by default) whose
        endpoints all point at this simulator."""
        if app is None:
            if not self.apps:
                raise ValueError("Register an app first.")
            app = next(iter(self.apps.values()))
        values: dict[str, Any] = {
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uri": redirect_uri or app.redirect_uris[0],
            "authorize_endpoint": self.endpoint(AUTHORIZE_PATH),
            "token_endpoint": self.endpoint(TOKEN_PATH),
            "revoke_endpoint": self.endpoint(REVOKE_PATH),
            "token_context_endpoint": self.endpoint(CONTEXT_PATH),
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
        """Answer any request to the simulator."""
        path = urlsplit(request.url).path
        if path == AUTHORIZE_PATH:
            return self._authorize(request)
        if path in _ENDPOINTS:
            return self._api(request, _ENDPOINTS[path])
        if path.startswith(CONTROL_PREFIX + "/"):
            try:
                return self._control(request, path[len(CONTROL_PREFIX) :])
            except (ControlError, ValueError, MiroflowError) as error:
                return control_answer(400, {"error": str(error)})
        if path == "/":
            return pages.index_page(self)
        return pages.html_response(404, "<!DOCTYPE html><title>Not found</title><p>Not found.</p>")

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

    def _authorize(self, request: HttpRequest) -> HttpResponse:
        method = request.method.upper()
        if method not in ("GET", "POST"):
            return pages.error_page(405, "Use GET to open the consent page.")
        try:
            # Query and form alike; a parameter given twice with different values is refused
            # (RFC 6749 §3.1), never resolved by first-wins or last-wins.
            params = request_params(request)
        except MiroflowError:
            return pages.error_page(400, "The authorization request's parameters are unreadable.")
        try:
            return self._consent(params) if method == "GET" else self._decide(params)
        except AuthorizationRequestRejected as error:
            return pages.error_page(400, error.message)

    def _consent(self, query: dict[str, str]) -> HttpResponse:
        checked = self.server.check_authorization(query)
        registry = self.server.registry
        with self._lock:
            auto = self._auto_approve
        if auto is not None:
            user_id, team_id = auto
            teams = registry.users[user_id].team_ids
            chosen = team_id or (checked.team_id if checked.team_id in teams else teams[0])
            return self.server.approve(checked, user_id=user_id, team_id=chosen, now=self.now())
        user_id = query.get("simulator_user") or next(iter(registry.users))
        user = registry.users.get(user_id)
        if user is None or not user.team_ids:
            raise AuthorizationRequestRejected("That user cannot install apps into any team.")
        return pages.consent_page(
            registry=registry,
            app=registry.apps[checked.client_id],
            request=checked,
            user=user,
            action=AUTHORIZE_PATH,
            query={k: v for k, v in query.items() if k != "simulator_user"},
        )

    def _decide(self, form: dict[str, str]) -> HttpResponse:
        checked = self.server.check_authorization(form)
        if form.get("decision") == "cancel":
            return self.server.deny(checked)
        if form.get("decision") != "approve":
            raise AuthorizationRequestRejected("Choose Install & authorize or Cancel.")
        user_id, team_id = form.get("user_id"), form.get("team_id")
        if not user_id or not team_id:
            raise AuthorizationRequestRejected("Pick a team to install the app into.")
        return self.server.approve(checked, user_id=user_id, team_id=team_id, now=self.now())

    def _control(self, request: HttpRequest, path: str) -> HttpResponse:
        return handle_control(self, request.method.upper(), path, request.body)
