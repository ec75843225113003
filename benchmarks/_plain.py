"""A plain stdlib version of the same work: what one writes without tuning, reaching for the
obvious tool each time (``secrets``, ``urlencode``, ``parse_qs``, ``SimpleCookie``, a dict
per record). Same essentials as the floor (hashed state and binding, an atomic one-shot
claim that checks binding and deadline, the token status checked); nothing from miroflow.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode

import _floor

_SETTINGS = {"client_id": _floor.CLIENT_ID, "redirect_uri": _floor.REDIRECT_URI}


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _cookie(binding: str) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie[_floor.COOKIE_NAME] = binding
    morsel = cookie[_floor.COOKIE_NAME]
    morsel["max-age"] = _floor.LIFETIME
    morsel["path"] = "/"
    morsel["secure"] = True
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    return morsel.OutputString()


class Plain:
    def __init__(self) -> None:
        self.pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def start(self, pkce: bool = False) -> tuple[str, str]:
        state, binding = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        record: dict[str, Any] = {"binding": _hash(binding), "deadline": time.time() + 900}
        params = {"response_type": "code", **_SETTINGS, "state": state}
        if pkce:
            verifier = secrets.token_urlsafe(32)
            digest = hashlib.sha256(verifier.encode()).digest()
            params["code_challenge"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            params["code_challenge_method"] = "S256"
            record["verifier"] = verifier
        self.pending[_hash(state)] = record
        return f"{_floor.AUTHORIZE_ENDPOINT}?{urlencode(params)}", _cookie(binding)

    def start_pkce(self) -> tuple[str, str]:
        return self.start(pkce=True)

    def callback(self, query: str, cookie: str) -> tuple[str, bytes] | None:
        params = parse_qs(query)
        state, code = params.get("state", [""])[0], params.get("code", [""])[0]
        if not state or not code:
            return None
        with self._lock:
            record = self.pending.pop(_hash(state), None)
        if (
            record is None
            or record["deadline"] <= time.time()
            or not hmac.compare_digest(record["binding"], _hash(cookie))
        ):
            return None
        return token_request(code)


def token_request(code: str) -> tuple[str, bytes]:
    body = urlencode({
        "grant_type": "authorization_code", "code": code, "redirect_uri": _floor.REDIRECT_URI,
        "client_id": _floor.CLIENT_ID, "client_secret": _floor.CLIENT_SECRET,
    })
    return _floor.TOKEN_ENDPOINT, body.encode()


def token() -> dict[str, Any]:
    """(c): the request body built, the answer's JSON checked and read into a dict."""
    token_request(_floor.CODE)
    status, body = _floor.instant_endpoint(("", b""))
    if status != 200:
        raise ValueError(status)
    data: dict[str, Any] = json.loads(body)
    data["expires_at"] = time.time() + int(data["expires_in"])
    return data
