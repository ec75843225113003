"""The fuzz targets: one check per parser of hostile input, each a plain function of bytes.

Each check feeds its input to miroflow's public API and passes when miroflow answers with a
value or a typed ``miroflow.MiroflowError`` (of the kind that parser raises) within
``TIME_BUDGET`` seconds; anything else (another exception, a broken invariant, a slow answer)
fails an assertion, which the fuzzer reports as a crash. The checks need no fuzzer: ``run.py``
drives them with atheris, and ``tests/security/test_fuzz_corpus.py`` replays the committed
corpus (``corpus/<target>/``) through them in ``make test``.

Targets:

* ``callback``: ``miroflow.machine.parse_callback`` on the raw query (as bytes and as text);
* ``login``: ``Client.login`` (the login route's query: ``team_id``, ``next``);
* ``token_response``: ``miroflow.machine.parse_token_response`` (first byte: the HTTP status);
* ``token_context``: ``miroflow.machine.parse_token_context`` (first byte: the HTTP status);
* ``records``: ``miroflow.records.loads_flow`` / ``loads_tokens`` on the stored bytes;
* ``binding_cookie``: ``Client.handle_callback`` of a live flow with an arbitrary binding
  cookie (lone surrogates included) and an arbitrary query around the live state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import miroflow
from miroflow.machine import parse_callback, parse_token_context, parse_token_response
from miroflow.records import dumps_flow, dumps_tokens, loads_flow, loads_tokens

__all__ = ["TARGETS", "TIME_BUDGET"]

#: Seconds one input may take. The parsers answer in microseconds; this catches a quadratic
#: path or a hang, with room for a loaded CI machine.
TIME_BUDGET = 1.0

CONFIG = miroflow.ClientConfig(
    client_id="3074457363680401096",
    client_secret="fuzz-client-secret",
    redirect_uri="https://app.example/miro/callback",
)
NOW = 1_700_000_000.0
#: Statuses the first byte picks from (most of them 200: the success path is the deep one).
STATUSES = (200,) * 8 + (201, 204, 301, 302, 400, 401, 403, 404, 429, 500, 502, 503, 0, 999)
TOKENS = (
    b'{"access_token":"fuzz-access-token-0123456789","refresh_token":"fuzz-refresh-token-01234",'
    b'"token_type":"bearer","expires_in":3599,"scope":"boards:read","user_id":"1","team_id":"2"}'
)


def _timed(check: Callable[[bytes], None]) -> Callable[[bytes], None]:
    def timed(data: bytes) -> None:
        started = time.perf_counter()
        check(data)
        elapsed = time.perf_counter() - started
        assert elapsed < TIME_BUDGET, f"{check.__name__} took {elapsed:.3f} s on one input"

    timed.__name__ = check.__name__
    timed.__doc__ = check.__doc__
    return timed


def _printable(value: str | None, limit: int) -> bool:
    return value is None or (0 < len(value) <= limit and value.isascii() and value.isprintable())


@_timed
def callback(data: bytes) -> None:
    """The callback's query: a ``Callback`` that keeps the parser's promises, or
    ``MalformedCallback``."""
    for query in (data, data.decode("latin-1")):
        try:
            parsed = parse_callback(query)
        except miroflow.MalformedCallback:
            continue
        assert (parsed.code is None) != (parsed.error is None)
        for value in (parsed.code, parsed.state, parsed.error, parsed.error_description):
            assert _printable(value, 4096)
        for identifier in (parsed.client_id, parsed.team_id):
            assert identifier is None or (identifier.isdigit() and len(identifier) <= 32)
        assert parsed.code is None or " " not in parsed.code


class _NoFlows:
    """A flow store that keeps nothing: the login target only starts flows."""

    def save(self, flow: miroflow.Flow) -> None:
        pass

    def claim(self, state_hash: bytes, binding_hash: bytes | None) -> miroflow.ClaimResult:
        return None, False


class _Miro:
    """A token endpoint that answers every request with one valid token response."""

    def __init__(self) -> None:
        self.token_requests = 0

    def send(self, request: miroflow.HttpRequest) -> miroflow.HttpResponse:
        if request.url == CONFIG.token_endpoint:
            self.token_requests += 1
            return miroflow.HttpResponse(status=200, body=TOKENS)
        return miroflow.HttpResponse(status=204)


def _client(flows: miroflow.FlowStore, miro: _Miro | None = None) -> miroflow.Client:
    return miroflow.Client(
        CONFIG,
        flows=flows,
        tokens=miroflow.MemoryTokenStore(),
        transport=miro or _Miro(),
        clock=lambda: NOW,
    )


_LOGIN_CLIENT = _client(_NoFlows())


@_timed
def login(data: bytes) -> None:
    """The login route's query: a 302 to Miro, or a 400 ``MalformedLogin`` answer (never an
    exception); a team or return path that gets through is of the allowed forms."""
    for query in (data, data.decode("latin-1")):
        answer = _LOGIN_CLIENT.login(query)
        answer.headers  # noqa: B018 - rendering must not raise either
        if answer.status == 302:
            assert answer.location is not None
            assert answer.error is None
            assert answer.location.startswith(CONFIG.authorize_endpoint + "?")
            teams = parse_qs(urlsplit(answer.location).query).get("team_id", [])
            assert all(team.isdigit() for team in teams)
        else:
            assert answer.status == 400, answer.status
            assert isinstance(answer.error, miroflow.MalformedLogin)


def _response(data: bytes) -> miroflow.HttpResponse:
    status = STATUSES[data[0] % len(STATUSES)] if data else 200
    return miroflow.HttpResponse(status=status, body=data[1:])


@_timed
def token_response(data: bytes) -> None:
    """The token endpoint's answer: a ``TokenSet`` of checked fields, or a
    ``TokenEndpointError``."""
    try:
        tokens = parse_token_response(_response(data), now=NOW, client_id=CONFIG.client_id)
    except miroflow.TokenEndpointError:
        return
    assert tokens.client_id == CONFIG.client_id
    assert tokens.token_type == "bearer"
    assert _printable(tokens.access_token, 8192)
    assert _printable(tokens.refresh_token, 8192)
    for identifier in (tokens.user_id, tokens.team_id):
        assert identifier.isascii()
        assert identifier.isdigit()
        assert len(identifier) <= 64
    assert tokens.expires_at is None or (
        math.isfinite(tokens.expires_at) and tokens.expires_at > NOW
    )
    assert loads_tokens(dumps_tokens(tokens)) == tokens  # whatever parses, stores


@_timed
def token_context(data: bytes) -> None:
    """The token context endpoint's answer: a ``TokenContext``, or a ``TokenEndpointError``."""
    try:
        context = parse_token_context(_response(data))
    except miroflow.TokenEndpointError:
        return
    assert all(isinstance(scope, str) for scope in context.scopes)
    for entity in (context.organization, context.team, context.created_by, context.user):
        assert entity.id.isascii()
        assert entity.id.isdigit()


