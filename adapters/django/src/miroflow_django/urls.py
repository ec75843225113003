"""``path("", include("miroflow_django.urls"))``: views ``miroflow:login`` at the client's
``login_path`` and ``miroflow:callback`` at its redirect URI's path; sync views for a
``miroflow.Client``, async ones (``alogin``, ``acallback``) for an ``AsyncClient``."""

from __future__ import annotations

from django.urls import URLPattern, path

import miroflow

from . import acallback, alogin, callback, get_client, login

app_name = "miroflow"


def __getattr__(name: str) -> list[URLPattern]:
    # Read when a URLconf includes this module, not at import (which needs no settings): a
    # test that swaps MIROFLOW and the URLconf gets its own client's routes.
    if name != "urlpatterns":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    client = get_client()
    sync, config = isinstance(client, miroflow.Client), client.config
    return [
        path(config.login_path.lstrip("/"), login if sync else alogin, name="login"),
        path(config.callback_path.lstrip("/"), callback if sync else acallback, name="callback"),
    ]
