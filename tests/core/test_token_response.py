"""The token-endpoint answer parser, replayed from specs/vectors/wire/token_responses.json
(answers written from Miro's documentation and RFC 6749, not recorded from Miro) and
property-tested on arbitrary answers, each parsed token set checked against its document."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

import miroflow
import miroflow.machine
from miroflow.testing import strategies

VECTORS = Path(__file__).parents[2] / "specs" / "vectors" / "wire"
RESPONSES = json.loads((VECTORS / "token_responses.json").read_text())
NOW = float(RESPONSES["now"])
CLIENT_ID: str = RESPONSES["client_id"]
#: What the person in the browser reads for every token-endpoint failure.
PUBLIC_MESSAGE = miroflow.TokenEndpointError("operator detail").message


def _response(case: dict[str, Any]) -> miroflow.HttpResponse:
    if "body_base64" in case:
        body = base64.b64decode(case["body_base64"])
    elif "body_repeat" in case:
        body = (case["body_repeat"]["text"] * case["body_repeat"]["times"]).encode()
    else:
        body = case["body"].encode()
    headers = tuple((name, value) for name, value in case.get("headers", ()))
    return miroflow.HttpResponse(status=case["status"], headers=headers, body=body)


def _ok(**changes: Any) -> bytes:
    document: dict[str, Any] = {
        "user_id": "3458764517517852417",
        "refresh_token": "REFRESHTOKENVALUE",
        "access_token": "ACCESSTOKENVALUE",
        "expires_in": 3599,
        "team_id": "3458764517517819000",
        "scope": "boards:write boards:read",
        "token_type": "bearer",
    }
    document.update(changes)
    return json.dumps({key: value for key, value in document.items() if value is not ...}).encode()


def _parse(status: int, body: bytes) -> miroflow.TokenSet:
    response = miroflow.HttpResponse(status=status, body=body)
    return miroflow.machine.parse_token_response(response, now=NOW, client_id=CLIENT_ID)


def _public_message_only(error: miroflow.TokenEndpointError) -> None:
    """The person reads the fixed text; the detail (statuses, Miro's words) is the operator's."""
    assert str(error) == error.detail
    expected = (
        miroflow.CodeRejected.public_message
        if isinstance(error, miroflow.CodeRejected)
        else PUBLIC_MESSAGE
    )
    assert error.message == expected
    assert error.detail not in error.message


# --- the vectors (written from Miro's docs) ------------------------------------------------


@pytest.mark.parametrize("case", RESPONSES["tokens"], ids=lambda case: case["name"])
def test_token_vectors(case: dict[str, Any]) -> None:
    expected = dict(case["token_set"], scopes=tuple(case["token_set"]["scopes"]))
    tokens = miroflow.machine.parse_token_response(_response(case), now=NOW, client_id=CLIENT_ID)
    assert tokens == miroflow.TokenSet(**expected)
    assert tokens.client_id == CLIENT_ID
    assert tokens.key == miroflow.TokenKey(
        client_id=CLIENT_ID, user_id=expected["user_id"], team_id=expected["team_id"]
    )
    assert tokens.access_token not in repr(tokens)
    if tokens.refresh_token is not None:
        assert tokens.refresh_token not in repr(tokens)


@pytest.mark.parametrize("case", RESPONSES["rejected"], ids=lambda case: case["name"])
def test_rejection_vectors(case: dict[str, Any]) -> None:
    with pytest.raises(miroflow.TokenRequestRejected) as caught:
        miroflow.machine.parse_token_response(_response(case), now=NOW, client_id=CLIENT_ID)
    error = caught.value
    assert (error.http_status, error.error, error.description) == (
        case["http_status"],
        case["error"],
        case["description"],
    )
    assert isinstance(error, miroflow.TokenEndpointError)
    # A code Miro refused (expired, or redeemed already) ended the person's sign-in: a 400
    # that says to start again. Anything else is Miro's or the app's trouble: a 502.
    code = case.get("code", "token_request_rejected")
    assert error.code == code
    assert error.status_code == (400 if code == "code_rejected" else 502)
    assert f"HTTP {case['http_status']}" in error.detail
    assert case["error"] in error.detail
    _public_message_only(error)
    assert case["error"] not in error.message


@pytest.mark.parametrize("case", RESPONSES["malformed"], ids=lambda case: case["name"])
def test_malformed_vectors(case: dict[str, Any]) -> None:
    with pytest.raises(miroflow.TokenResponseMalformed) as caught:
        miroflow.machine.parse_token_response(_response(case), now=NOW, client_id=CLIENT_ID)
    error = caught.value
    assert error.status_code == 502
    assert error.code == "token_response_malformed"
    assert case["reason"] in error.detail
    _public_message_only(error)


def test_miros_documented_success() -> None:
    tokens = _parse(200, _ok())
    assert tokens.client_id == CLIENT_ID
    assert tokens.access_token == "ACCESSTOKENVALUE"
    assert tokens.refresh_token == "REFRESHTOKENVALUE"
    assert tokens.user_id == "3458764517517852417"
    assert tokens.team_id == "3458764517517819000"
    assert tokens.scopes == ("boards:write", "boards:read")
    assert tokens.token_type == "bearer"
    assert tokens.obtained_at == NOW
    assert tokens.expires_at == NOW + 3599
    assert not tokens.is_expired(NOW + 3598)
    assert tokens.is_expired(NOW + 3599)


#: The fields a token answer cannot do without (refresh_token, expires_in and scope can be
#: absent: non-expiring tokens, no scopes).
REQUIRED = ("access_token", "token_type", "user_id", "team_id")


@pytest.mark.parametrize("how", ["absent", "null"])
@pytest.mark.parametrize("name", REQUIRED)
def test_an_answer_without_a_required_field_is_malformed(name: str, how: str) -> None:
    body = _ok(**{name: ... if how == "absent" else None})
    with pytest.raises(miroflow.TokenResponseMalformed, match=f"'{name}' is missing") as caught:
        _parse(200, body)
    _public_message_only(caught.value)


@pytest.mark.parametrize("name", REQUIRED)
def test_a_required_field_under_another_name_or_nested_is_missing(name: str) -> None:
    document = json.loads(_ok())
    value = document.pop(name)
    for misplaced in (
        dict(document, **{name.upper(): value}),
        dict(document, **{name + " ": value}),
        dict(document, data={name: value}),
    ):
        with pytest.raises(miroflow.TokenResponseMalformed, match=f"'{name}' is missing"):
            _parse(200, json.dumps(misplaced).encode())


def test_non_expiring_tokens() -> None:
    tokens = _parse(200, _ok(refresh_token=..., expires_in=...))
    assert tokens.refresh_token is None
    assert tokens.expires_at is None
    assert not tokens.is_expired(NOW + 10**9)


@pytest.mark.parametrize("name", ["team_id", "user_id"])
@pytest.mark.parametrize(
    "digits", ["9007199254740993", "3458764517517819000", "3458764517517819000123456"]
)
def test_ids_above_2_53_as_bare_numbers_stay_exact(name: str, digits: str) -> None:
    body = _ok(**{name: "PLACEHOLDER"}).replace(b'"PLACEHOLDER"', digits.encode())
    assert getattr(_parse(200, body), name) == digits


@pytest.mark.parametrize(
    "value",
    [1.5, 3.4587645175178190e18, True, False, None, [], {}, "", -1, "12a", " 12", "1 2"],
)
@pytest.mark.parametrize("name", ["team_id", "user_id"])
def test_ids_that_are_not_decimal_are_malformed(name: str, value: Any) -> None:
    with pytest.raises(miroflow.TokenResponseMalformed, match=name):
        _parse(200, _ok(**{name: value}))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_malformed_even_with_tokens(status: int) -> None:
    with pytest.raises(miroflow.TokenResponseMalformed, match="redirect"):
        _parse(status, _ok())


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 502, 503, 504])
def test_any_error_status_is_rejected_even_with_tokens(status: int) -> None:
    with pytest.raises(miroflow.TokenRequestRejected) as caught:
        _parse(status, _ok())
    assert caught.value.http_status == status
    assert "ACCESSTOKENVALUE" not in caught.value.message
    assert "ACCESSTOKENVALUE" not in caught.value.detail


def test_miro_error_text_is_bounded() -> None:
    body = json.dumps({"status": 401, "code": "oauthError", "message": "x" * 10_000}).encode()
    with pytest.raises(miroflow.TokenRequestRejected) as caught:
        _parse(401, body)
    assert caught.value.description is not None
    assert len(caught.value.description) <= 300
    assert len(caught.value.detail) < 500
    _public_message_only(caught.value)


def test_huge_numbers_elsewhere_do_not_hurt() -> None:
    body = _ok(extra="PLACEHOLDER").replace(b'"PLACEHOLDER"', b"9" * 5000)
    assert _parse(200, body).team_id == "3458764517517819000"


# --- secrets never leak --------------------------------------------------------------------


@given(
    access=strategies.tokens,
    refresh=strategies.tokens,
    field=st.sampled_from(["user_id", "team_id", "token_type", "expires_in", "scope"]),
    junk=st.sampled_from([None, 1.5, True, "", "\n", [], {"a": 1}, "x" * 9000]),
)
def test_tokens_never_appear_in_messages(access: str, refresh: str, field: str, junk: Any) -> None:
    body = _ok(access_token=access, refresh_token=refresh, **{field: junk})
    try:
        tokens = _parse(200, body)
    except miroflow.TokenEndpointError as error:
        text = f"{error} {error!r} {error.message} {error.detail}"
    else:
        text = f"{tokens!r} {tokens}"
    assert access not in text
    assert refresh not in text


# --- properties ----------------------------------------------------------------------------


def _outcome(response: miroflow.HttpResponse) -> miroflow.TokenSet | miroflow.TokenEndpointError:
    try:
        return miroflow.machine.parse_token_response(response, now=NOW, client_id=CLIENT_ID)
    except miroflow.TokenEndpointError as error:
        return error


class _Digits(str):
    """A JSON integer's digits, as the oracle reads them."""


def _expected(body: bytes) -> miroflow.TokenSet:
    """The token set an accepted answer must yield, read from its JSON document by plain
    ``json`` (not by the parser under test). Fails if a required field is not there."""
    document = json.loads(body, parse_int=_Digits)
    assert isinstance(document, dict)
    for name in REQUIRED:
        assert document.get(name) not in (None, ""), f"an answer without {name} was accepted"
    assert type(document["access_token"]) is str
    assert type(document["token_type"]) is str and document["token_type"].lower() == "bearer"
    for name in ("user_id", "team_id"):
        assert isinstance(document[name], str), f"{name} is {document[name]!r}"
    refresh, expires_in = document.get("refresh_token"), document.get("expires_in")
    assert refresh is None or type(refresh) is str
    assert expires_in is None or type(expires_in) is _Digits
    scope = document.get("scope")
    assert scope is None or type(scope) is str
    return miroflow.TokenSet(
        client_id=CLIENT_ID,
        access_token=document["access_token"],
        refresh_token=refresh,
        token_type="bearer",
        user_id=str(document["user_id"]),
        team_id=str(document["team_id"]),
        scopes=tuple((scope or "").split()),
        obtained_at=NOW,
        expires_at=None if expires_in is None else NOW + int(expires_in),
    )


def _parses_or_fails_typed(response: miroflow.HttpResponse) -> None:
    tokens = _outcome(response)  # anything else escapes and fails the test
    if isinstance(tokens, miroflow.TokenEndpointError):
        assert isinstance(tokens, miroflow.TokenRequestRejected | miroflow.TokenResponseMalformed)
        assert tokens.detail
        _public_message_only(tokens)
        if isinstance(tokens, miroflow.TokenRequestRejected):
            assert tokens.http_status == response.status
        return
    assert response.status == 200
    assert isinstance(tokens, miroflow.TokenSet)
    # Not just any token set: exactly the one the document holds.
    assert tokens == _expected(response.body)
    assert tokens.client_id == CLIENT_ID
    assert tokens.user_id.isdigit()
    assert tokens.team_id.isdigit()
    assert tokens.expires_at is None or NOW < tokens.expires_at < NOW + 10 * 366 * 86400
    assert tokens.access_token not in repr(tokens)


@given(strategies.token_responses())
def test_token_responses_parse_or_fail_typed(response: miroflow.HttpResponse) -> None:
    _parses_or_fails_typed(response)


def test_the_strategy_sends_valid_answers_with_a_required_field_missing() -> None:
    def lacks_one(response: miroflow.HttpResponse) -> bool:
        try:
            document = json.loads(response.body)
        except ValueError:
            return False
        return (
            response.status == 200
            and isinstance(document, dict)
            and len([name for name in REQUIRED if name not in document]) == 1
            and "error" not in document
        )

    found = find(
        strategies.token_responses(),
        lacks_one,
        settings=settings(
            max_examples=5000,
            phases=[Phase.generate],  # any such answer will do: no shrinking
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    with pytest.raises(miroflow.TokenResponseMalformed, match="is missing"):
        miroflow.machine.parse_token_response(found, now=NOW, client_id=CLIENT_ID)


@given(
    document=st.fixed_dictionaries(
        {
            "user_id": strategies.decimal_ids,
            "team_id": strategies.decimal_ids,
            "access_token": strategies.tokens,
            "token_type": st.sampled_from(["bearer", "Bearer"]),
        },
        optional={
            "refresh_token": strategies.tokens,
            "expires_in": st.integers(1, 3599),
            "scope": st.sampled_from(["boards:read", "boards:write boards:read"]),
        },
    ),
    missing=st.sets(st.sampled_from(REQUIRED), min_size=1),
    null=st.booleans(),
)
def test_answers_missing_required_fields_are_malformed(
    document: dict[str, Any], missing: set[str], null: bool
) -> None:
    for name in missing:
        if null:
            document[name] = None
        else:
            del document[name]
    body = json.dumps(document).encode()
    with pytest.raises(miroflow.TokenResponseMalformed) as caught:
        _parse(200, body)
    assert any(f"'{name}' is missing" in caught.value.detail for name in missing)


@given(status=st.integers(100, 599), body=st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_fail_typed(status: int, body: bytes) -> None:
    _parses_or_fails_typed(miroflow.HttpResponse(status=status, body=body))


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)


@given(
    status=st.sampled_from([200, 200, 200, 400, 401, 500]),
    document=st.dictionaries(
        st.sampled_from(
            [
                "access_token",
                "refresh_token",
                "user_id",
                "team_id",
                "token_type",
                "expires_in",
                "scope",
                "error",
                "error_description",
                "code",
                "message",
            ]
        ),
        json_scalars | st.lists(json_scalars, max_size=2),
    ),
)
def test_arbitrary_json_objects_parse_or_fail_typed(status: int, document: dict[str, Any]) -> None:
    _parses_or_fails_typed(miroflow.HttpResponse(status=status, body=json.dumps(document).encode()))


@given(
    user_id=strategies.decimal_ids,
    team_id=strategies.decimal_ids,
    access=strategies.tokens,
    refresh=st.none() | strategies.tokens,
    expires_in=st.none() | st.integers(1, 10 * 365 * 24 * 3600),
    as_numbers=st.booleans(),
    now=strategies.instants,
    client_id=strategies.decimal_ids,
)
def test_valid_answers_parse_to_their_values(
    user_id: str,
    team_id: str,
    access: str,
    refresh: str | None,
    expires_in: int | None,
    as_numbers: bool,
    now: float,
    client_id: str,
) -> None:
    document: dict[str, Any] = {
        "user_id": int(user_id) if as_numbers else user_id,
        "team_id": int(team_id) if as_numbers else team_id,
        "access_token": access,
        "token_type": "bearer",
        "scope": "boards:read",
    }
    if refresh is not None:
        document["refresh_token"] = refresh
    if expires_in is not None:
        document["expires_in"] = expires_in
    response = miroflow.HttpResponse(status=200, body=json.dumps(document).encode())
    parsed = miroflow.machine.parse_token_response(response, now=now, client_id=client_id)
    assert parsed == miroflow.TokenSet(
        client_id=client_id,
        access_token=access,
        refresh_token=refresh,
        user_id=user_id,
        team_id=team_id,
        scopes=("boards:read",),
        obtained_at=now,
        expires_at=None if expires_in is None else now + expires_in,
    )