@_timed
def records(data: bytes) -> None:
    """A stored record: a ``Flow`` / ``TokenSet`` that writes back to itself, or
    ``RecordError``."""
    for raw in (data, data.decode("utf-8", "surrogateescape")):
        try:
            flow = loads_flow(raw)
        except miroflow.RecordError:
            pass
        else:
            assert loads_flow(dumps_flow(flow)) == flow
        for client_id in (None, CONFIG.client_id):
            try:
                tokens = loads_tokens(raw, client_id=client_id)
            except miroflow.RecordError:
                continue
            assert loads_tokens(dumps_tokens(tokens)) == tokens


@_timed
def binding_cookie(data: bytes) -> None:
    """A callback of a live flow with an arbitrary binding cookie, or an arbitrary query
    around the live state: a typed answer, and a token request only for the right cookie.

    First byte: 0 = the owner's callback with this cookie; 1 = the binding with this text
    around it; 2 = the right cookie and this query after the live state; 3 = both fuzzed."""
    mode, rest = (data[0] % 4, data[1:]) if data else (0, b"")
    miro = _Miro()
    client = _client(miroflow.MemoryFlowStore(), miro)
    started = client.start()
    assert started.location is not None
    assert started.cookie is not None
    state = parse_qs(urlsplit(started.location).query)["state"][0]
    binding = started.cookie.value
    text = rest.decode("utf-8", "surrogateescape")  # bad bytes become lone surrogates
    cookie: str | None = text
    query: str | bytes = f"code=fuzz-code&state={state}&team_id=2"
    if mode == 1:
        half = len(text) // 2
        cookie = text[:half] + binding + text[half:]
    elif mode == 2:
        cookie, query = binding, f"state={state}&".encode() + rest
    elif mode == 3:
        head, _, tail = rest.partition(b"\n")
        cookie, query = head.decode("utf-8", "surrogateescape"), f"state={state}&".encode() + tail
    answer = client.handle_callback(query, binding_cookie=cookie)
    answer.headers  # noqa: B018 - rendering must not raise either
    if answer.status == 303:
        assert answer.tokens is not None
        assert answer.error is None
    else:
        assert 400 <= answer.status <= 599, answer.status
        assert isinstance(answer.error, miroflow.MiroflowError)
        assert answer.tokens is None
    if miro.token_requests:
        assert miro.token_requests == 1
        assert cookie == binding


TARGETS: dict[str, Callable[[bytes], None]] = {
    "callback": callback,
    "login": login,
    "token_response": token_response,
    "token_context": token_context,
    "records": records,
    "binding_cookie": binding_cookie,
}
