"""The one error hierarchy: every public error has a code, an HTTP status, an operator's detail
and a person's message, and survives pickling (errors cross process boundaries in workers and
task queues)."""

from __future__ import annotations

import copy
import inspect
import pickle
from typing import Any

import pytest

import miroflow

PUBLIC_ERRORS: list[type[BaseException]] = [
    value
    for name in miroflow.__all__
    if inspect.isclass(value := getattr(miroflow, name)) and issubclass(value, BaseException)
]

#: The families whose detail is for the operator only: the person reads one fixed text.
FIXED_MESSAGE_FAMILIES: tuple[type[miroflow.MiroflowError], ...] = (
    miroflow.StoreError,
    miroflow.TransportError,
    miroflow.TokenEndpointError,
    miroflow.UsageError,
    miroflow.SignInRequired,
    miroflow.RefreshPending,
)

#: How to make one instance of each error whose constructor takes more than a detail.
SPECIAL: dict[type[miroflow.MiroflowError], Any] = {
    miroflow.FlowExpired: lambda: miroflow.FlowExpired(42.4),
    miroflow.ClockSkew: lambda: miroflow.ClockSkew(3600.0),
    miroflow.CodeRejected: lambda: miroflow.CodeRejected(
        401, "oauthError", "Invalid authorization code"
    ),
    miroflow.AuthorizationDenied: lambda: miroflow.AuthorizationDenied(
        "access_denied", "The user said no."
    ),
    miroflow.TokenRequestRejected: lambda: miroflow.TokenRequestRejected(
        401, "oauthError", "Invalid authorization code"
    ),
    miroflow.SignInRequired: lambda: miroflow.SignInRequired(
        miroflow.TokenKey(client_id="1", user_id="2", team_id="3"),
        "/miro/login?team_id=3",
        "Miro refused to refresh them (revoked).",
    ),
}

#: Errors whose detail has a sensible default, so an adapter can raise them bare.
DEFAULT_MESSAGES: list[Any] = [
    miroflow.MissingBindingCookie,
    miroflow.BindingMismatch,
    miroflow.UnknownState,
    miroflow.StateAlreadyUsed,
    miroflow.UnsolicitedCallback,
]

KEY = miroflow.TokenKey(client_id="3074457363680401096", user_id="3074457", team_id="9876")


def _instance(cls: type[BaseException]) -> miroflow.MiroflowError:
    assert issubclass(cls, miroflow.MiroflowError)
    if cls in SPECIAL:
        return SPECIAL[cls]()  # type: ignore[no-any-return]
    return cls("Something plain happened at 10.0.0.5:6390.")


def _fixed_message(cls: type[BaseException]) -> bool:
    return issubclass(cls, FIXED_MESSAGE_FAMILIES)


def test_the_public_errors_are_all_there() -> None:
    names = {cls.__name__ for cls in PUBLIC_ERRORS}
    assert {
        "MiroflowError",
        "UsageError",
        "ConfigError",
        "InvalidTransition",
        "CallbackError",
        "MalformedCallback",
        "MissingBindingCookie",
        "BindingMismatch",
        "UnknownState",
        "StateAlreadyUsed",
        "UnsolicitedCallback",
        "ClientIdMismatch",
        "TeamMismatch",
        "AuthorizationDenied",
        "FlowExpired",
        "TokenEndpointError",
        "TokenRequestRejected",
        "TokenResponseMalformed",
        "TransportError",
        "TransportTimeout",
        "StoreError",
        "StoreUnavailable",
        "StaleTokenWrite",
        "RecordError",
    } <= names
    # Gone in 0.2: a late callback is a FlowExpired, whatever the code's own age.
    assert "CodeExpired" not in names
    assert not hasattr(miroflow, "CodeExpired")


