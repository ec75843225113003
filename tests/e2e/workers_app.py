"""One worker of a many-worker deployment, for tests/e2e/test_workers.py (run as a script,
not collected): the Starlette adapter under uvicorn on 127.0.0.1:$PORT, its flows and tokens
in the shared store named by $MIROFLOW_STORE (a redis:// or postgresql:// URL, isolated by
$MIROFLOW_NAMESPACE), configured by the MIRO_* variables, sessions signed with
$SESSION_SECRET so that every worker reads every other's."""

from __future__ import annotations

import os
from typing import Any

import uvicorn
from miroflow_starlette import Miroflow
from miroflow_urllib import AsyncUrllibTransport
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import miroflow


def stores(url: str, namespace: str) -> tuple[Any, Any]:
    if url.startswith("redis://"):
        from miroflow_redis import AsyncRedisFlowStore, AsyncRedisTokenStore

        prefix = f"{namespace}:"
        return AsyncRedisFlowStore(url, prefix=prefix), AsyncRedisTokenStore(url, prefix=prefix)
    from miroflow_postgres import AsyncPostgresFlowStore, AsyncPostgresTokenStore

    return (
        AsyncPostgresFlowStore(url, schema=namespace),
        AsyncPostgresTokenStore(url, schema=namespace),
    )


def app() -> Starlette:
    flows, tokens = stores(os.environ["MIROFLOW_STORE"], os.environ["MIROFLOW_NAMESPACE"])
    client = miroflow.AsyncClient(
        miroflow.ClientConfig.from_env(), flows=flows, tokens=tokens,
        transport=AsyncUrllibTransport(),
    )
    miro = Miroflow(client)

    async def home(request: Request) -> Response:
        tokens = await miro.current_tokens(request)
        who = "Not signed in" if tokens is None else f"Signed in in team {tokens.team_id}"
        return PlainTextResponse(f"{who} (worker {os.environ['PORT']})")

    secret = os.environ["SESSION_SECRET"]
    return Starlette(
        routes=[*miro.routes, Route("/", home), Route("/boards", home)],
        middleware=[Middleware(SessionMiddleware, secret_key=secret)],
    )


if __name__ == "__main__":
    uvicorn.run(app(), host="127.0.0.1", port=int(os.environ["PORT"]), access_log=False,
                log_level="warning")
