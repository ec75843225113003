"""Registering apps: what Miro's app settings would refuse, the simulator refuses too."""

from __future__ import annotations

import os

import pytest

import miroflow
from miroflow.simulator import AuthorizationServer


@pytest.mark.parametrize(
    "uri",
    [
        "notaurl",
        "ftp://example.com/cb",
        "https://app.example/cb#frag",
        "http:///nohost",
        "https://app.example/c b",
        "http://[::1",
    ],
)
def test_a_redirect_uri_that_is_not_an_absolute_http_url_is_refused(uri: str) -> None:
    server = AuthorizationServer(entropy=os.urandom)
    with pytest.raises(miroflow.UsageError, match="redirect URI must be an absolute"):
        server.register_app(redirect_uris=[uri])
    assert server.registry.apps == {}


def test_a_registered_uri_keeps_its_own_query_string() -> None:
    server = AuthorizationServer(entropy=os.urandom)
    app = server.register_app(redirect_uris=["https://app.example/cb?tenant=7"])
    assert app.redirect_uris == ("https://app.example/cb?tenant=7",)
