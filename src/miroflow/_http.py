"""HTTP requests and responses as plain values: what a Transport sends and returns."""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs

__all__ = ["HttpRequest", "HttpResponse"]

Headers = tuple[tuple[str, str], ...]


def header_names(headers: Headers | list[tuple[str, str]]) -> str:
    """What ``repr`` shows of headers: their names only. Values may be secrets (a bearer
    token, a binding cookie, a Location holding a state)."""
    return repr(tuple(name for name, _ in headers))


def find_header(headers: Headers, name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


@attrs.frozen(kw_only=True)
class HttpRequest:
    """One HTTP request. The body may hold a client secret and a header a token: neither
    appears in ``repr`` (header names do)."""

    method: str
    url: str
    headers: Headers = attrs.field(default=(), repr=header_names)
    body: bytes = attrs.field(default=b"", repr=False)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        return find_header(self.headers, name)

    def describe(self) -> str:
        """``METHOD scheme://host[:port]/path`` for error messages and logs: no query, no
        user info, nothing from the headers or the body."""
        try:
            parts = urlsplit(self.url)
            port = f":{parts.port}" if parts.port else ""
            return f"{self.method} {parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
        except ValueError:
            return f"{self.method} (a malformed URL)"


@attrs.frozen(kw_only=True)
class HttpResponse:
    """One HTTP response, as received (a transport never follows redirects)."""

    status: int
    headers: Headers = attrs.field(default=(), repr=header_names)
    body: bytes = attrs.field(default=b"", repr=False)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        return find_header(self.headers, name)
