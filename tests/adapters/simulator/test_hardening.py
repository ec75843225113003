"""The simulator is not kinder than an authorization server should be (issue 11, item 9): PKCE
verifiers only where a challenge was sent and only in RFC 7636's form, and an access log that
never writes a state, a code or any other secret, at any level."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from miroflow_simulator import LoopbackServer, httpx_transport

import miroflow
from miroflow.machine import code_challenge

STATE = "st4te-v4lue-that-must-not-be-logged"
VERIFIER = "v" * 43


class Records(logging.Handler):
    """Every record, formatted, with the text of any exception logged with it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.records: list[logging.LogRecord] = []
        self._seen: set[int] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_CLIENT_SIDE) or id(record) in self._seen:
            return  # the test's browser logging its own requests; or already seen
        self._seen.add(id(record))
        self.records.append(record)
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.texts.append(text)

    def see(self, record: logging.LogRecord) -> bool:
        self.emit(record)  # uvicorn's loggers stop propagating before the root
        return True

    def joined(self) -> str:
        return "\n".join(self.texts)


#: The test's own HTTP client: its request lines are the browser's, not the server's.
_CLIENT_SIDE = ("httpx", "httpcore")

#: Every logger that could write a request line: the simulator's, uvicorn's and the root.
_LOGGERS = (
    "",
    "uvicorn",
    "uvicorn.access",
    "uvicorn.error",
    "uvicorn.asgi",
)


@contextmanager
def capture() -> Iterator[Records]:
    """Every record, at DEBUG: a handler on the root, and a filter (which sees each record
    without being a handler: uvicorn writes its access log only if the logger has handlers)
    on uvicorn's loggers, which do not propagate. Enter it after uvicorn is configured."""
    handler = Records()
    saved = []
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        if name:
            logger.addFilter(handler.see)
        else:
            logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.removeFilter(handler.see)
            logger.setLevel(level)


@pytest.fixture
def every_record() -> Iterator[Records]:
    with capture() as handler:
        yield handler


def _code(browser: Any, sim: Any, kit: Any, **extra: str) -> str:
    sim.auto_approve()
    location = browser.get("/oauth/authorize", params=kit.authorize_params(**extra))
    sim.manual_approve()
    assert location.status_code == 302, location.text
    code: str = parse_qs(urlsplit(location.headers["location"]).query)["code"][0]
    return code


def _invalid_parameters(response: httpx.Response) -> str:
    assert response.status_code == 400
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert set(document) == {"status", "code", "message", "type"}
    assert document["status"] == 400 and document["type"] == "error"
    assert document["code"] == "invalidParameters"
    message: str = document["message"]
    return message


# --- PKCE over HTTP -----------------------------------------------------------------------


def test_a_verifier_for_a_code_issued_without_a_challenge_is_a_400(
    asgi_client: Any, asgi_api: Any, sim: Any, kit: Any
) -> None:
    code = _code(asgi_client, sim, kit)
    refused = kit.exchange(asgi_api, code, code_verifier=VERIFIER)
    assert "without a code_challenge" in _invalid_parameters(refused)
    # a downgrade burns the code: nobody gets tokens for it afterwards
    assert kit.exchange(asgi_api, code).status_code == 401


@pytest.mark.parametrize(
    "verifier",
    ["a" * 42, "a" * 129, "a" * 42 + "+", "a" * 42 + "/", ""],
    ids=["42", "129", "plus", "slash", "empty"],
)
def test_a_verifier_outside_rfc_7636_is_a_400_and_the_code_survives(
    asgi_client: Any, asgi_api: Any, sim: Any, kit: Any, verifier: str
) -> None:
    code = _code(
        asgi_client, sim, kit, code_challenge=code_challenge(VERIFIER), code_challenge_method="S256"
    )
    assert "RFC 7636" in _invalid_parameters(kit.exchange(asgi_api, code, code_verifier=verifier))
    # well-formed parameters are answered as before: the right verifier still redeems it
    assert kit.exchange(asgi_api, code, code_verifier=VERIFIER).status_code == 200


