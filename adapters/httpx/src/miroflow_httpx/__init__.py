"""miroflow-httpx: httpx transports for miroflow, sync and async.

from miroflow_httpx import HttpxTransport
transport = HttpxTransport()  # 10 s total deadline, 1 MiB body cap, TLS verified

and ``MiroAuth``, to call Miro's REST API with a miroflow-managed token:

http = httpx.Client(auth=MiroAuth(client, user_id=user_id, team_id=team_id))
"""

from ._async import AsyncHttpxTransport
from ._auth import MiroAuth, token_rejected
from ._exchange import DEFAULT_MAX_BODY, DEFAULT_TIMEOUT
from ._sync import HttpxTransport

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_TIMEOUT",
    "AsyncHttpxTransport",
    "HttpxTransport",
    "MiroAuth",
    "token_rejected",
]
