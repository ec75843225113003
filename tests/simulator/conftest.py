"""Shared set-up for the simulator model's tests: a deterministic entropy source and a small
harness around ``AuthorizationServer`` that speaks HTTP values."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from miroflow import HttpRequest, HttpResponse
from miroflow.simulator import App, AuthorizationServer

T0 = 1_800_000_000.0
REDIRECT_URI = "http://127.0.0.1:8000/callback"
ADA = "3458764517517852417"
ALPHA = "3458764517517819000"
BETA = "3458764517517819001"


def counter_entropy() -> Callable[[int], bytes]:
    """Distinct, reproducible bytes on every call (the model never sees a real random source)."""
    count = 0

    def draw(size: int) -> bytes:
        nonlocal count
        count += 1
        out = b""
        while len(out) < size:
            out += hashlib.sha256(f"{count}:{len(out)}".encode()).digest()
        return out[:size]

    return draw


class Harness:
    """An authorization server with one app, and helpers that build its HTTP traffic."""

    def __init__(self, *, expiring: bool = True) -> None:
        self.server = AuthorizationServer(entropy=counter_entropy())
        self.app: App = self.server.register_app(
            redirect_uris=(REDIRECT_URI, "http://127.0.0.1:8000/other?keep=1"),
            client_id="3074457363680401096",
            client_secret="s3cret-s3cret-s3cret",
            expiring=expiring,
        )
        self.secret = self.app.client_secret.reveal()

    def issue(
        self,
        now: float = T0,
        *,
        state: str | None = "st",
        team: str = ALPHA,
        challenge: str | None = None,
        redirect_uri: str = REDIRECT_URI,
    ) -> str:
        params = {"response_type": "code", "client_id": self.app.client_id}
        params["redirect_uri"] = redirect_uri
        if state is not None:
            params["state"] = state
        if challenge is not None:
            params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
        request = self.server.check_authorization(params)
        response = self.server.approve(request, user_id=ADA, team_id=team, now=now)
        assert response.status == 302
        return self.callback(response)["code"]

    @staticmethod
    def callback(response: HttpResponse) -> dict[str, str]:
        location = response.header("Location")
        assert location is not None
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def post_token(self, params: dict[str, str], now: float, *, in_query: bool = False) -> Any:
        url = "https://api.miro.com/v1/oauth/token"
        if in_query:
            request = HttpRequest(method="POST", url=f"{url}?{urlencode(params)}")
        else:
            request = HttpRequest(
                method="POST",
                url=url,
                headers=(("Content-Type", "application/x-www-form-urlencoded"),),
                body=urlencode(params).encode(),
            )
        return self.server.handle(request, now=now)

    def redeem(
        self,
        code: str,
        now: float,
        *,
        secret: str | None = None,
        redirect_uri: str = REDIRECT_URI,
        verifier: str | None = None,
        client_id: str | None = None,
    ) -> HttpResponse:
        params = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id or self.app.client_id,
            "client_secret": self.secret if secret is None else secret,
        }
        if verifier is not None:
            params["code_verifier"] = verifier
        response: HttpResponse = self.post_token(params, now)
        return response

    def refresh(self, refresh_token: str, now: float, *, secret: str | None = None) -> Any:
        return self.post_token(
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self.app.client_id,
                "client_secret": self.secret if secret is None else secret,
            },
            now,
        )

    def revoke(self, access_token: str, now: float, *, secret: str | None = None) -> Any:
        body = json.dumps(
            {
                "accessToken": access_token,
                "clientId": self.app.client_id,
                "clientSecret": self.secret if secret is None else secret,
            }
        ).encode()
        return self.server.handle(
            HttpRequest(
                method="POST",
                url="https://api.miro.com/v2/oauth/revoke",
                headers=(("Content-Type", "application/json"),),
                body=body,
            ),
            now=now,
        )

    def context(self, access_token: str, now: float) -> Any:
        return self.server.handle(
            HttpRequest(
                method="GET",
                url="https://api.miro.com/v1/oauth-token",
                headers=(("Authorization", f"Bearer {access_token}"),),
            ),
            now=now,
        )


def body(response: HttpResponse) -> Any:
    return json.loads(response.body)


@pytest.fixture
def harness() -> Harness:
    return Harness()


@pytest.fixture(scope="session")
def helpers() -> Any:
    """The module's helpers, for test files (which cannot import each other)."""

    class _Helpers:
        Harness = Harness
        body = staticmethod(body)
        counter_entropy = staticmethod(counter_entropy)
        T0 = T0
        REDIRECT_URI = REDIRECT_URI
        ADA = ADA
        ALPHA = ALPHA
        BETA = BETA

    return _Helpers
