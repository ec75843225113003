"""miroflow-urllib: a zero-dependency transport for miroflow, on the standard library.

from miroflow_urllib import UrllibTransport
transport = UrllibTransport()  # 10 s total deadline, 1 MiB body cap, TLS verified
"""

from ._transport import DEFAULT_MAX_BODY, DEFAULT_TIMEOUT, AsyncUrllibTransport, UrllibTransport

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_TIMEOUT", "AsyncUrllibTransport", "UrllibTransport"]
