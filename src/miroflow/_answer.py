"""``Answer``: what an adapter sends the browser, in a shape any framework takes as it is."""

from __future__ import annotations

import attrs

from ._errors import MiroflowError
from ._model import Flow, TokenSet

__all__ = ["Answer", "SetCookie"]

_TEXT = "text/plain; charset=utf-8"


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
    (its repr holds no secret).
    """

    status: int
    #: Kept out of ``repr``: a redirect to Miro carries the flow's state.
    location: str | None = attrs.field(default=None, repr=False)
    #: The ``Set-Cookie`` header value of the binding cookie, when one is set.
    set_cookie: str | None = attrs.field(default=None, repr=False)
    error: MiroflowError | None = None
    tokens: TokenSet | None = None
    flow: Flow | None = None

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
        """The response headers, as pairs (``Set-Cookie`` included). Tokens, codes and flows
        are never cached; an error page is never sniffed as another type."""
        headers = [("Cache-Control", "no-store")]
        if self.location is not None:
            headers.append(("Location", self.location))
        else:
            headers.append(("Content-Type", _TEXT))
            headers.append(("X-Content-Type-Options", "nosniff"))
        if self.set_cookie is not None:
            headers.append(("Set-Cookie", self.set_cookie))
        return headers

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
