"""What the sync and async httpx transports share: settings, request options, the body cap
and deadline bookkeeping, and the mapping of httpx's errors to miroflow's.

Only the I/O differs between the two (``with``/``for`` against ``async with``/``async for``),
so each transport is a dozen lines around one ``Exchange``.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from miroflow import (
    ConfigError,
    HttpRequest,
    HttpResponse,
    MiroflowError,
    TransportError,
    TransportTimeout,
)

#: Seconds for the whole exchange: connect, TLS, request, headers and body.
DEFAULT_TIMEOUT = 10.0
#: Bytes of response body read at most; a larger body is an error, not a truncation.
DEFAULT_MAX_BODY = 1024 * 1024


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{attribute.name} must be positive, not {value!r}.")


def _verifying(_instance: object, _attribute: object, value: ssl.SSLContext | None) -> None:
    if value is not None and (value.verify_mode != ssl.CERT_REQUIRED or not value.check_hostname):
        raise ConfigError(
            "The SSL context must verify certificates and host names (CERT_REQUIRED and "
            "check_hostname). To trust a private CA, load it into a verifying context: "
            "ssl.create_default_context(cafile=...)."
        )


@attrs.frozen(kw_only=True)
class Settings:
    """What both httpx transports are configured with, checked once."""

    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=_positive)
    max_body: int = attrs.field(default=DEFAULT_MAX_BODY, validator=_positive)
    ssl_context: ssl.SSLContext | None = attrs.field(default=None, validator=_verifying, eq=False)

    def owned_client_options(self) -> dict[str, Any]:
        """Options for the client made for one call when the user gave none. No environment:
        a ``.netrc`` must not add credentials to a token request, nor a variable its proxy."""
        return {
            "verify": self.ssl_context or _default_context(),
            "trust_env": False,
            "follow_redirects": False,
        }


def alone(instance: Settings, _attribute: attrs.Attribute[Any], client: Any) -> None:
    """Validator for a user's client: its own TLS settings apply, so no second context."""
    if client is not None and instance.ssl_context is not None:
        raise ConfigError("Give the SSL context to your httpx client, not to the transport.")


@functools.cache
def _default_context() -> ssl.SSLContext:
    # httpx's own (certifi's CAs), built once: loading the bundle costs milliseconds per call.
    return httpx.create_ssl_context()


@attrs.define
class Exchange:
    """One request's deadline, body so far, and error mapping."""

    request: HttpRequest
    timeout: float
    max_body: int
    label: str
    deadline: float
    body: bytearray = attrs.field(factory=bytearray, repr=False)

    @classmethod
    def start(cls, request: HttpRequest, settings: Settings) -> Exchange:
        label = request.describe()
        try:
            parts = urlsplit(request.url)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 (a port out of range raises here, not deep in a socket call)
        except ValueError:
            usable = False
        if not usable:
            raise TransportError(f"{label}: the URL is not a usable http:// or https:// URL.")
        return cls(
            request=request,
            timeout=settings.timeout,
            max_body=settings.max_body,
            label=label,
            deadline=time.monotonic() + settings.timeout,
        )

    def time_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.timed_out()
        return left

    def stream_options(self) -> dict[str, Any]:
        """Arguments for ``client.stream``: whatever the client's defaults, no redirects and
        the time left as every per-phase timeout; the body as received (no decoding, so no
        decompression bomb), hence "identity" unless the request asks otherwise."""
        headers = list(self.request.headers)
        if self.request.header("Accept-Encoding") is None:
            headers.append(("Accept-Encoding", "identity"))
        return {
            "method": self.request.method,
            "url": self.request.url,
            "headers": headers,
            "content": self.request.body or None,
            "follow_redirects": False,
            "timeout": httpx.Timeout(self.time_left()),
        }

    def check_head(self, response: httpx.Response) -> None:
        """Refuse a body declared larger than the cap before reading any of it."""
        declared = response.headers.get("Content-Length", "")
        chunked = "Transfer-Encoding" in response.headers
        if not chunked and declared.strip().isdigit() and int(declared) > self.max_body:
            raise self.too_large()

    def take(self, chunk: bytes) -> None:
        self.body += chunk
        if len(self.body) > self.max_body:
            raise self.too_large()
        self.time_left()

    def result(self, response: httpx.Response) -> HttpResponse:
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw)
        return HttpResponse(status=response.status_code, headers=headers, body=bytes(self.body))

    def too_large(self) -> TransportError:
        return TransportError(
            f"{self.label}: the response body is larger than {self.max_body} bytes."
        )

    def timed_out(self) -> TransportTimeout:
        return TransportTimeout(f"{self.label}: no complete response within {self.timeout:g} s.")

    @contextlib.contextmanager
    def translated_errors(self) -> Iterator[None]:
        """Re-raise what httpx (or anyio's deadline) raises as miroflow's typed errors, from
        fixed text only: some httpx errors quote a header value, which may be a secret."""
        try:
            yield
        except MiroflowError:
            raise
        except (httpx.TimeoutException, TimeoutError):
            raise self.timed_out() from None
        except Exception as error:  # whatever else a client stack raises is still a failure
            if time.monotonic() >= self.deadline:
                raise self.timed_out() from None
            raise TransportError(f"{self.label}: {_reason(error)}.") from None


_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (httpx.UnsupportedProtocol, "only http:// and https:// URLs can be sent"),
    (httpx.InvalidURL, "the URL is not valid"),
    (httpx.ProxyError, "the proxy failed"),
    (httpx.RemoteProtocolError, "the server broke off the exchange or sent invalid HTTP"),
    (httpx.LocalProtocolError, "the request cannot be sent as valid HTTP"),
    (httpx.ConnectError, "the connection failed"),
    (httpx.ReadError, "the connection failed while reading the response"),
    (httpx.WriteError, "the connection failed while sending the request"),
)


def _reason(error: Exception) -> str:
    """A plain reason, with the OS or TLS detail found under httpx's wrapping, if any."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake failed ({cause.reason})"
        if isinstance(cause, OSError) and cause.strerror:
            return f"the connection failed ({cause.strerror})"
        cause = cause.__cause__ or cause.__context__
    return next(
        (text for kind, text in _REASONS if isinstance(error, kind)),
        f"the exchange failed ({type(error).__name__})",
    )