@pytest.mark.parametrize("cls", PUBLIC_ERRORS, ids=lambda cls: cls.__name__)
def test_every_public_error_has_code_status_detail_and_message(
    cls: type[BaseException],
) -> None:
    assert issubclass(cls, miroflow.MiroflowError)
    assert cls.__module__ == "miroflow"  # reprs, tracebacks and pickles name the public module
    assert isinstance(cls.code, str)
    assert cls.code
    assert cls.code.isidentifier()
    assert cls.code == cls.code.lower()
    error = _instance(cls)
    assert 400 <= error.status_code <= 599
    assert isinstance(error.detail, str)
    assert error.detail
    assert str(error) == error.detail
    assert repr(error) == f"{cls.__name__}({error.detail!r})"
    assert isinstance(error.message, str)
    assert error.message


@pytest.mark.parametrize("cls", PUBLIC_ERRORS, ids=lambda cls: cls.__name__)
def test_the_message_is_fixed_exactly_where_the_detail_is_the_operators(
    cls: type[BaseException],
) -> None:
    error = _instance(cls)
    if _fixed_message(cls):
        # The fixed text of the class (or the nearest class above it that has one).
        fixed = next(k.public_message for k in type(error).__mro__ if vars(k).get("public_message"))
        assert error.message == fixed
        assert error.detail not in error.message
        assert "10.0.0.5" not in error.message
        assert "6390" not in error.message
    else:
        # The browser's own mistakes: the person reads what the operator reads.
        assert error.message == error.detail


@pytest.mark.parametrize("family", FIXED_MESSAGE_FAMILIES, ids=lambda cls: cls.__name__)
def test_each_family_has_its_own_plain_public_message(
    family: type[miroflow.MiroflowError],
) -> None:
    message = _instance(family).message
    assert message.endswith(".")
    assert len(message) < 200
    others = [_instance(other).message for other in FIXED_MESSAGE_FAMILIES if other is not family]
    assert message not in others


def test_a_store_message_never_names_the_host() -> None:
    error = miroflow.StoreUnavailable("Redis at 10.0.0.5:6390/0 is not reachable")
    assert error.detail == "Redis at 10.0.0.5:6390/0 is not reachable"
    assert str(error) == error.detail
    assert "10.0.0.5" not in error.message
    assert "6390" not in error.message
    assert "Redis" not in error.message
    assert error.message == miroflow.StoreError("anything").message
    assert error.status_code == 503
    copied = pickle.loads(pickle.dumps(error))
    assert copied.detail == error.detail
    assert copied.message == error.message
    assert "10.0.0.5" not in copied.message


def test_a_transport_message_never_names_the_host() -> None:
    error = miroflow.TransportTimeout("POST https://10.0.0.5:8443/v1/oauth/token timed out (5s)")
    assert "10.0.0.5" in error.detail
    assert "10.0.0.5" not in error.message
    assert "8443" not in error.message
    assert error.status_code == 504


def test_codes_are_unique() -> None:
    codes = [getattr(cls, "code", None) for cls in PUBLIC_ERRORS]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("cls", DEFAULT_MESSAGES, ids=lambda cls: cls.__name__)
def test_default_messages_explain_and_can_be_replaced(cls: Any) -> None:
    error = cls()
    assert len(error.detail) > 40
    assert error.detail.endswith(".")
    assert error.message == error.detail
    assert cls("Custom.").message == "Custom."
    assert cls("Custom.").detail == "Custom."


def test_the_missing_cookie_message_names_the_usual_causes() -> None:
    message = miroflow.MissingBindingCookie().message
    assert "localhost" in message
    assert "127.0.0.1" in message
    assert "Secure" in message


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (miroflow.MalformedCallback, 400),
        (miroflow.MissingBindingCookie, 400),
        (miroflow.BindingMismatch, 400),
        (miroflow.UnknownState, 400),
        (miroflow.StateAlreadyUsed, 409),
        (miroflow.FlowExpired, 400),
        (miroflow.UnsolicitedCallback, 400),
        (miroflow.ClientIdMismatch, 400),
        (miroflow.TeamMismatch, 400),
        (miroflow.AuthorizationDenied, 403),
        (miroflow.TokenEndpointError, 502),
        (miroflow.TokenRequestRejected, 502),
        (miroflow.TokenResponseMalformed, 502),
        (miroflow.TransportError, 502),
        (miroflow.TransportTimeout, 504),
        (miroflow.StoreError, 503),
        (miroflow.StoreUnavailable, 503),
        (miroflow.StaleTokenWrite, 409),
        (miroflow.RecordError, 500),
        (miroflow.ConfigError, 500),
        (miroflow.UsageError, 500),
        (miroflow.InvalidTransition, 500),
    ],
)
def test_status_codes(cls: type[miroflow.MiroflowError], status: int) -> None:
    assert _instance(cls).status_code == status


