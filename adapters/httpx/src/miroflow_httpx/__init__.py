"""miroflow-httpx: httpx transports for miroflow, sync and async.

from miroflow_httpx import HttpxTransport
transport = HttpxTransport()  # 10 s total deadline, 1 MiB body cap, TLS verified
"""

from ._async import AsyncHttpxTransport
from ._exchange import DEFAULT_MAX_BODY, DEFAULT_TIMEOUT
from ._sync import HttpxTransport

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_TIMEOUT", "AsyncHttpxTransport", "HttpxTransport"]