def test_the_plugin_simulator_refuses_a_downgrade_from_a_client(
    miro_simulator: Any,
) -> None:
    """A client configured without PKCE, with a verifier smuggled into its token request,
    gets Miro's 400 through the in-process transport (the ``miro_simulator`` fixture)."""
    config = miroflow.ClientConfig.from_env(miro_simulator.environment())
    client = miroflow.Client(
        config,
        flows=miroflow.MemoryFlowStore(),
        tokens=miroflow.MemoryTokenStore(),
        transport=miro_simulator.transport,
        clock=miro_simulator.now,
    )
    login = client.start()
    assert login.location is not None and "code_challenge" not in login.location
    miro_simulator.auto_approve()
    with httpx.Client(transport=httpx_transport(miro_simulator)) as browser:
        back = browser.get(login.location)
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    request = miroflow.machine.token_request(config, code, code_verifier=VERIFIER)
    answer = miro_simulator.transport.send(request)
    assert answer.status == 400
    assert b"invalidParameters" in answer.body


# --- the access log -----------------------------------------------------------------------


@pytest.mark.usefixtures("secret_in_url")
def test_the_access_line_keeps_only_harmless_values(
    asgi_client: Any, every_record: Records
) -> None:
    secrets = {
        "state": STATE,
        "code": "the-code-the-code",
        "code_verifier": VERIFIER,
        "client_secret": "the-secret-the-secret",
        "access_token": "tok-tok-tok-tok",
    }
    query = urlencode({"response_type": "code", "client_id": "3074457363680401096", **secrets})
    sneaky = "&%73tate=sneaky-sneaky&STATE=shouty-shouty&bare-secret-value"
    asgi_client.get(f"/oauth/authorize?{query}{sneaky}")
    (line,) = [r.getMessage() for r in every_record.records if r.name.endswith(".access")]
    for secret in (*secrets.values(), "sneaky-sneaky", "shouty-shouty", "bare-secret-value"):
        assert secret not in line
    assert "response_type=code" in line and "client_id=3074457363680401096" in line
    assert "state=[redacted]" in line and "code=[redacted]" in line
    assert "%73tate=[redacted]" in line and "STATE=[redacted]" in line


@pytest.mark.usefixtures("secret_in_url")
def test_the_asgi_access_log_redacts_states_and_codes(
    asgi_client: Any, asgi_api: Any, sim: Any, kit: Any, every_record: Records
) -> None:
    code = _code(asgi_client, sim, kit, state=STATE)
    assert (
        asgi_api.post(
            "/v1/oauth/token?"
            + urlencode({"code": code, "state": STATE, "client_secret": kit.SECRET})
        ).status_code
        == 400
    )
    assert kit.exchange(asgi_api, code).status_code == 200
    text = every_record.joined()
    assert "/oauth/authorize?" in text and "state=[redacted]" in text  # the line is written
    for secret in (STATE, code, kit.SECRET):
        assert secret not in text


def test_served_by_uvicorn_nothing_writes_a_state_or_code_at_any_level(kit: Any) -> None:
    from miroflow_simulator import Simulator

    sim = Simulator()
    sim.register_app([kit.REDIRECT_URI], client_id=kit.CLIENT_ID, client_secret=kit.SECRET)
    server = LoopbackServer(sim)  # configures uvicorn's logging
    with capture() as every_record, server, httpx.Client() as http:
        sim.auto_approve()
        authorize = f"{server.base_url}/oauth/authorize?" + urlencode(
            kit.authorize_params(state=STATE)
        )
        back = http.get(authorize)
        assert back.status_code == 302
        code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
        token = http.post(
            f"{server.api_url}/v1/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": kit.REDIRECT_URI,
                "client_id": kit.CLIENT_ID,
                "client_secret": kit.SECRET,
            },
        )
        assert token.status_code == 200
        http.get(f"{server.base_url}/nowhere?" + urlencode({"state": STATE, "code": code}))
    text = every_record.joined()
    assert "state=[redacted]" in text  # the simulator's own access line, at INFO
    uvicorn_access = [r for r in every_record.records if r.name == "uvicorn.access"]
    assert uvicorn_access == []  # uvicorn's raw access log is off
    for secret in (STATE, code, kit.SECRET, token.json()["access_token"]):
        assert secret not in text
