"""``WebAdapterConformance``: what every miroflow web adapter must do, over real HTTP.

A framework adapter (Starlette, Flask, Django, aiohttp, or yours) passes when its app, served
by a real server on loopback, signs a person in through this simulator's consent page and
answers every way a sign-in can go wrong as miroflow promises: the right status, a small page
with every value escaped (JSON when asked), the security headers, a clean redirect, and a
reason that says why. Subclass it in a pytest module and define ``serve``::

    class TestMyAdapter(WebAdapterConformance):
        @contextmanager
        def serve(self, config, *, clock, database):
            ...  # start the app on config.redirect_uri's host and port; yield; stop it

What ``serve`` must serve, on the host and port of ``config.redirect_uri`` (127.0.0.1), until
the context exits (it returns once the server accepts connections):

* the adapter's login route at ``config.login_path`` and its callback at
  ``config.callback_path``, on a ``miroflow.Client`` or ``AsyncClient`` made with ``config``,
  ``clock``, the SQLite stores (``miroflow_sqlite``) in the file ``database`` and a real
  transport (``miroflow_urllib`` or ``miroflow_httpx``);
* the adapter's default identity (the framework's session), and at ``/`` and ``/boards`` a
  page whose text holds ``Signed in as user {user_id} in team {team_id}`` when the adapter's
  current tokens are there, and ``Not signed in`` otherwise.

Needs pytest and httpx (the simulator's own dependencies).
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
import httpx
import pytest

import miroflow

from ._serve import LoopbackServer
from ._simulator import Simulator

__all__ = ["Browser", "Site", "WebAdapterConformance", "free_port", "serving_asgi"]

HOSTILE = '<script>alert("x")</script>'


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving_asgi(app: Any, url: str) -> Iterator[None]:
    """``app`` (ASGI) under uvicorn on the host and port of ``url``, in a thread, until the
    context exits; returns once it accepts connections. Its access log is off (a callback's
    request line holds a code and a state); its errors go to the ``uvicorn.error`` logger."""
    import uvicorn

    parts = urlsplit(url)
    config = uvicorn.Config(
        app,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 80,
        log_config=None,
        lifespan="off",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # polled, with a bounded deadline
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start serving on {url}")
        time.sleep(0.005)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class _ConsentForm(HTMLParser):
    """The consent page's form, read as a browser would: its action, hidden fields, and the
    team it would post (the preselected one, else the first offered)."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.team: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = found.get("action", "")
        elif tag == "input" and found.get("type") == "hidden":
            self.fields[found["name"]] = found.get("value", "")
        elif tag == "option" and (self.team is None or "selected" in found):
            self.team = found.get("value")  # the preselected team, else the first


@attrs.frozen(kw_only=True)
class Site:
    """The app under test and the simulated Miro it signs in with."""

    url: str
    config: miroflow.ClientConfig
    simulator: Simulator

    def at(self, path: str) -> str:
        return f"{self.url}{path}"


class Browser:
    """A browser as far as a site can tell: its own cookie jar; redirects followed by hand, so
    each answer can be looked at."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.http = httpx.Client(follow_redirects=False, timeout=15.0)
        # httpcore's DEBUG wire trace would log this browser's cookies and Miro's redirects
        # (codes, states, bindings): off while the browser lives, so a test that watches logs
        # for secrets sees only the app's.
        self._trace = logging.getLogger("httpcore")
        self._level = self._trace.level
        self._trace.setLevel(logging.INFO)

    def close(self) -> None:
        self.http.close()
        self._trace.setLevel(self._level)

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.http.get(url, **options)

    def login(self, query: str = "") -> httpx.Response:
        """Open the app's login route; its answer (a 302 to Miro, or an error)."""
        return self.get(self.site.at(self.site.config.login_path) + (f"?{query}" if query else ""))

    def to_miro(self, query: str = "") -> str:
        """Open the login route and follow it to Miro's consent page, then decide there;
        returns Miro's redirect back (the callback URL), not yet followed."""
        return self.decide(self.start(query), "approve")

    def start(self, query: str = "") -> str:
        started = self.login(query)
        assert started.status_code == 302, started.text
        location = started.headers["location"]
        assert location.startswith(self.site.config.authorize_endpoint + "?")
        return location

    def decide(self, authorize_url: str, decision: str) -> str:
        """On the consent page at ``authorize_url``: "Install & authorize" (``approve``) or
        "Cancel" (``cancel``). Returns the URL Miro sends the browser back to."""
        page = self.get(authorize_url)
        assert page.status_code == 200, page.text
        form = _ConsentForm()
        form.feed(page.text)
        fields = {**form.fields, "team_id": form.team or "", "decision": decision}
        answer = self.http.post(self.site.simulator.endpoint(form.action), data=fields)
        assert answer.status_code == 302, answer.text
        back: str = answer.headers["location"]
        assert back.startswith(self.site.config.redirect_uri + "?")
        return back

    def sign_in(self, query: str = "") -> httpx.Response:
        """The whole flow: login, consent, and the app's answer to Miro's redirect back."""
        return self.get(self.to_miro(query))


