"""The peer libraries doing the same work, when installed (``make bench`` installs them into
``.venv-bench``; miroflow never depends on them, and ``make test`` runs without them).

Each peer's client object is built once, outside the timings. What a peer leaves to the app
(keeping the expected state between the two requests, the cookie that finds it again) is
the same thin glue for all of them: the floor's random token for a session id, a dict from
it to the record, the floor's Set-Cookie string. So the differences are the libraries'.

- oauthlib: ``WebApplicationClient`` (``prepare_authorization_request`` draws the state;
  ``parse_request_uri_response`` checks it; ``prepare_request_body``;
  ``parse_request_body_response``). It sends nothing, so no HTTP is faked.
- authlib: ``authlib.integrations.requests_client.OAuth2Session``
  (``create_authorization_url`` draws the state; the callback uses authlib's
  ``parse_authorization_code_response`` and ``prepare_token_request``, as ``fetch_token`` does;
  (c) is ``fetch_token`` through requests with the HTTP adapter faked).
- requests-oauthlib: ``OAuth2Session`` (``authorization_url``; (c) is ``fetch_token`` with
  the HTTP adapter faked). Its callback parsing is oauthlib's, so it has no (b) of its own.
- miro-api: ``Miro.get_auth_url`` (it draws no state: the glue does) and
  ``exchange_code_for_access_token`` with urllib3's pool manager faked. No PKCE.

Every module is imported by name at run time, so that mypy and ``make test`` need none of them.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Callable
from typing import Any

import _floor

#: op key -> peer name -> (callable, check of one result). (b) callables take (query, cookie)
#: and are fed by the peer's own start.
Timed = Callable[..., Any]


class _Response:
    """Just enough of urllib3's ``HTTPResponse`` for miro-api: Miro's success JSON."""

    def __init__(self) -> None:
        self.status, self.reason, self.data = 200, "OK", _floor.TOKEN_BODY
        self.headers = {"Content-Type": "application/json"}


def _requests_response(request: Any) -> Any:
    models = importlib.import_module("requests.models")
    response = models.Response()
    response.status_code = 200
    response._content = _floor.TOKEN_BODY
    response.headers["Content-Type"] = "application/json"
    response.encoding = "utf-8"
    response.url = request.url
    response.request = request
    return response


class FakeAdapter:
    """A requests transport adapter that answers every request with Miro's token JSON."""

    def send(self, request: Any, **kwargs: Any) -> Any:
        return _requests_response(request)

    def close(self) -> None:
        pass


class FakePoolManager:
    """urllib3's pool manager, as miro-api calls it, answering Miro's token JSON."""

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        return _Response()


class Glue:
    """The app's side a peer leaves open: session id -> what the callback must check."""

    def __init__(self) -> None:
        self.sessions: dict[str, tuple[str, float, str | None]] = {}

    def keep(self, url: str, state: str, verifier: str | None = None) -> tuple[str, str]:
        session = _floor.b64url(os.urandom(32))
        self.sessions[session] = (state, time.time() + _floor.LIFETIME, verifier)
        return url, _floor.answer("", session)[1]

    def take(self, cookie: str) -> str | None:
        record = self.sessions.pop(cookie, None)
        if record is None or record[1] <= time.time():
            return None
        return record[0]


def _callback_uri(query: str) -> str:
    return f"{_floor.REDIRECT_URI}?{query}"


