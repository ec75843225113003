"""ClientConfig and Secret: validation with plain ConfigError messages, from_env, cookies, and
a client secret that never shows."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import miroflow
import miroflow.machine

CLIENT_ID = "3074457363680401096"
SECRET = "sEcReT-4f9a2c-never-printed"
ENV = {
    "MIRO_CLIENT_ID": CLIENT_ID,
    "MIRO_CLIENT_SECRET": SECRET,
    "MIRO_REDIRECT_URL": "https://app.example.com/miro/callback/",
}
#: What the person in the browser reads for any misconfiguration: never the operator's detail.
PUBLIC_MESSAGE = miroflow.UsageError("operator detail").message


def _config(**overrides: Any) -> miroflow.ClientConfig:
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "redirect_uri": "https://app.example.com/miro/callback/",
    }
    values.update(overrides)
    return miroflow.ClientConfig(**values)


def _public_message_only(error: miroflow.ConfigError) -> str:
    """The operator reads the detail; the person in the browser reads a fixed text."""
    assert str(error) == error.detail
    assert error.message == PUBLIC_MESSAGE
    assert error.detail not in error.message
    assert "Traceback" not in error.detail
    assert SECRET not in f"{error.detail} {error.message} {error!r}"
    return error.detail


def _config_error(**overrides: Any) -> str:
    """The detail of the ConfigError the configuration raises."""
    with pytest.raises(miroflow.ConfigError) as caught:
        _config(**overrides)
    error = caught.value
    assert isinstance(error, miroflow.UsageError)
    assert error.code == "config_error"
    return _public_message_only(error)


# --- defaults and the happy path ----------------------------------------------------------


def test_defaults_are_miros_endpoints_and_safe_policies() -> None:
    config = _config()
    assert config.authorize_endpoint == miroflow.machine.MIRO_AUTHORIZE_ENDPOINT
    assert config.authorize_endpoint == "https://miro.com/oauth/authorize"
    assert config.token_endpoint == miroflow.machine.MIRO_TOKEN_ENDPOINT
    assert config.token_endpoint == "https://api.miro.com/v1/oauth/token"
    assert config.revoke_endpoint == miroflow.machine.MIRO_REVOKE_ENDPOINT
    assert config.revoke_endpoint == "https://api.miro.com/v2/oauth/revoke"
    assert config.token_context_endpoint == miroflow.machine.MIRO_TOKEN_CONTEXT_ENDPOINT
    assert config.pkce is False
    assert config.team_policy is miroflow.TeamPolicy.ACCEPT_ANY
    assert config.unsolicited_policy is miroflow.UnsolicitedPolicy.REJECT
    assert config.flow_lifetime > 0
    assert isinstance(config.client_secret, miroflow.Secret)
    assert config.client_secret.reveal() == SECRET


def test_the_redirect_uri_is_kept_character_for_character() -> None:
    for uri in (
        "https://app.example.com/cb/",
        "https://app.example.com/cb",
        "https://www.app.example.com:8443/a/b/?tenant=x&y=%2F",
        "http://localhost:3000/",
        "http://127.0.0.1/cb",
        "http://[::1]:8080/cb",
    ):
        assert _config(redirect_uri=uri).redirect_uri == uri


def test_policies_accept_their_string_values() -> None:
    config = _config(team_policy="require_requested", unsolicited_policy="accept")
    assert config.team_policy is miroflow.TeamPolicy.REQUIRE_REQUESTED
    assert config.unsolicited_policy is miroflow.UnsolicitedPolicy.ACCEPT


def test_a_secret_object_is_accepted_as_is() -> None:
    secret = miroflow.Secret(SECRET)
    assert _config(client_secret=secret).client_secret is secret


def test_configs_are_frozen_values() -> None:
    config = _config()
    assert config == _config()
    assert config != _config(client_secret="other-secret")
    with pytest.raises(AttributeError):
        config.client_id = "1"  # type: ignore[misc]


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("client_id", ["", "abc", "-1", "1.0", "١٢", " 12", "12\n", "0x10"])
def test_client_id_must_be_decimal(client_id: str) -> None:
    assert "client_id" in _config_error(client_id=client_id)


def test_an_empty_secret_is_refused() -> None:
    assert "client_secret" in _config_error(client_secret="")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("client_id", 3074457363680401096),
        ("client_id", None),
        ("client_secret", 12345),
        ("client_secret", None),
        ("client_secret", b"bytes-secret"),
        ("redirect_uri", None),
        ("redirect_uri", b"https://app.example.com/cb"),
        ("token_endpoint", 42),
        ("flow_lifetime", "900"),
        ("flow_lifetime", None),
        ("flow_lifetime", True),
        ("cookie_name", 7),
        ("success_path", None),
    ],
)
def test_wrong_types_are_config_errors(field: str, value: Any) -> None:
    assert field in _config_error(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"), [("team_policy", "sometimes"), ("unsolicited_policy", "maybe")]
)
def test_unknown_policies_are_config_errors(field: str, value: str) -> None:
    message = _config_error(**{field: value})
    assert field in message
    assert "accept" in message


@pytest.mark.parametrize(
    "uri",
    [
        "app.example.com/cb",
        "/cb",
        "ftp://app.example.com/cb",
        "https:///cb",
        "https://app.example.com/cb#frag",
        "http://app.example.com/cb",
        "http://localhost.evil.example/cb",
        "http://127.0.0.1.nip.io/cb",
        "http://[::1/cb",
        "https://app.example.com:99999/cb",
        "https://app.example.com:port/cb",
        "https://app.example.com/c b",
        "https://app.example.com/cb\n",
        "https://app.exam\tple.com/cb",
        "https://app.example.com/cb\r\nX-Evil: 1",
        "https://app.example.com/\x00",
    ],
)
def test_bad_redirect_uris_are_config_errors(uri: str) -> None:
    assert "redirect_uri" in _config_error(redirect_uri=uri)


@pytest.mark.parametrize(
    "uri",
    ["http://localhost/cb", "http://LOCALHOST:8000/cb", "http://127.0.0.1:5000/", "http://[::1]/"],
)
def test_http_is_allowed_only_for_loopback(uri: str) -> None:
    config = _config(redirect_uri=uri)
    assert config.secure_cookies is False


@pytest.mark.parametrize("field", ["token_endpoint", "revoke_endpoint", "token_context_endpoint"])
def test_api_endpoints_take_no_query_string(field: str) -> None:
    assert field in _config_error(**{field: "https://api.example.com/x?a=1"})


def test_the_authorize_endpoint_may_have_a_query_string() -> None:
    endpoint = "https://sim.example/oauth/authorize?realm=rest"
    assert _config(authorize_endpoint=endpoint).authorize_endpoint == endpoint


@pytest.mark.parametrize("lifetime", [0, -1, -0.5, math.nan, math.inf, -math.inf])
def test_flow_lifetime_must_be_a_positive_finite_number(lifetime: float) -> None:
    assert "flow_lifetime" in _config_error(flow_lifetime=lifetime)


@pytest.mark.parametrize(
    "path", ["boards", "//evil.example", "/\\evil", "https://evil.example/", "/\n", "/é"]
)
def test_success_path_must_be_same_site(path: str) -> None:
    _config_error(success_path=path)


# --- cookies ------------------------------------------------------------------------------


def test_cookie_defaults_follow_the_redirect_scheme() -> None:
    secure = _config()
    assert secure.secure_cookies is True
    assert secure.binding_cookie_name == "__Host-miroflow"
    plain = _config(redirect_uri="http://localhost:8000/cb")
    assert plain.secure_cookies is False
    assert plain.binding_cookie_name == "miroflow_binding"


def test_the_scheme_is_case_insensitive_for_secure_cookies() -> None:
    config = _config(redirect_uri="HTTPS://app.example.com/cb")
    assert config.secure_cookies is True
    assert config.binding_cookie_name == "__Host-miroflow"


def test_a_custom_cookie_name_wins() -> None:
    assert _config(cookie_name="my_binding").binding_cookie_name == "my_binding"
    assert _config(cookie_name="__Secure-b").binding_cookie_name == "__Secure-b"
    local = _config(redirect_uri="http://localhost/cb", cookie_name="b")
    assert local.binding_cookie_name == "b"


@pytest.mark.parametrize("name", ["a b", "a;b", "a=b", "a,b", 'a"b', "é", "a\tb", "(x)", "a/b"])
def test_cookie_names_must_be_rfc_6265_tokens(name: str) -> None:
    assert "cookie_name" in _config_error(cookie_name=name)


@pytest.mark.parametrize("name", ["__Host-b", "__Secure-b"])
def test_secure_prefixed_cookie_names_need_https(name: str) -> None:
    # Browsers drop a __Host-/__Secure- cookie that is not Secure, which would surface later as
    # a puzzling MissingBindingCookie; refuse the configuration instead.
    message = _config_error(redirect_uri="http://localhost/cb", cookie_name=name)
    assert "cookie_name" in message
    assert "https" in message


# --- from_env -----------------------------------------------------------------------------


def test_from_env_reads_miros_sdk_variables() -> None:
    config = miroflow.ClientConfig.from_env(ENV)
    assert config == _config()


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in ENV.items():
        monkeypatch.setenv(variable, value)
    assert miroflow.ClientConfig.from_env() == _config()


@pytest.mark.parametrize("variable", sorted(ENV))
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_from_env_names_the_missing_variable(variable: str, blank: str | None) -> None:
    environ = dict(ENV)
    if blank is None:
        del environ[variable]
    else:
        environ[variable] = blank
    with pytest.raises(miroflow.ConfigError) as caught:
        miroflow.ClientConfig.from_env(environ)
    detail = _public_message_only(caught.value)
    assert variable in detail
    for other in set(ENV) - {variable}:
        assert other not in detail


def test_from_env_strips_surrounding_whitespace() -> None:
    environ = {key: f"  {value}\n" for key, value in ENV.items()}
    assert miroflow.ClientConfig.from_env(environ) == _config()


def test_from_env_overrides() -> None:
    config = miroflow.ClientConfig.from_env(
        {"MIRO_CLIENT_ID": CLIENT_ID, "MIRO_CLIENT_SECRET": SECRET},
        redirect_uri="http://127.0.0.1:9000/cb",
        pkce=True,
        flow_lifetime=60.0,
        team_policy="require_requested",
    )
    assert config.redirect_uri == "http://127.0.0.1:9000/cb"
    assert config.pkce is True
    assert config.flow_lifetime == 60.0
    assert config.team_policy is miroflow.TeamPolicy.REQUIRE_REQUESTED
    assert config.client_secret.reveal() == SECRET


def test_from_env_override_beats_the_variable() -> None:
    config = miroflow.ClientConfig.from_env(ENV, client_id="42")
    assert config.client_id == "42"


def test_from_env_refuses_an_unknown_override() -> None:
    with pytest.raises(miroflow.ConfigError, match="redirect_url"):
        miroflow.ClientConfig.from_env(ENV, redirect_url="https://app.example.com/cb")


def test_from_env_validates_the_values_it_reads() -> None:
    with pytest.raises(miroflow.ConfigError, match="client_id"):
        miroflow.ClientConfig.from_env(dict(ENV, MIRO_CLIENT_ID="not-a-number"))


# --- the secret never shows -----------------------------------------------------------------


def _all_renderings(value: object) -> str:
    return " ".join(
        [
            repr(value),
            str(value),
            f"{value}",
            f"{value!r}",
            format(value, ""),
            "%s %r" % (value, value),  # noqa: UP031 - how logging renders it
        ]
    )


def test_secret_renders_as_stars() -> None:
    secret = miroflow.Secret(SECRET)
    assert repr(secret) == "Secret('***')"
    assert str(secret) == "***"
    assert SECRET not in _all_renderings(secret)
    assert secret.reveal() == SECRET
    assert secret == miroflow.Secret(SECRET)
    assert secret != miroflow.Secret("other")


secrets_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40
).map(lambda text: f"SeCrEt{text}")


@given(secret=secrets_text)
def test_the_secret_never_shows_in_a_config(secret: str) -> None:
    config = _config(client_secret=secret)
    assert config.client_secret.reveal() == secret
    assert secret not in _all_renderings(config)
    assert secret not in _all_renderings(config.client_secret)
    assert "SeCrEt" not in repr(config)


@given(
    secret=secrets_text,
    broken=st.sampled_from(
        [
            {"client_id": "x"},
            {"redirect_uri": "http://example.com/"},
            {"redirect_uri": "https://x.example/#f"},
            {"redirect_uri": "http://[::1/"},
            {"token_endpoint": "https://x.example/?q"},
            {"flow_lifetime": -1},
            {"flow_lifetime": "soon"},
            {"cookie_name": "a b"},
            {"team_policy": "nope"},
            {"success_path": "//evil"},
        ]
    ),
)
def test_the_secret_never_shows_in_a_config_error(secret: str, broken: dict[str, Any]) -> None:
    with pytest.raises(miroflow.ConfigError) as caught:
        _config(client_secret=secret, **broken)
    error = caught.value
    text = f"{error} {error!r} {error.args} {error.detail} {error.message}"
    assert secret not in text
    assert "SeCrEt" not in text


@given(secret=secrets_text)
def test_the_secret_never_shows_in_a_from_env_error(secret: str) -> None:
    environ = {"MIRO_CLIENT_SECRET": secret, "MIRO_CLIENT_ID": "x", "MIRO_REDIRECT_URL": "/cb"}
    with pytest.raises(miroflow.ConfigError) as caught:
        miroflow.ClientConfig.from_env(environ)
    error = caught.value
    assert "SeCrEt" not in f"{error} {error!r} {error.detail} {error.message}"


# --- from_env: endpoint overrides -----------------------------------------------------------

ENDPOINTS = {
    "MIRO_AUTHORIZE_URL": "http://127.0.0.1:8765/oauth/authorize",
    "MIRO_TOKEN_URL": "http://127.0.0.1:8766/v1/oauth/token",
    "MIRO_REVOKE_URL": "http://127.0.0.1:8766/v2/oauth/revoke",
    "MIRO_TOKEN_CONTEXT_URL": "http://127.0.0.1:8766/v1/oauth-token",
}


def test_from_env_reads_the_endpoint_overrides() -> None:
    config = miroflow.ClientConfig.from_env({**ENV, **ENDPOINTS})
    assert config.authorize_endpoint == ENDPOINTS["MIRO_AUTHORIZE_URL"]
    assert config.token_endpoint == ENDPOINTS["MIRO_TOKEN_URL"]
    assert config.revoke_endpoint == ENDPOINTS["MIRO_REVOKE_URL"]
    assert config.token_context_endpoint == ENDPOINTS["MIRO_TOKEN_CONTEXT_URL"]


@pytest.mark.parametrize("variable", sorted(ENDPOINTS))
def test_each_endpoint_override_is_optional_and_blank_means_miro(variable: str) -> None:
    only = miroflow.ClientConfig.from_env({**ENV, variable: ENDPOINTS[variable]})
    blank = miroflow.ClientConfig.from_env({**ENV, variable: "  "})
    assert blank == _config()
    changed = {
        f
        for f in (
            "authorize_endpoint",
            "token_endpoint",
            "revoke_endpoint",
            "token_context_endpoint",
        )
        if getattr(only, f) != getattr(_config(), f)
    }
    assert len(changed) == 1


def test_from_env_keyword_overrides_beat_the_endpoint_variables() -> None:
    config = miroflow.ClientConfig.from_env(
        {**ENV, **ENDPOINTS}, token_endpoint="https://api.example.com/token"
    )
    assert config.token_endpoint == "https://api.example.com/token"
    assert config.revoke_endpoint == ENDPOINTS["MIRO_REVOKE_URL"]


def test_a_bad_endpoint_variable_is_named() -> None:
    environ = {**ENV, "MIRO_TOKEN_URL": "http://api.example.com/v1/oauth/token"}
    with pytest.raises(miroflow.ConfigError) as caught:
        miroflow.ClientConfig.from_env(environ)
    detail = _public_message_only(caught.value)
    assert "token_endpoint" in detail and "MIRO_TOKEN_URL" in detail


def test_from_env_reads_the_endpoint_variables_from_os_environ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable, value in {**ENV, **ENDPOINTS}.items():
        monkeypatch.setenv(variable, value)
    assert miroflow.ClientConfig.from_env().token_endpoint == ENDPOINTS["MIRO_TOKEN_URL"]
