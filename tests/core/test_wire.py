"""The outgoing wire: the authorization link and the token-endpoint requests, replayed from
specs/vectors/wire/{authorize,pkce,token_requests}.json and property-tested."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import miroflow
import miroflow.machine
from miroflow.testing import strategies

VECTORS = Path(__file__).parents[2] / "specs" / "vectors" / "wire"
AUTHORIZE = json.loads((VECTORS / "authorize.json").read_text())
PKCE = json.loads((VECTORS / "pkce.json").read_text())
REQUESTS = json.loads((VECTORS / "token_requests.json").read_text())

CLIENT_ID = "3074457363680401096"
SECRET = "sEcReT-never-printed"


def _config(**overrides: Any) -> miroflow.ClientConfig:
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "redirect_uri": "https://app.example.com/miro/callback/",
    }
    values.update(overrides)
    return miroflow.ClientConfig(**values)


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)


def _form(request: miroflow.HttpRequest) -> dict[str, str]:
    pairs = parse_qsl(request.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    form = dict(pairs)
    assert len(form) == len(pairs), "a form field was sent twice"
    return form


# --- PKCE ----------------------------------------------------------------------------------


def test_code_challenge_matches_rfc_7636_appendix_b() -> None:
    assert PKCE["code_challenge_method"] == "S256"
    assert miroflow.machine.code_challenge(PKCE["code_verifier"]) == PKCE["code_challenge"]


def test_b64url_is_unpadded_and_url_safe() -> None:
    assert miroflow.machine.b64url(b"\xfb\xff\xfe") == "-__-"
    assert miroflow.machine.b64url(bytes(32)) == "A" * 43
    assert miroflow.machine.b64url(b"") == ""


def test_code_challenge_of_a_non_ascii_verifier_is_a_usage_error() -> None:
    # RFC 7636 verifiers are ASCII; anything else is the caller's bug, told as such.
    with pytest.raises(miroflow.UsageError, match="code_verifier") as caught:
        miroflow.machine.code_challenge("é" * 43)
    assert "é" not in caught.value.detail
    assert "code_verifier" not in caught.value.message


# --- the authorization link ---------------------------------------------------------------


@pytest.mark.parametrize("case", AUTHORIZE, ids=lambda case: case["name"])
def test_authorize_vectors(case: dict[str, Any]) -> None:
    config = _config(**case["config"])
    url = miroflow.machine.authorize_url(
        config,
        case["state"],
        team_id=case.get("team_id"),
        code_verifier=case.get("code_verifier"),
    )
    assert url == case["url"]
    query = _query(url)
    assert query["redirect_uri"] == [case["config"]["redirect_uri"]]
    assert "scope" not in query
    assert SECRET not in url


def test_authorize_url_carries_exactly_miros_parameters() -> None:
    config = _config()
    url = miroflow.machine.authorize_url(config, "the-state")
    assert url.startswith(miroflow.machine.MIRO_AUTHORIZE_ENDPOINT + "?")
    assert _query(url) == {
        "response_type": ["code"],
        "client_id": [CLIENT_ID],
        "redirect_uri": ["https://app.example.com/miro/callback/"],
        "state": ["the-state"],
    }


def test_authorize_url_with_team_and_pkce() -> None:
    url = miroflow.machine.authorize_url(
        _config(pkce=True), "s", team_id="3074457362577833142", code_verifier=PKCE["code_verifier"]
    )
    query = _query(url)
    assert query["team_id"] == ["3074457362577833142"]
    assert query["code_challenge"] == [PKCE["code_challenge"]]
    assert query["code_challenge_method"] == ["S256"]
    assert PKCE["code_verifier"] not in url


def test_authorize_url_keeps_the_endpoints_own_query() -> None:
    config = _config(authorize_endpoint="https://sim.example/oauth/authorize?realm=rest&x=1")
    query = _query(miroflow.machine.authorize_url(config, "s"))
    assert query["realm"] == ["rest"]
    assert query["x"] == ["1"]
    assert query["response_type"] == ["code"]
    assert query["state"] == ["s"]


url_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"),
    min_size=1,
    max_size=30,
)


@given(
    state=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=64),
    team_id=st.none() | strategies.decimal_ids | strategies.printable_ascii,
    verifier=st.none() | strategies.tokens,
    client_id=strategies.decimal_ids,
    path=url_text,
    trailing_slash=st.booleans(),
    loopback=st.booleans(),
)
@example(
    state="s",
    team_id="1&team_id=2+3%",
    verifier=None,
    client_id="1",
    path="cb",
    trailing_slash=False,
    loopback=False,
)
def test_parse_qs_of_the_link_gives_back_exactly_the_inputs(
    state: str,
    team_id: str | None,
    verifier: str | None,
    client_id: str,
    path: str,
    trailing_slash: bool,
    loopback: bool,
) -> None:
    base = "http://127.0.0.1:8000" if loopback else "https://app.example.com"
    redirect_uri = f"{base}/{path}{'/' if trailing_slash else ''}"
    config = _config(client_id=client_id, redirect_uri=redirect_uri)
    url = miroflow.machine.authorize_url(config, state, team_id=team_id, code_verifier=verifier)
    expected = {
        "response_type": ["code"],
        "client_id": [client_id],
        "redirect_uri": [redirect_uri],
        "state": [state],
    }
    if team_id is not None:
        expected["team_id"] = [team_id]
    if verifier is not None:
        expected["code_challenge"] = [miroflow.machine.code_challenge(verifier)]
        expected["code_challenge_method"] = ["S256"]
    assert _query(url) == expected
    assert url.isascii()
    assert "#" not in url


# --- the token endpoint -------------------------------------------------------------------


@pytest.fixture
def vector_config() -> miroflow.ClientConfig:
    return _config(**REQUESTS["config"])


def _assert_safe(request: miroflow.HttpRequest, secret: str) -> None:
    assert request.method == "POST"
    assert secret not in request.url
    assert "?" not in request.url
    assert secret not in repr(request)
    assert secret not in str(request)


def test_code_exchange_vector(vector_config: miroflow.ClientConfig) -> None:
    vector = REQUESTS["exchange"]
    request = miroflow.machine.token_request(vector_config, vector["code"])
    assert request.method == vector["method"]
    assert request.url == vector["url"]
    assert request.header("content-type") == vector["content_type"]
    assert request.header("Accept") == "application/json"
    assert _form(request) == vector["form"]
    _assert_safe(request, REQUESTS["config"]["client_secret"])
    assert vector["code"] not in repr(request)


def test_code_exchange_with_pkce_vector(vector_config: miroflow.ClientConfig) -> None:
    vector = REQUESTS["exchange_pkce"]
    request = miroflow.machine.token_request(
        vector_config, vector["code"], code_verifier=vector["code_verifier"]
    )
    assert _form(request) == vector["form"]
    _assert_safe(request, REQUESTS["config"]["client_secret"])


def test_refresh_vector(vector_config: miroflow.ClientConfig) -> None:
    vector = REQUESTS["refresh"]
    request = miroflow.machine.refresh_request(vector_config, vector["refresh_token"])
    assert request.method == vector["method"]
    assert request.url == vector["url"]
    assert request.header("Content-Type") == vector["content_type"]
    form = _form(request)
    assert form == vector["form"]
    assert "redirect_uri" not in form
    _assert_safe(request, REQUESTS["config"]["client_secret"])
    assert vector["refresh_token"] not in repr(request)


def test_revoke_vector(vector_config: miroflow.ClientConfig) -> None:
    vector = REQUESTS["revoke"]
    request = miroflow.machine.revoke_request(vector_config, vector["access_token"])
    assert request.method == vector["method"]
    assert request.url == vector["url"] == miroflow.machine.MIRO_REVOKE_ENDPOINT
    assert request.header("Content-Type") == vector["content_type"]
    assert json.loads(request.body) == vector["json"]
    _assert_safe(request, REQUESTS["config"]["client_secret"])
    assert vector["access_token"] not in repr(request)


@pytest.mark.parametrize(
    ("build", "argument"),
    [
        (miroflow.machine.token_request, "code"),
        (miroflow.machine.refresh_request, "refresh token"),
        (miroflow.machine.revoke_request, "access token"),
    ],
)
def test_an_empty_credential_is_a_usage_error(build: Any, argument: str) -> None:
    with pytest.raises(miroflow.UsageError, match=argument) as caught:
        build(_config(), "")
    # The detail names the argument for the developer; the person reads a fixed text.
    assert argument in caught.value.detail
    assert argument not in caught.value.message


form_text = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=64)


@given(
    code=form_text,
    secret=form_text,
    verifier=st.none() | form_text,
    path=url_text,
    trailing_slash=st.booleans(),
)
def test_code_exchange_form_parses_back_exactly(
    code: str, secret: str, verifier: str | None, path: str, trailing_slash: bool
) -> None:
    redirect_uri = f"https://app.example.com/{path}{'/' if trailing_slash else ''}"
    config = _config(client_secret=secret, redirect_uri=redirect_uri)
    request = miroflow.machine.token_request(config, code, code_verifier=verifier)
    expected = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": CLIENT_ID,
        "client_secret": secret,
    }
    if verifier is not None:
        expected["code_verifier"] = verifier
    assert _form(request) == expected
    assert request.url == config.token_endpoint
    assert request.body.isascii()


@given(refresh_token=form_text, secret=form_text)
def test_refresh_form_parses_back_exactly(refresh_token: str, secret: str) -> None:
    request = miroflow.machine.refresh_request(_config(client_secret=secret), refresh_token)
    assert _form(request) == {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": CLIENT_ID,
        "client_secret": secret,
    }


@given(access_token=form_text, secret=form_text)
def test_revoke_body_parses_back_exactly(access_token: str, secret: str) -> None:
    request = miroflow.machine.revoke_request(_config(client_secret=secret), access_token)
    assert json.loads(request.body) == {
        "accessToken": access_token,
        "clientId": CLIENT_ID,
        "clientSecret": secret,
    }


@given(secret=strategies.tokens, code=strategies.tokens)
def test_the_secret_never_shows_in_a_request_repr(secret: str, code: str) -> None:
    config = _config(client_secret=secret)
    for request in (
        miroflow.machine.token_request(config, code),
        miroflow.machine.refresh_request(config, code),
        miroflow.machine.revoke_request(config, code),
    ):
        assert secret not in repr(request)
        assert secret not in request.url
        assert code not in repr(request)


def test_describe_names_the_request_without_query_user_info_or_body() -> None:
    request = miroflow.HttpRequest(
        method="POST",
        url="https://user:pw@api.miro.com:8443/v1/oauth/token?client_secret=leak",
        body=b"client_secret=leak",
    )
    assert request.describe() == "POST https://api.miro.com:8443/v1/oauth/token"
    assert miroflow.HttpRequest(method="GET", url="http://[::1").describe() == (
        "GET (a malformed URL)"
    )