def oauthlib_sides() -> dict[str, Timed]:
    oauth2 = importlib.import_module("oauthlib.oauth2")
    client = oauth2.WebApplicationClient(_floor.CLIENT_ID)
    pkce_client = oauth2.WebApplicationClient(_floor.CLIENT_ID)
    glue = Glue()

    def start() -> tuple[str, str]:
        url, _, _ = client.prepare_authorization_request(
            _floor.AUTHORIZE_ENDPOINT, redirect_url=_floor.REDIRECT_URI)
        return glue.keep(url, client.state)

    def start_pkce() -> tuple[str, str]:
        verifier = pkce_client.create_code_verifier(43)
        url, _, _ = pkce_client.prepare_authorization_request(
            _floor.AUTHORIZE_ENDPOINT, redirect_url=_floor.REDIRECT_URI,
            code_challenge=pkce_client.create_code_challenge(verifier, "S256"),
            code_challenge_method="S256")
        return glue.keep(url, pkce_client.state, verifier)

    def callback(query: str, cookie: str) -> str | None:
        expected = glue.take(cookie)
        if expected is None:
            return None
        params = client.parse_request_uri_response(_callback_uri(query), state=expected)
        body: str = client.prepare_request_body(
            code=params["code"], redirect_uri=_floor.REDIRECT_URI, include_client_id=True,
            client_secret=_floor.CLIENT_SECRET)
        return body

    def token() -> Any:
        client.prepare_request_body(
            code=_floor.CODE, redirect_uri=_floor.REDIRECT_URI, include_client_id=True,
            client_secret=_floor.CLIENT_SECRET)
        return client.parse_request_body_response(_floor.TOKEN_BODY.decode())

    return {"start": start, "start_pkce": start_pkce, "callback": callback, "token": token}


def authlib_sides() -> dict[str, Timed]:
    requests_client = importlib.import_module("authlib.integrations.requests_client")
    parameters = importlib.import_module("authlib.oauth2.rfc6749.parameters")
    common = importlib.import_module("authlib.common.security")
    settings = {"redirect_uri": _floor.REDIRECT_URI,
                "token_endpoint_auth_method": "client_secret_post"}
    session = requests_client.OAuth2Session(_floor.CLIENT_ID, _floor.CLIENT_SECRET, **settings)
    session.mount("https://", FakeAdapter())
    pkce_session = requests_client.OAuth2Session(
        _floor.CLIENT_ID, _floor.CLIENT_SECRET, code_challenge_method="S256", **settings)
    glue = Glue()

    def start() -> tuple[str, str]:
        url, state = session.create_authorization_url(_floor.AUTHORIZE_ENDPOINT)
        return glue.keep(url, state)

    def start_pkce() -> tuple[str, str]:
        verifier = common.generate_token(48)
        url, state = pkce_session.create_authorization_url(
            _floor.AUTHORIZE_ENDPOINT, code_verifier=verifier)
        return glue.keep(url, state, verifier)

    def callback(query: str, cookie: str) -> str | None:
        expected = glue.take(cookie)
        if expected is None:
            return None
        params = parameters.parse_authorization_code_response(_callback_uri(query), expected)
        body: str = parameters.prepare_token_request(
            "authorization_code", code=params["code"], redirect_uri=_floor.REDIRECT_URI,
            client_id=_floor.CLIENT_ID, client_secret=_floor.CLIENT_SECRET)
        return body

    def token() -> Any:
        return session.fetch_token(_floor.TOKEN_ENDPOINT, code=_floor.CODE)

    return {"start": start, "start_pkce": start_pkce, "callback": callback, "token": token}


def requests_oauthlib_sides() -> dict[str, Timed]:
    module = importlib.import_module("requests_oauthlib")
    session = module.OAuth2Session(_floor.CLIENT_ID, redirect_uri=_floor.REDIRECT_URI)
    session.mount("https://", FakeAdapter())
    pkce_session = module.OAuth2Session(
        _floor.CLIENT_ID, redirect_uri=_floor.REDIRECT_URI, pkce="S256")
    glue = Glue()

    def start() -> tuple[str, str]:
        url, state = session.authorization_url(_floor.AUTHORIZE_ENDPOINT)
        return glue.keep(url, state)

    def start_pkce() -> tuple[str, str]:
        url, state = pkce_session.authorization_url(_floor.AUTHORIZE_ENDPOINT)
        return glue.keep(url, state, pkce_session._code_verifier)

    def token() -> Any:
        return session.fetch_token(
            _floor.TOKEN_ENDPOINT, code=_floor.CODE, client_secret=_floor.CLIENT_SECRET,
            include_client_id=True)

    return {"start": start, "start_pkce": start_pkce, "token": token}