def _with_query(url: str, **changes: str) -> str:
    """``url`` with some query parameters replaced (order kept)."""
    parts = urlsplit(url)
    pairs = [(k, changes.pop(k, v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    pairs += list(changes.items())
    return urlunsplit(parts._replace(query=urlencode(pairs)))


def _is_error_page(response: httpx.Response, status: int) -> str:
    """Assert ``response`` is one of miroflow's error pages; its text."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    return response.text


class WebAdapterConformance:
    """The suite. Subclasses define ``serve`` (see the module's docstring)."""

    def serve(
        self, config: miroflow.ClientConfig, *, clock: Callable[[], float], database: Path
    ) -> AbstractContextManager[object]:
        raise NotImplementedError("A WebAdapterConformance subclass defines serve().")

    @pytest.fixture
    def site(self, tmp_path: Path) -> Iterator[Site]:
        with LoopbackServer(Simulator()) as miro:
            simulator = miro.simulator
            redirect_uri = f"http://127.0.0.1:{free_port()}/miro/callback"
            config = simulator.client_config(simulator.register_app([redirect_uri]))
            with self.serve(config, clock=simulator.now, database=tmp_path / "app.sqlite3"):
                url = redirect_uri.removesuffix(config.callback_path)
                yield Site(url=url, config=config, simulator=simulator)

    @pytest.fixture
    def browser(self, site: Site) -> Iterator[Browser]:
        browser = Browser(site)
        yield browser
        browser.close()

    @pytest.fixture
    def other_browser(self, site: Site) -> Iterator[Browser]:
        browser = Browser(site)
        yield browser
        browser.close()

    # --- the flow that works ---------------------------------------------------------------

    def test_a_person_signs_in_and_lands_on_a_clean_url(self, site: Site, browser: Browser) -> None:
        assert "Not signed in" in browser.get(site.at("/")).text
        started = browser.login("next=/boards")
        assert started.status_code == 302
        assert started.headers["cache-control"] == "no-store"
        cookie = started.headers["set-cookie"]
        assert cookie.startswith(f"{site.config.binding_cookie_name}=")
        attributes = [part.strip().lower() for part in cookie.split(";")]
        assert "httponly" in attributes
        assert "samesite=lax" in attributes
        assert "secure" not in attributes  # plain http on a loopback host
        back = browser.decide(started.headers["location"], "approve")
        landed = browser.get(back)
        assert landed.status_code == 303
        assert landed.headers["location"] == "/boards"  # no code, no state
        assert landed.headers["cache-control"] == "no-store"
        assert landed.headers["referrer-policy"] == "no-referrer"
        page = browser.get(site.at("/boards"))
        assert page.status_code == 200
        assert f"Signed in as user {site.simulator.default_user} in team " in page.text
        assert len(site.simulator.token_requests("authorization_code")) == 1

    def test_the_current_tokens_are_refreshed_when_due_and_gone_when_refused(
        self, site: Site, browser: Browser
    ) -> None:
        """The app's page reads the user's tokens through the adapter's current tokens: valid
        ones, refreshed once they are about to expire; once Miro refuses the refresh (the
        refresh token outlived its 60 days), nobody is signed in and nothing crashes."""
        assert browser.sign_in().status_code == 303
        site.simulator.advance(3600)  # Miro's access tokens live an hour
        assert "Signed in as user " in browser.get(site.at("/")).text
        assert len(site.simulator.token_requests("refresh_token")) == 1
        assert "Signed in as user " in browser.get(site.at("/")).text  # fresh: no second one
        assert len(site.simulator.token_requests("refresh_token")) == 1
        site.simulator.advance(61 * 24 * 3600)
        gone = browser.get(site.at("/"))
        assert gone.status_code == 200
        assert "Not signed in" in gone.text

    def test_the_login_route_takes_a_team_and_goes_home_by_default(
        self, site: Site, browser: Browser
    ) -> None:
        team = site.simulator.server.registry.users[site.simulator.default_user].team_ids[-1]
        authorize = browser.start(f"team_id={team}")
        assert ("team_id", team) in parse_qsl(urlsplit(authorize).query)
        landed = browser.get(browser.decide(authorize, "approve"))
        assert landed.status_code == 303
        assert landed.headers["location"] == site.config.success_path
        assert f"in team {team}" in browser.get(site.at("/")).text

    def test_a_replayed_callback_sends_a_signed_in_user_on(
        self, site: Site, browser: Browser
    ) -> None:
        back = browser.to_miro("next=/boards")
        assert browser.get(back).status_code == 303
        again = browser.get(back)  # the back button, a double submit
        assert again.status_code == 303
        assert again.headers["location"] == "/boards"
        assert again.headers["cache-control"] == "no-store"
        assert len(site.simulator.token_requests("authorization_code")) == 1

    # --- what goes wrong, and says why -----------------------------------------------------

    def test_a_login_link_to_another_site_is_refused(self, browser: Browser) -> None:
        for query in ("next=//evil.example/x", "next=https://evil.example/", "team_id=abc"):
            text = _is_error_page(browser.login(query), 400)
            assert "evil.example" not in text
        as_json = browser.get(
            browser.site.at(browser.site.config.login_path) + "?next=//evil.example",
            headers={"Accept": "application/json"},
        )
        assert as_json.status_code == 400
        assert as_json.headers["content-type"].startswith("application/json")
        assert json.loads(as_json.text)["error"] == "malformed_login"

    def test_cancel_on_the_consent_page_is_a_403_that_says_so(
        self, site: Site, browser: Browser
    ) -> None:
        back = browser.decide(browser.start(), "cancel")
        text = _is_error_page(browser.get(back), 403)
        assert "cancelled on Miro&#x27;s consent page" in text or "cancelled on Miro" in text
        assert "Not signed in" in browser.get(site.at("/")).text
        assert site.simulator.token_requests() == ()

    def test_a_hostile_error_description_is_escaped(self, site: Site, browser: Browser) -> None:
        back = browser.decide(browser.start(), "cancel")
        hostile = _with_query(back, error_description=HOSTILE)
        text = _is_error_page(browser.get(hostile), 403)
        assert "<script>" not in text
        assert "&lt;script&gt;" in text
        # A callback claims its flow: the JSON page is another flow's.
        again = _with_query(browser.decide(browser.start(), "cancel"), error_description=HOSTILE)
        as_json = browser.get(again, headers={"Accept": "application/json"})
        assert as_json.headers["content-type"].startswith("application/json")
        assert "<script>" not in as_json.text
        document = json.loads(as_json.text)
        assert document["error"] == "authorization_denied"
        assert document["status"] == 403

    def test_an_expired_flow_says_how_long_ago(self, site: Site, browser: Browser) -> None:
        back = browser.to_miro()
        site.simulator.advance(site.config.flow_lifetime + 90)
        text = _is_error_page(browser.get(back), 400)
        assert "expired 90 seconds ago" in text
        assert site.simulator.token_requests() == ()

    def test_a_tampered_state_is_unknown(self, site: Site, browser: Browser) -> None:
        back = browser.to_miro()
        state = dict(parse_qsl(urlsplit(back).query))["state"]
        tampered = _with_query(back, state=state[:-2] + ("AA" if state[-2:] != "AA" else "BB"))
        text = _is_error_page(browser.get(tampered), 400)
        assert "not known here" in text
        # The owner still finishes with the real one.
        assert browser.get(back).status_code == 303

    def test_a_callback_without_the_cookie_names_the_likely_causes(
        self, site: Site, browser: Browser, other_browser: Browser
    ) -> None:
        back = browser.to_miro()
        text = _is_error_page(other_browser.get(back), 400)
        assert "cookie did not come back" in text
        assert "127.0.0.1" in text
        assert browser.get(back).status_code == 303  # it claimed nothing

    def test_another_browsers_callback_is_refused_and_the_owner_finishes(
        self, site: Site, browser: Browser, other_browser: Browser
    ) -> None:
        back = browser.to_miro()
        other_browser.start()  # it has a binding cookie of its own
        text = _is_error_page(other_browser.get(back), 400)
        assert "another browser" in text
        assert browser.get(back).status_code == 303
        assert len(site.simulator.token_requests("authorization_code")) == 1

    def test_a_replayed_callback_in_a_browser_not_signed_in_is_a_409(
        self, site: Site, browser: Browser
    ) -> None:
        back = browser.to_miro()
        binding = browser.http.cookies[site.config.binding_cookie_name]
        assert browser.get(back).status_code == 303
        # The same browser (its binding cookie) but without the app's session: not sent on.
        with httpx.Client(timeout=15.0) as fresh:
            replayed = fresh.get(
                back, headers={"Cookie": f"{site.config.binding_cookie_name}={binding}"}
            )
        text = _is_error_page(replayed, 409)
        assert "already completed" in text

    def test_hostile_callbacks_are_refused_before_any_token_request(
        self, site: Site, browser: Browser, other_browser: Browser
    ) -> None:
        """RFC 6749 §4.1.2 and §10, RFC 9700 §4: each parameter missing, empty, duplicated,
        oversized, mis-encoded or not ASCII; a forged denial from another browser. Each is a
        400 page, no token request is made, and the owner still finishes afterwards."""
        back = browser.to_miro()
        params = dict(parse_qsl(urlsplit(back).query))
        code, state = params["code"], params["state"]
        base = site.at(site.config.callback_path)
        hostile = [
            f"state={state}",
            f"code={code}",
            f"code=&state={state}",
            f"code={code}&state=",
            f"code={code}&code={code}&state={state}",
            f"code={code}&state={state}&state={state}",
            f"code={secrets.token_urlsafe(3750)}&state={state}",
            f"code={code}&state={secrets.token_urlsafe(1500)}",
            f"code=%ZZ&state={state}",
            f"code=%C3%28&state={state}",
            f"code=caf%C3%A9&state={state}",
            f"code=a%00b&state={state}",
            f"code={code}&error=access_denied&state={state}",
            f"code={code}&state={state}&team_id=abc",
            f"code={code}&state={state}&client_id=%2B1",
            f"error=access%20denied&state={state}",
        ]
        for query in hostile:
            answer = browser.get(f"{base}?{query}")
            _is_error_page(answer, 400)
            assert "<script" not in answer.text
        forged = other_browser.get(f"{base}?error=access_denied&state={state}")
        _is_error_page(forged, 400)
        assert site.simulator.token_requests() == ()
        assert browser.get(back).status_code == 303
        assert len(site.simulator.token_requests("authorization_code")) == 1

    def test_a_bare_callback_is_a_plain_400(self, site: Site, browser: Browser) -> None:
        text = _is_error_page(browser.get(site.at(site.config.callback_path)), 400)
        assert "neither a code nor an error" in text

    def test_miro_failing_is_a_502_that_names_no_host(self, site: Site, browser: Browser) -> None:
        back = browser.to_miro()
        site.simulator.inject_fault("server_error")
        text = _is_error_page(browser.get(back), 502)
        assert "127.0.0.1" not in text
        assert "Miro" in text
        assert "Not signed in" in browser.get(site.at("/")).text
