"""``MiroAuth``: an ``httpx.Auth`` that calls Miro's REST API with a miroflow-managed token.

    http = httpx.Client(auth=MiroAuth(client, user_id=user, team_id=team))

Each request gets ``Authorization: Bearer`` with ``client.access_token(...)``: the stored
token, refreshed first when it is about to expire (single flight through the token store).
A 401 that says the token is invalid or expired (it was rotated or revoked elsewhere) is
retried once: with the token another caller stored meanwhile, or else after a refresh. A
second 401 is returned as it is: never a loop. ``SignInRequired`` reaches the caller.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Generator

import httpx

from miroflow import AsyncClient, Client, TokenKey, UsageError

__all__ = ["MiroAuth"]

#: Codes in Miro's 401 body that mean "this token does not work" (the simulator's and the
#: REST API's; UNCONFIRMED beyond them), and the RFC 6750 error in WWW-Authenticate.
_TOKEN_CODES = frozenset({"tokennotfound", "tokenexpired", "invalidtoken", "unauthorized"})


def token_rejected(response: httpx.Response) -> bool:
    """Whether ``response`` is a 401 saying the bearer token is invalid or expired (not one
    saying that none was sent, nor a 403 for missing scopes)."""
    if response.status_code != 401:
        return False
    if "invalid_token" in response.headers.get("WWW-Authenticate", ""):
        return True
    try:
        document = json.loads(response.content)
    except (ValueError, RecursionError):
        return False
    if not isinstance(document, dict):
        return False
    code = document.get("code")
    return isinstance(code, str) and code.lower() in _TOKEN_CODES


class MiroAuth(httpx.Auth):
    """Bearer auth from a miroflow ``Client`` (for ``httpx.Client``) or ``AsyncClient`` (for
    ``httpx.AsyncClient``), for one Miro user in one team."""

    requires_response_body = True

    def __init__(self, client: Client | AsyncClient, *, user_id: str, team_id: str) -> None:
        self.client = client
        self.user_id = user_id
        self.team_id = team_id
        self.key = TokenKey(client_id=client.config.client_id, user_id=user_id, team_id=team_id)

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        client = self.client
        if not isinstance(client, Client):
            raise UsageError("MiroAuth with an AsyncClient works with httpx.AsyncClient only.")
        sent = client.access_token(self.user_id, self.team_id)
        request.headers["Authorization"] = f"Bearer {sent}"
        response = yield request
        if not token_rejected(response):
            return
        stored = client.tokens.get(self.key)
        if stored is not None and stored.tokens.access_token != sent:
            retry = stored.tokens.access_token  # another caller refreshed meanwhile
        else:
            retry = client.refresh(self.user_id, self.team_id).access_token
        request.headers["Authorization"] = f"Bearer {retry}"
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        client = self.client
        if not isinstance(client, AsyncClient):
            raise UsageError("MiroAuth with a Client works with httpx.Client only.")
        sent = await client.access_token(self.user_id, self.team_id)
        request.headers["Authorization"] = f"Bearer {sent}"
        response = yield request
        if not token_rejected(response):
            return
        stored = await client.tokens.get(self.key)
        if stored is not None and stored.tokens.access_token != sent:
            retry = stored.tokens.access_token
        else:
            retry = (await client.refresh(self.user_id, self.team_id)).access_token
        request.headers["Authorization"] = f"Bearer {retry}"
        yield request