def miro_api_sides() -> dict[str, Timed]:
    wrapper = importlib.import_module("miro_api.miro_api_wrapper")
    api_client = importlib.import_module("miro_api.api_client")
    storage = importlib.import_module("miro_api.storage")
    miro = wrapper.Miro(_floor.CLIENT_ID, _floor.CLIENT_SECRET, _floor.REDIRECT_URI,
                        storage=storage.InMemoryStorage())
    # The SDK's class-level ApiClient, replaced for this instance, with urllib3 faked under it.
    miro._api_client = api_client.ApiClient()
    miro._api_client.rest_client.pool_manager = FakePoolManager()
    glue = Glue()

    def start() -> tuple[str, str]:
        state = _floor.b64url(os.urandom(32))
        return glue.keep(miro.get_auth_url(state=state), state)

    def token() -> Any:
        return miro.exchange_code_for_access_token(_floor.CODE)

    return {"start": start, "token": token}


#: name -> (distribution, sides factory)
PEERS: dict[str, tuple[str, Callable[[], dict[str, Timed]]]] = {
    "oauthlib": ("oauthlib", oauthlib_sides),
    "authlib": ("authlib", authlib_sides),
    "requests-oauthlib": ("requests-oauthlib", requests_oauthlib_sides),
    "miro-api": ("miro-api", miro_api_sides),
}


def available(notes: list[str]) -> dict[str, dict[str, Timed]]:
    """The peers that import here, each with its timed callables, every one checked once to
    do the real work; a note for each peer missing."""
    found: dict[str, dict[str, Timed]] = {}
    for name, (_, make) in PEERS.items():
        try:
            sides = make()
        except ImportError as error:
            notes.append(f"peer {name} not installed ({error.name}): its columns are empty "
                         "(`make bench` installs the peers into .venv-bench)")
            continue
        check(name, sides)
        found[name] = sides
    return found


def check(name: str, sides: dict[str, Timed]) -> None:
    """Each callable does the real work: a state in the URL and kept for the callback, the
    challenge with PKCE; the callback's body carries the code; the exchange returns the
    access token."""
    for key in ("start", "start_pkce"):
        if key not in sides:
            continue
        url, cookie = sides[key]()
        state = url.partition("state=")[2].partition("&")[0]
        if len(state) < 20 or not url.startswith(_floor.AUTHORIZE_ENDPOINT + "?"):
            raise RuntimeError(f"{name} {key}: no state in {url}")
        if f"client_id={_floor.CLIENT_ID}" not in url or "redirect_uri=" not in url:
            raise RuntimeError(f"{name} {key}: not the app's URL: {url}")
        if key == "start_pkce" and "code_challenge_method=S256" not in url:
            raise RuntimeError(f"{name} {key}: no S256 challenge in {url}")
        if not cookie.startswith(_floor.COOKIE_NAME + "="):
            raise RuntimeError(f"{name} {key}: no cookie")
        if "callback" in sides:
            session = cookie.partition(";")[0].partition("=")[2]
            body = sides["callback"](f"code={_floor.CODE}&state={state}", session)
            if body is None or f"code={_floor.CODE}" not in body:
                raise RuntimeError(f"{name} callback: no token request ({body!r})")
    if "token" in sides:
        result = sides["token"]()
        access = result if isinstance(result, str) else result["access_token"]
        if access != json.loads(_floor.TOKEN_BODY)["access_token"]:
            raise RuntimeError(f"{name} token: got {result!r}")


def versions() -> dict[str, str]:
    metadata = importlib.import_module("importlib.metadata")
    found = {}
    for name, (distribution, _) in PEERS.items():
        try:
            found[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return found