def test_the_families() -> None:
    usage: tuple[type[Exception], ...] = (miroflow.ConfigError, miroflow.InvalidTransition)
    for cls in usage:
        assert issubclass(cls, miroflow.UsageError)
    callback: tuple[type[Exception], ...] = (
        miroflow.MalformedCallback,
        miroflow.MissingBindingCookie,
        miroflow.BindingMismatch,
        miroflow.UnknownState,
        miroflow.StateAlreadyUsed,
        miroflow.UnsolicitedCallback,
        miroflow.ClientIdMismatch,
        miroflow.TeamMismatch,
        miroflow.AuthorizationDenied,
        miroflow.FlowExpired,
    )
    for cls in callback:
        assert issubclass(cls, miroflow.CallbackError)
    for cls in (miroflow.TokenRequestRejected, miroflow.TokenResponseMalformed):
        assert issubclass(cls, miroflow.TokenEndpointError)
    assert issubclass(miroflow.TransportTimeout, miroflow.TransportError)
    store: tuple[type[Exception], ...] = (
        miroflow.RecordError,
        miroflow.StaleTokenWrite,
        miroflow.StoreUnavailable,
    )
    for cls in store:
        assert issubclass(cls, miroflow.StoreError)


# --- AuthorizationDenied ------------------------------------------------------------------


def test_access_denied_is_403_and_says_the_user_cancelled() -> None:
    error = miroflow.AuthorizationDenied("access_denied", "The user denied the request.")
    assert error.status_code == 403
    assert error.error == "access_denied"
    assert error.description == "The user denied the request."
    assert "cancelled" in error.message
    assert "The user denied the request." in error.message
    assert error.detail == error.message


@pytest.mark.parametrize("code", ["server_error", "temporarily_unavailable"])
def test_miros_own_failures_are_502(code: str) -> None:
    error = miroflow.AuthorizationDenied(code)
    assert error.status_code == 502
    assert code in error.message
    assert error.error == code
    assert error.description is None
    # The class keeps its default: one 502 instance does not change the next one.
    assert miroflow.AuthorizationDenied.status_code == 403
    assert miroflow.AuthorizationDenied("access_denied").status_code == 403


@pytest.mark.parametrize("code", ["invalid_request", "unauthorized_client", "invalid_scope"])
def test_other_refusals_name_the_error(code: str) -> None:
    error = miroflow.AuthorizationDenied(code)
    assert 400 <= error.status_code <= 599
    assert code in error.message


def test_a_long_description_is_cut_in_the_message_but_kept_whole() -> None:
    # The description comes from the browser's query string and may be up to 4096 characters.
    description = "x" * 299 + "y" + "#" * 3796
    error = miroflow.AuthorizationDenied("invalid_request", description)
    assert error.description == description
    assert error.message.endswith(" Miro said: " + "x" * 299 + "y\u2026")
    assert "#" not in error.message
    assert "#" not in error.detail
    assert len(error.message) < 400
    assert str(error) == error.detail == error.message
    _same(pickle.loads(pickle.dumps(error)), error)


@pytest.mark.parametrize("length", [1, 299, 300])
def test_a_description_up_to_the_cap_is_quoted_whole(length: int) -> None:
    description = "d" * length
    error = miroflow.AuthorizationDenied("access_denied", description)
    assert error.message.endswith(f" Miro said: {description}")
    assert "\u2026" not in error.message


