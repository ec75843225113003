"""``AuthorizationServer``: the simulated Miro's records behind a lock, answering requests.

This is the machine's holder (as ``Client`` is the flow machine's driver): it looks records
up by the hash of the secret presented, draws new codes and tokens from the entropy callable
it was given, feeds the machine, and carries out the effects. It does no I/O and reads no
clock: every call takes ``now``. Requests and answers are ``miroflow.HttpRequest`` and
``miroflow.HttpResponse`` values, so any front end (an ASGI app, an in-process transport)
can serve it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from .._errors import UsageError
from .._events import ClockAdvanced
from .._http import HttpRequest, HttpResponse
from .._ports import Entropy
from .._wire import b64url
from . import _wire as wire
from ._events import (
    AuthorizationRequestRejected,
    CodeRedeemed,
    CodeReplayed,
    ConsentFormRejected,
    ConsentGranted,
    ConsentShown,
    ConsentSubmitted,
    ContextRequested,
    LegacyRevocationRequested,
    RefreshPresented,
    Respond,
    RevocationRequested,
    RevokeIssuedFrom,
    SaveCode,
    SavePair,
    SaveSession,
    SaveTicket,
    ServerInput,
    ServerStep,
    UserSignedIn,
    UserSignedOut,
)
from ._machine import authenticate, step
from ._model import (
    DEFAULT_SCOPES,
    App,
    AuthorizationCode,
    AuthorizationRequest,
    CodeState,
    ConsentTicket,
    Organization,
    PairState,
    Registry,
    Session,
    SessionState,
    Team,
    TokenPair,
    User,
    hash_secret,
)

__all__ = [
    "CONTEXT_PATH",
    "LEGACY_REVOKE_PATH",
    "REVOKE_PATH",
    "TOKEN_PATH",
    "AuthorizationServer",
    "default_registry",
]

TOKEN_PATH = "/v1/oauth/token"
REVOKE_PATH = "/v2/oauth/revoke"
#: Deprecated by Miro, still called by both official SDKs.
LEGACY_REVOKE_PATH = "/v1/oauth/revoke"
CONTEXT_PATH = "/v1/oauth-token"

_SECRET_BYTES = 32
_MAX_PARAM = 4096


def default_registry() -> Registry:
    """One organization, two teams and two users (Ada may install into both teams, Grace
    into the first only), with IDs the size of Miro's (above 2**53)."""
    alpha = Team(team_id="3458764517517819000", name="Team Alpha")
    beta = Team(team_id="3458764517517819001", name="Team Beta")
    ada = User(user_id="3458764517517852417", name="Ada", team_ids=(alpha.team_id, beta.team_id))
    grace = User(user_id="3458764517517852418", name="Grace", team_ids=(alpha.team_id,))
    return Registry(
        organization=Organization(org_id="3458764500000000001", name="Simulated Organization"),
        teams={team.team_id: team for team in (alpha, beta)},
        users={user.user_id: user for user in (ada, grace)},
    )


def _missing(name: str) -> wire.BadParameters:
    return wire.BadParameters(f"Missing required parameter: {name}")


def _required(params: Mapping[str, str], *names: str) -> list[str]:
    values = []
    for name in names:
        value = params.get(name)
        if value is None:
            raise _missing(name)
        if len(value) > _MAX_PARAM:
            raise wire.BadParameters(f"The parameter '{name}' is too long.")
        values.append(value)
    return values


