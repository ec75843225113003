"""``Answer``: what an adapter sends the browser, in a shape any framework takes as it is."""

from __future__ import annotations

import html
import json

import attrs

from ._errors import MiroflowError, UsageError
from ._http import header_names
from ._model import Flow, TokenSet

__all__ = ["Answer", "Page", "SetCookie"]

_TEXT = "text/plain; charset=utf-8"
_HTML = "text/html; charset=utf-8"
_JSON = "application/json"
#: Every answer: never cached (it may carry a code, a state or a cookie), and never telling
#: the next site where the browser came from (the callback's URL holds the code and state).
_ALWAYS = (("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"))
#: An error page runs nothing, loads nothing, and is never sniffed as another type.
_PAGE = (
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
)
_PAGE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto}}</style>
</head><body>
<h1>{title}</h1>
<p>{message}</p>
</body></html>
"""


@attrs.frozen(kw_only=True)
class Page:
    """A whole response, rendered: status, headers (pairs) and body bytes."""

    status: int
    #: ``repr`` shows their names only: a Location holds a state, a Set-Cookie a binding.
    headers: list[tuple[str, str]] = attrs.field(repr=header_names)
    body: bytes = attrs.field(repr=False)


def _quality(accept: str, wanted: tuple[str, ...]) -> float:
    """The highest q-value ``accept`` gives any of the media types in ``wanted``."""
    best = 0.0
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media.lower() not in wanted:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        best = max(best, quality)
    return best


def _safe_json(document: dict[str, object]) -> bytes:
    """JSON with ``<``, ``>`` and ``&`` escaped: the same document, but no browser that
    ignores the content type can read markup in it (the description comes from the query)."""
    text = json.dumps(document)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def wants_json(accept: str | None) -> bool:
    """Whether a request's Accept header prefers JSON to an HTML page (an API client, a
    fetch() from a page) rather than a person's browser."""
    if not accept:
        return False
    return _quality(accept, (_JSON,)) > _quality(accept, ("text/html", "*/*", "text/*"))


@attrs.frozen(kw_only=True)
class SetCookie:
    """The binding cookie, for frameworks that set cookies through an API of their own
    (``response.set_cookie(name, value, max_age=..., ...)``). SameSite=Lax, because Miro's
    redirect back is a cross-site top-level GET navigation, which Lax cookies survive and
    Strict ones do not."""

    name: str
    value: str = attrs.field(repr=False)
    max_age: int
    path: str = "/"
    secure: bool
    http_only: bool = True
    same_site: str = "Lax"


@attrs.frozen(kw_only=True)
class Answer:
    """What the adapter answers the browser: a redirect (``location``) or an error page.

    ``status``, ``headers`` and ``body`` make the response as they are. ``message`` is the
    short text for the person (``body`` of an error page); ``detail`` is the operator's text,
    which the clients also log on the ``miroflow`` logger. ``tokens`` is set when a flow was
    consumed; ``error`` when it ended otherwise; ``flow`` is the final snapshot, for logging
    (its repr holds no secret); ``continue_to`` where a signed-in user goes instead of a
    "state already used" page.
    """

    status: int
    #: Kept out of ``repr``: a redirect to Miro carries the flow's state.
    location: str | None = attrs.field(default=None, repr=False)
    #: The ``Set-Cookie`` header value of the binding cookie, when one is set.
    set_cookie: str | None = attrs.field(default=None, repr=False)
    error: MiroflowError | None = None
    tokens: TokenSet | None = None
    flow: Flow | None = None
    #: On a "state already used" answer to the browser that started the flow (a replayed
    #: callback: the back button, a double submit): the page that flow was going to. An app
    #: whose user is already signed in sends them there (303) rather than show the error.
    continue_to: str | None = None

    def onward(self) -> Answer:
        """For a browser whose user is already signed in, instead of this "state already
        used" answer: a 303 to the page the flow was going to (``continue_to``)."""
        if self.continue_to is None:
            raise UsageError("Only a replayed callback's answer (continue_to set) goes onward.")
        return Answer(status=303, location=self.continue_to, flow=self.flow)

    @property
    def content_type(self) -> str | None:
        """``text/plain; charset=utf-8`` for an error page; None for a redirect (no body)."""
        return None if self.location is not None else _TEXT

    @property
    def message(self) -> str:
        """The short text for the person in the browser (empty for a redirect)."""
        return self.error.message if self.error is not None else ""

    @property
    def body(self) -> str:
        """The response body: the message of an error page, nothing for a redirect."""
        return self.message

    @property
    def detail(self) -> str | None:
        """What went wrong, for the operator (None when nothing did)."""
        return self.error.detail if self.error is not None else None

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The response headers, as pairs (``Set-Cookie`` included), for ``body`` as plain
        text. Tokens, codes and flows are never cached, the callback's URL never leaks as a
        Referer, and an error page is never sniffed as another type."""
        return self._headers(_TEXT)

    def _headers(self, content_type: str) -> list[tuple[str, str]]:
        headers = list(_ALWAYS)
        if self.location is not None:
            headers.append(("Location", self.location))
        else:
            headers.append(("Content-Type", content_type))
            headers.extend(_PAGE)
        if self.set_cookie is not None:
            headers.append(("Set-Cookie", self.set_cookie))
        return headers

    def render(self, accept: str | None = None) -> Page:
        """The whole response for a framework to send as it is: a redirect, or an error as a
        small HTML page (every value escaped), or as JSON (``{"error": code, "message": ...,
        "status": ...}``) when the request's ``Accept`` header prefers it."""
        if self.location is not None or self.error is None:
            return Page(status=self.status, headers=self._headers(_TEXT), body=b"")
        if wants_json(accept):
            document = {"error": self.error.code, "message": self.message, "status": self.status}
            return Page(
                status=self.status,
                headers=self._headers(_JSON),
                body=_safe_json(document),
            )
        page = _PAGE_HTML.format(
            title="Signing in with Miro did not work", message=html.escape(self.message)
        )
        return Page(status=self.status, headers=self._headers(_HTML), body=page.encode())

    @property
    def cookie(self) -> SetCookie | None:
        """The binding cookie as a value, for frameworks with a cookie API; None if unset."""
        if self.set_cookie is None:
            return None
        pair, *attributes = self.set_cookie.split("; ")
        name, _, value = pair.partition("=")
        flags = {key.lower(): val for key, _, val in (a.partition("=") for a in attributes)}
        return SetCookie(
            name=name,
            value=value,
            max_age=int(flags["max-age"]),
            path=flags.get("path", "/"),
            secure="secure" in flags,
            http_only="httponly" in flags,
            same_site=flags.get("samesite", "Lax"),
        )