# --- StaleTokenWrite ----------------------------------------------------------------------


def test_stale_token_write_for_a_key_has_the_one_wording() -> None:
    error = miroflow.StaleTokenWrite.for_key(KEY, found=4, expected=2)
    assert type(error) is miroflow.StaleTokenWrite
    assert error.detail == (
        "The tokens of app 3074457363680401096 for user 3074457 in team 9876 are at version 4, "
        "not 2: another writer got there first."
    )
    assert str(error) == error.detail
    # A lost race is the operator's to read; the person hears "try again shortly".
    assert error.message == miroflow.StoreError("anything").message
    assert "3074457" not in error.message
    assert error.status_code == 409
    assert error.code == "stale_token_write"
    _same(pickle.loads(pickle.dumps(error)), error)
    _same(copy.copy(error), error)
    _same(copy.deepcopy(error), error)


# --- FlowExpired --------------------------------------------------------------------------


@pytest.mark.parametrize(("ago", "shown"), [(42.4, "42"), (0.2, "0"), (3600, "3600")])
def test_flow_expired_says_how_long_ago(ago: float, shown: str) -> None:
    error = miroflow.FlowExpired(ago)
    assert error.expired_for == pytest.approx(ago)
    assert f"expired {shown} seconds ago" in error.message
    assert error.message == error.detail
    assert error.code == "flow_expired"


def test_flow_expired_never_says_a_negative_time() -> None:
    error = miroflow.FlowExpired(-5)
    assert error.expired_for == 0
    assert "expired 0 seconds ago" in error.message
    assert "-5" not in error.message


def test_flow_expired_keeps_its_age_through_pickle() -> None:
    error = miroflow.FlowExpired(42.4)
    copied = pickle.loads(pickle.dumps(error))
    assert copied.expired_for == pytest.approx(42.4)
    _same(copied, error)


# --- TokenRequestRejected -----------------------------------------------------------------


def test_token_request_rejected_carries_the_details() -> None:
    error = miroflow.TokenRequestRejected(401, "oauthError", "Redirect URI mismatch.")
    assert (error.http_status, error.error, error.description) == (
        401,
        "oauthError",
        "Redirect URI mismatch.",
    )
    assert "HTTP 401" in error.detail
    assert "oauthError" in error.detail
    assert "Redirect URI mismatch." in error.detail
    # Miro's words are for the operator; the person reads the fixed text.
    assert "HTTP 401" not in error.message
    assert "oauthError" not in error.message
    assert "Redirect URI" not in error.message
    assert error.message == miroflow.TokenEndpointError("anything").message
    bare = miroflow.TokenRequestRejected(500, "server_error")
    assert bare.description is None
    assert bare.detail.endswith(".")
    copied = pickle.loads(pickle.dumps(error))
    assert (copied.http_status, copied.error, copied.description) == (
        401,
        "oauthError",
        "Redirect URI mismatch.",
    )


# --- errors cross process boundaries ------------------------------------------------------


def _same(left: miroflow.MiroflowError, right: miroflow.MiroflowError) -> None:
    assert type(left) is type(right)
    assert left.detail == right.detail
    assert left.message == right.message
    assert str(left) == str(right)
    assert repr(left) == repr(right)
    assert left.args == right.args
    assert left.status_code == right.status_code
    assert left.code == right.code
    assert vars(left) == vars(right)


@pytest.mark.parametrize("cls", PUBLIC_ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_pickles_and_copies(cls: type[BaseException]) -> None:
    error = _instance(cls)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        _same(pickle.loads(pickle.dumps(error, protocol=protocol)), error)
    _same(copy.copy(error), error)
    _same(copy.deepcopy(error), error)


@pytest.mark.parametrize("code", ["access_denied", "server_error"])
def test_a_denial_keeps_its_status_and_attributes_through_pickle(code: str) -> None:
    error = miroflow.AuthorizationDenied(code, "why")
    copied = pickle.loads(pickle.dumps(error))
    _same(copied, error)
    assert (copied.error, copied.description) == (code, "why")
