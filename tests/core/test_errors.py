"""The one error hierarchy: every public error has a code, an HTTP status and a plain message,
and survives pickling (errors cross process boundaries in workers and task queues)."""

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

#: How to make one instance of each error whose constructor takes more than a message.
SPECIAL: dict[type[miroflow.MiroflowError], Any] = {
    miroflow.FlowExpired: lambda: miroflow.FlowExpired(42.4),
    miroflow.CodeExpired: lambda: miroflow.CodeExpired(3.0),
    miroflow.AuthorizationDenied: lambda: miroflow.AuthorizationDenied(
        "access_denied", "The user said no."
    ),
    miroflow.TokenRequestRejected: lambda: miroflow.TokenRequestRejected(
        401, "oauthError", "Invalid authorization code"
    ),
}

#: Errors whose message has a sensible default, so an adapter can raise them bare.
DEFAULT_MESSAGES: list[Any] = [
    miroflow.MissingBindingCookie,
    miroflow.BindingMismatch,
    miroflow.UnknownState,
    miroflow.StateAlreadyUsed,
    miroflow.UnsolicitedCallback,
]


def _instance(cls: type[miroflow.MiroflowError]) -> miroflow.MiroflowError:
    if cls in SPECIAL:
        return SPECIAL[cls]()  # type: ignore[no-any-return]
    return cls("Something plain happened.")


def test_the_public_errors_are_all_there() -> None:
    names = {cls.__name__ for cls in PUBLIC_ERRORS}
    assert {
        "MiroflowError",
        "UsageError",
        "ConfigError",
        "InvalidTransition",
        "CallbackError",
        "MalformedCallback",
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


@pytest.mark.parametrize("cls", PUBLIC_ERRORS, ids=lambda cls: cls.__name__)
def test_every_public_error_is_a_miroflow_error_with_code_status_and_message(
    cls: type[BaseException],
) -> None:
    assert issubclass(cls, miroflow.MiroflowError)
    assert isinstance(cls.code, str)
    assert cls.code
    assert cls.code.isidentifier()
    assert cls.code == cls.code.lower()
    error = _instance(cls)
    assert 400 <= error.status_code <= 599
    assert isinstance(error.message, str)
    assert error.message
    assert str(error) == error.message
    assert repr(error) == f"{cls.__name__}({error.message!r})"


def test_codes_are_unique() -> None:
    codes = [getattr(cls, "code", None) for cls in PUBLIC_ERRORS]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("cls", DEFAULT_MESSAGES, ids=lambda cls: cls.__name__)
def test_default_messages_explain_and_can_be_replaced(cls: Any) -> None:
    error = cls()
    assert len(error.message) > 40
    assert error.message.endswith(".")
    assert cls("Custom.").message == "Custom."


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
        (miroflow.CodeExpired, 400),
        (miroflow.ClientIdMismatch, 400),
        (miroflow.TeamMismatch, 400),
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
        miroflow.AuthorizationDenied,
        miroflow.FlowExpired,
        miroflow.StateAlreadyUsed,
    )
    for cls in callback:
        assert issubclass(cls, miroflow.CallbackError)
    assert issubclass(miroflow.CodeExpired, miroflow.FlowExpired)
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


@pytest.mark.parametrize("code", ["server_error", "temporarily_unavailable"])
def test_miros_own_failures_are_502(code: str) -> None:
    error = miroflow.AuthorizationDenied(code)
    assert error.status_code == 502
    assert code in error.message
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
    assert len(error.message) < 400
    assert str(error) == error.message
    _same(pickle.loads(pickle.dumps(error)), error)


@pytest.mark.parametrize("length", [1, 299, 300])
def test_a_description_up_to_the_cap_is_quoted_whole(length: int) -> None:
    description = "d" * length
    error = miroflow.AuthorizationDenied("access_denied", description)
    assert error.message.endswith(f" Miro said: {description}")
    assert "\u2026" not in error.message


# --- StaleTokenWrite ----------------------------------------------------------------------


def test_stale_token_write_for_a_key_has_the_one_wording() -> None:
    error = miroflow.StaleTokenWrite.for_key("3074457", "9876", found=4, expected=2)
    assert type(error) is miroflow.StaleTokenWrite
    assert error.message == (
        "The tokens for user 3074457 in team 9876 are at version 4, not 2: "
        "another writer got there first."
    )
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
    assert error.code == "flow_expired"


def test_flow_expired_never_says_a_negative_time() -> None:
    error = miroflow.FlowExpired(-5)
    assert error.expired_for == 0
    assert "expired 0 seconds ago" in error.message
    assert "-5" not in error.message


def test_code_expired_explains_miros_ten_minutes() -> None:
    error = miroflow.CodeExpired(1.0)
    assert isinstance(error, miroflow.FlowExpired)
    assert error.code == "code_expired"
    assert "10-minute" in error.message


def test_token_request_rejected_carries_the_details() -> None:
    error = miroflow.TokenRequestRejected(401, "oauthError", "Redirect URI mismatch.")
    assert (error.http_status, error.error, error.description) == (
        401,
        "oauthError",
        "Redirect URI mismatch.",
    )
    assert "HTTP 401" in error.message
    assert "oauthError" in error.message
    assert "Redirect URI mismatch." in error.message
    bare = miroflow.TokenRequestRejected(500, "server_error")
    assert bare.description is None
    assert bare.message.endswith(".")


# --- errors cross process boundaries ------------------------------------------------------


def _same(left: miroflow.MiroflowError, right: miroflow.MiroflowError) -> None:
    assert type(left) is type(right)
    assert left.message == right.message
    assert str(left) == str(right)
    assert left.status_code == right.status_code
    assert left.code == right.code
    assert vars(left) == vars(right)


@pytest.mark.parametrize("cls", PUBLIC_ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_pickles_and_copies(cls: type[BaseException]) -> None:
    assert issubclass(cls, miroflow.MiroflowError)
    error = _instance(cls)
    _same(pickle.loads(pickle.dumps(error)), error)
    _same(copy.copy(error), error)
    _same(copy.deepcopy(error), error)


@pytest.mark.parametrize("code", ["access_denied", "server_error"])
def test_a_denial_keeps_its_status_through_pickle(code: str) -> None:
    error = miroflow.AuthorizationDenied(code, "why")
    _same(pickle.loads(pickle.dumps(error)), error)