class AuthorizationServer:
    """The simulated Miro authorization server. Thread-safe; holds no secret in plain form
    except the registered apps' client secrets (as ``Secret``)."""

    def __init__(self, registry: Registry | None = None, *, entropy: Entropy) -> None:
        self._lock = threading.RLock()
        self._entropy = entropy
        self._registry = registry if registry is not None else default_registry()
        self._codes: dict[str, AuthorizationCode] = {}
        self._pairs: dict[str, TokenPair] = {}
        self._by_refresh: dict[str, str] = {}
        self._sessions: dict[str, Session] = {}
        self._tickets: dict[str, ConsentTicket] = {}

    # --- registry -----------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        return self._registry

    def register_app(
        self,
        *,
        redirect_uris: tuple[str, ...] | list[str],
        client_id: str | None = None,
        client_secret: str | None = None,
        expiring: bool = True,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        name: str = "Simulated app",
    ) -> App:
        """Register an app; the client ID and secret are drawn when not given."""
        if not redirect_uris:
            raise UsageError("An app needs at least one redirect URI.")
        for uri in redirect_uris:
            _check_redirect_uri(uri)
        if client_id is None:
            client_id = "3458764" + str(int.from_bytes(self._draw(8), "big") % 10**12).zfill(12)
        if not (client_id.isascii() and client_id.isdigit()):
            raise UsageError("A Miro client ID is a decimal string.")
        app = App(
            client_id=client_id,
            client_secret=client_secret or b64url(self._draw(24)),
            redirect_uris=tuple(redirect_uris),
            expiring=expiring,
            scopes=tuple(scopes),
            name=name,
        )
        with self._lock:
            self._registry = self._registry.with_app(app)
        return app

    def set_big_team_ids(self, enabled: bool) -> None:
        """Send ``team_id`` as a bare JSON number from now on (or as a string again)."""
        with self._lock:
            others = self._registry.number_ids - {"team_id"}
            self.set_number_ids(others | ({"team_id"} if enabled else set()))

    def set_number_ids(self, fields: Iterable[str]) -> None:
        """Send exactly these IDs (of ``ID_FIELDS``) as bare JSON numbers from now on."""
        with self._lock:
            self._registry = attrs.evolve(self._registry, number_ids=frozenset(fields))

    def set_v1_revoke_unknown_ok(self, enabled: bool) -> None:
        """Whether the v1 revoke answers an unknown or dead token with 204 (True) or 404."""
        with self._lock:
            self._registry = attrs.evolve(self._registry, v1_revoke_unknown_ok=enabled)

    def set_return_empty_state(self, enabled: bool) -> None:
        """Whether an empty ``state=`` comes back as ``state=`` (True) or is dropped."""
        with self._lock:
            self._registry = attrs.evolve(self._registry, return_empty_state=enabled)

    # --- the browser side ---------------------------------------------------------------

    def check_authorization(self, params: Mapping[str, str]) -> AuthorizationRequest:
        """Check ``GET /oauth/authorize``'s parameters; ``AuthorizationRequestRejected`` if the
        client is unknown or the redirect URI is not registered exactly (never redirect
        then), or a parameter is wrong."""
        client_id = params.get("client_id")
        app = self._registry.apps.get(client_id) if client_id else None
        if app is None:
            raise AuthorizationRequestRejected("The client_id is not a registered app.")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None or not wire.app_redirect_matches(app, redirect_uri):
            raise AuthorizationRequestRejected(
                "The redirect_uri does not match, character for character, a redirect URI "
                "registered for this app."
            )
        if params.get("response_type") != "code":
            raise AuthorizationRequestRejected("response_type must be 'code'.")
        challenge = params.get("code_challenge")
        if challenge is not None and params.get("code_challenge_method") != "S256":
            raise AuthorizationRequestRejected("Only the S256 code_challenge_method is supported.")
        team_id = params.get("team_id")
        state = params.get("state")
        if state == "" and not self._registry.return_empty_state:
            state = None
        return AuthorizationRequest(
            client_id=app.client_id,
            redirect_uri=redirect_uri,
            state=state,
            team_id=team_id if team_id in self._registry.teams else None,
            code_challenge=challenge,
        )

    def approve(
        self, request: AuthorizationRequest, *, user_id: str, team_id: str, now: float
    ) -> HttpResponse:
        """The user clicked "Install & authorize": a 302 to the redirect URI with a code."""
        event = ConsentGranted(
            request=request, user_id=user_id, team_id=team_id, code=b64url(self._draw())
        )
        with self._lock:
            return self._run(None, event, now)

    def deny(self, request: AuthorizationRequest) -> HttpResponse:
        """The user clicked "Cancel": a 302 with ``error=access_denied`` (and the state)."""
        return wire.denial_redirect(request)

    def sign_in(self, user_id: str, *, now: float) -> str:
        """Start a session for ``user_id``; the session cookie's value (a secret)."""
        token = b64url(self._draw())
        with self._lock:
            self._step(None, UserSignedIn(user_id=user_id, session_token=token), now)
        return token

    def sign_out(self, session_token: str, *, now: float) -> None:
        with self._lock:
            session = self._sessions.get(hash_secret(session_token))
            if session is not None:
                self._step(session, UserSignedOut(), now)

    def session_user(self, session_token: str | None, *, now: float) -> str | None:
        """The user this session cookie signs in, or None (no such session, or one that
        ended or is past its lifetime at ``now``)."""
        if not session_token:
            return None
        session = self._sessions.get(hash_secret(session_token))
        if session is None or session.state is not SessionState.ACTIVE:
            return None
        return session.user_id if now < session.expires_at else None

    def show_consent(
        self,
        request: AuthorizationRequest,
        *,
        user_id: str,
        session_token: str | None,
        now: float,
    ) -> str:
        """Record a rendered consent form; its CSRF token (a secret, for a hidden field)."""
        token = b64url(self._draw())
        shown = ConsentShown(
            request=request,
            user_id=user_id,
            session_hash=self._live_session_hash(session_token, now),
            token=token,
        )
        with self._lock:
            self._step(None, shown, now)
        return token

    def submit_consent(
        self,
        csrf_token: str | None,
        request: AuthorizationRequest,
        *,
        session_token: str | None,
        approve: bool,
        team_id: str | None,
        posted_user_id: str | None,
        now: float,
    ) -> HttpResponse:
        """The consent form came back: a 302 (code or access_denied), or
        ``ConsentFormRejected`` / ``AuthorizationRequestRejected``."""
        submitted = ConsentSubmitted(
            request=request,
            session_hash=self._live_session_hash(session_token, now),
            approve=approve,
            team_id=team_id,
            posted_user_id=posted_user_id,
            code=b64url(self._draw()),
        )
        with self._lock:
            ticket = self._tickets.get(hash_secret(csrf_token)) if csrf_token else None
            if ticket is None:
                raise ConsentFormRejected(
                    "The consent form carries no valid CSRF token: submit the form the consent "
                    "page showed."
                )
            return self._run(ticket, submitted, now)

    def _live_session_hash(self, session_token: str | None, now: float) -> str | None:
        if self.session_user(session_token, now=now) is None:
            return None
        return hash_secret(session_token or "")

    # --- the API side -------------------------------------------------------------------

    def handle(self, request: HttpRequest, *, now: float) -> HttpResponse:
        """Answer a request to the token endpoint, the v2 and v1 revoke endpoints or the
        token context endpoint (routed by path only: the host is the front end's business).
        Any other path gets Miro's JSON 404."""
        path = urlsplit(request.url).path
        routes = {
            TOKEN_PATH: ("POST", self._token),
            REVOKE_PATH: ("POST", self._revoke),
            LEGACY_REVOKE_PATH: ("POST", self._legacy_revoke),
            CONTEXT_PATH: ("GET", self._context),
        }
        route = routes.get(path)
        if route is None:
            return wire.miro_error(404, "notFound", "Not found")
        method, handler = route
        if request.method.upper() != method:
            return wire.miro_error(405, "methodNotAllowed", f"Use {method} {path}")
        try:
            with self._lock:
                return handler(request, now)
        except wire.BadParameters as error:
            return error.response

    def tick(self, now: float) -> None:
        """Let time pass: every record whose deadline is at or before ``now`` expires."""
        with self._lock:
            for code in list(self._codes.values()):
                self._run(code, ClockAdvanced(), now)
            for pair in list(self._pairs.values()):
                self._run(pair, ClockAdvanced(), now)
            for session in list(self._sessions.values()):
                self._step(session, ClockAdvanced(), now)
            for ticket in list(self._tickets.values()):
                self._step(ticket, ClockAdvanced(), now)

    def code_state(self, code: str) -> CodeState | None:
        """Where this code stands (None if never issued), for tests."""
        record = self._codes.get(hash_secret(code))
        return None if record is None else record.state

    def pair_state(self, token: str) -> PairState | None:
        """Where the pair with this access or refresh token stands, for tests."""
        key = hash_secret(token)
        record = self._pairs.get(self._by_refresh.get(key, key))
        return None if record is None else record.state

    # --- internals ----------------------------------------------------------------------

    def _draw(self, size: int = _SECRET_BYTES) -> bytes:
        value = self._entropy(size)
        if len(value) != size:
            raise UsageError("The entropy source returned the wrong number of bytes.")
        return value

    def _token(self, request: HttpRequest, now: float) -> HttpResponse:
        # An empty code_verifier is kept, to be refused as malformed rather than ignored.
        params = wire.request_params(request, keep_blank=("code_verifier",))
        grant_type = params.get("grant_type")
        if grant_type == "authorization_code":
            client_id, secret, code, redirect_uri = _required(
                params, "client_id", "client_secret", "code", "redirect_uri"
            )
            wire.check_verifier(params.get("code_verifier"))
            redeemed = CodeRedeemed(
                client_id=client_id,
                client_secret=secret,
                redirect_uri=redirect_uri,
                code_verifier=params.get("code_verifier"),
                new_access_token=b64url(self._draw()),
                new_refresh_token=b64url(self._draw()),
            )
            record: Any = self._codes.get(hash_secret(code))
            return self._answer_or(record, redeemed, client_id, secret, wire.INVALID_CODE, now)
        if grant_type == "refresh_token":
            client_id, secret, refresh_token = _required(
                params, "client_id", "client_secret", "refresh_token"
            )
            presented = RefreshPresented(
                client_id=client_id,
                client_secret=secret,
                new_access_token=b64url(self._draw()),
                new_refresh_token=b64url(self._draw()),
            )
            access_hash = self._by_refresh.get(hash_secret(refresh_token))
            record = self._pairs.get(access_hash) if access_hash else None
            return self._answer_or(record, presented, client_id, secret, wire.INVALID_REFRESH, now)
        if grant_type is None:
            raise _missing("grant_type")
        raise wire.BadParameters("Unsupported grant_type: use authorization_code or refresh_token")

    def _answer_or(
        self,
        record: AuthorizationCode | TokenPair | None,
        event: ServerInput,
        client_id: str,
        secret: str,
        unknown: str,
        now: float,
    ) -> HttpResponse:
        if record is not None:
            return self._run(record, event, now)
        if authenticate(self._registry, client_id, secret) is None:
            return wire.oauth_error(wire.INVALID_CLIENT)
        return wire.oauth_error(unknown)

    def _revoke(self, request: HttpRequest, now: float) -> HttpResponse:
        document = wire.json_object(request)
        values = []
        for name in ("accessToken", "clientId", "clientSecret"):
            value = document.get(name)
            if not isinstance(value, str) or not value:
                raise _missing(name)
            values.append(value)
        token, client_id, secret = values
        record = self._pairs.get(hash_secret(token))
        if record is not None:
            return self._run(
                record, RevocationRequested(client_id=client_id, client_secret=secret), now
            )
        if authenticate(self._registry, client_id, secret) is None:
            return wire.oauth_error(wire.INVALID_CLIENT)
        return wire.token_not_found()

    def _legacy_revoke(self, request: HttpRequest, now: float) -> HttpResponse:
        (token,) = _required(wire.request_params(request), "access_token")
        record = self._pairs.get(hash_secret(token))
        if record is None:
            return wire.legacy_revoke_unknown(self._registry)
        return self._run(record, LegacyRevocationRequested(), now)

    def _context(self, request: HttpRequest, now: float) -> HttpResponse:
        token = wire.bearer_token(request)
        if token is None:
            return wire.miro_error(401, "tokenNotProvided", "No access token was provided")
        record = self._pairs.get(hash_secret(token))
        if record is None:
            return wire.invalid_token()
        return self._run(record, ContextRequested(), now)

    def _step(self, record: Any, event: ServerInput, now: float) -> None:
        self._run(record, event, now)

    def _run(self, record: Any, event: ServerInput, now: float) -> HttpResponse:
        """Step the machine and carry out its effects; the answer, if one was ordered."""
        result: ServerStep = step(record, event, registry=self._registry, now=now)
        response = HttpResponse(status=500)
        for effect in result.effects:
            if isinstance(effect, SaveSession):
                self._sessions[effect.session.session_hash] = effect.session
            elif isinstance(effect, SaveTicket):
                self._tickets[effect.ticket.ticket_hash] = effect.ticket
            elif isinstance(effect, SaveCode):
                self._codes[effect.code.code_hash] = effect.code
            elif isinstance(effect, SavePair):
                pair = effect.pair
                self._pairs[pair.access_hash] = pair
                if pair.refresh_hash is not None:
                    self._by_refresh[pair.refresh_hash] = pair.access_hash
            elif isinstance(effect, RevokeIssuedFrom):
                for pair in list(self._pairs.values()):
                    if pair.origin_code_hash == effect.code_hash:
                        self._run(pair, CodeReplayed(), now)
            elif isinstance(effect, Respond):
                response = effect.response
        return response


def _check_redirect_uri(uri: str) -> None:
    """Miro's app settings take absolute http(s) URLs without a fragment."""
    try:
        parts = urlsplit(uri)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.fragment
    except ValueError:
        valid = False
    if not valid or not uri.isascii() or not uri.isprintable() or " " in uri:
        raise UsageError(
            f"A redirect URI must be an absolute http:// or https:// URL without a #fragment, "
            f"got {uri!r}."
        )
