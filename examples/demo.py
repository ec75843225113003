"""`make demo`: one whole flow, end to end, on the embedded defaults.

The app side is miroflow's Client with the SQLite stores (the embedded default). Miro's side
is the simulator, in-process: no socket is opened. A tiny "browser" follows the redirects,
reads the consent page and clicks "Install & authorize".

Everything printed is read from what happened, never written in: every transition of the flow
machine as the client reports it (with the status of the reply when the step gave one), the
binding cookie's attributes as the app set them, the parameters Miro's redirect carried (their
values elided: a code and a state are secrets), and the token requests the simulator saw. The
demo fails unless the flow ends in `consumed` after exactly one token request.
"""

from __future__ import annotations

import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from miroflow_simulator import Simulator
from miroflow_sqlite import SQLiteFlowStore, SQLiteTokenStore

import miroflow

REDIRECT_URI = "http://127.0.0.1:8000/callback"
ELIDED = "…"


class ConsentForm(HTMLParser):
    """Reads the consent page the way a browser would: the form's action and its fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.first_team: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = attributes.get("action", "")
        elif tag == "input" and attributes.get("type") == "hidden":
            self.fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "option" and self.first_team is None:
            self.first_team = attributes.get("value")


class DemoFailed(Exception):
    """The flow did not go as a flow must; the message says where (and holds no secret)."""


def show(transition: miroflow.Transition) -> None:
    """The client's observer: one line per step, as ``before -Input-> after [effects] reply``."""
    before = transition.before.value if transition.before is not None else "(none)"
    line = f"     {before} -{transition.input}-> {transition.after.value}"
    if transition.effects:
        line += f" [{', '.join(transition.effects)}]"
    if transition.reply is not None:
        line += f" reply {transition.reply}"
    print(line)


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def describe_cookie(cookie: miroflow.SetCookie) -> str:
    """The binding cookie as the app set it (``answer.cookie``), its value elided."""
    return (
        f"Set-Cookie {cookie.name}={ELIDED} with HttpOnly: {yes_no(cookie.http_only)}, "
        f"SameSite: {cookie.same_site}, Secure: {yes_no(cookie.secure)}, "
        f"Max-Age: {cookie.max_age}, Path: {cookie.path}"
    )


def callback_shape(callback_url: str) -> str:
    """Miro's redirect with each parameter it carried, in order, values elided."""
    parts = urlsplit(callback_url)
    names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    query = "&".join(f"{name}={ELIDED}" for name in names)
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{query}"


def consent(simulator: Simulator, authorize_url: str) -> str:
    """The browser on Miro's consent page clicks "Install & authorize"; Miro's redirect back."""
    page = simulator.dispatch(miroflow.HttpRequest(method="GET", url=authorize_url))
    if not isinstance(page, miroflow.HttpResponse) or page.status != 200:
        raise DemoFailed(f"The consent page did not load: {page!r}")
    form = ConsentForm()
    form.feed(page.body.decode())
    fields = {**form.fields, "team_id": form.first_team or "", "decision": "approve"}
    decision = simulator.dispatch(
        miroflow.HttpRequest(
            method="POST",
            url=simulator.endpoint(form.action),
            headers=(("Content-Type", "application/x-www-form-urlencoded"),),
            body=urlencode(fields).encode(),
        )
    )
    if not isinstance(decision, miroflow.HttpResponse) or decision.status != 302:
        raise DemoFailed(f"Miro did not redirect back: {decision!r}")
    location = decision.header("Location")
    if location is None:
        raise DemoFailed("Miro's redirect back has no Location.")
    return location


def run(simulator: Simulator, database: Path) -> None:
    app = simulator.register_app([REDIRECT_URI], name="miroflow demo")
    config = simulator.client_config(app)
    client = miroflow.Client(
        config,
        flows=SQLiteFlowStore(path=database),
        tokens=SQLiteTokenStore(path=database),
        transport=simulator.transport,
        clock=simulator.now,  # the app and the simulated Miro share one clock
        on_transition=show,
    )
    print(f"Miro app {config.client_id} (simulated), redirect URI {config.redirect_uri}")
    print(f"Stores: SQLite at {database}\n")

    print("1. The user opens /login; the app starts a flow:")
    started = client.start(return_path="/boards")
    if started.status != 302 or started.location is None:
        raise DemoFailed(f"The start did not redirect to Miro: {started!r}")
    cookie = started.cookie
    if cookie is None:
        raise DemoFailed(f"The start set no binding cookie: {started!r}")
    authorize = urlsplit(started.location)
    print(
        f"   -> {started.status} to {authorize.scheme}://{authorize.netloc}{authorize.path}?{ELIDED}"
    )
    print(f"   -> {describe_cookie(cookie)}")

    print("2. The browser opens Miro's consent page and clicks 'Install & authorize'.")
    callback_url = consent(simulator, started.location)
    if not callback_url.startswith(config.redirect_uri + "?"):
        raise DemoFailed("Miro redirected somewhere other than the app's redirect URI.")
    print(f"   -> Miro redirects to {callback_shape(callback_url)}")

    print("3. The browser follows the redirect to the app's callback:")
    done = client.handle_callback(urlsplit(callback_url).query, binding_cookie=cookie.value)
    if done.error is not None or done.tokens is None or done.flow is None:
        raise DemoFailed(f"{done.status}: {done.detail}")
    print(f"   -> {done.status} to {done.location}")

    tokens = done.tokens
    lifetime = (
        "never expires"
        if tokens.expires_at is None
        else (f"expires in {tokens.expires_at - tokens.obtained_at:.0f} s")
    )
    print(
        f"\nSigned in: user {tokens.user_id}, team {tokens.team_id}, scopes "
        f"{' '.join(tokens.scopes)}, access token {lifetime}, refresh token "
        f"{'present' if tokens.refresh_token else 'absent'}."
    )
    stored = client.tokens.get(tokens.key)
    if stored is None or stored.tokens != tokens:
        raise DemoFailed("The tokens were not stored.")
    print(f"Tokens stored in SQLite (version {stored.version}).")
    print(f"Final state: {done.flow.state.value}")
    requests = simulator.token_requests()
    seen = ", ".join(f"{entry.grant_type} answered {entry.status}" for entry in requests)
    print(f"Token requests Miro saw: {len(requests)} ({seen or 'none'})")
    if len(requests) != 1:
        raise DemoFailed(f"Miro saw {len(requests)} token requests; a flow makes exactly one.")
    if done.flow.state is not miroflow.FlowState.CONSUMED:
        raise DemoFailed(f"The flow ended in {done.flow.state.value}, not consumed.")


def main(simulator: Simulator | None = None, data_dir: Path | None = None) -> int:
    """Run the demo (on a fresh simulator and a new temporary directory unless given); 0 if
    the flow ended as it must, 1 (with the reason on stderr) if not."""
    simulator = simulator or Simulator(base_url="https://miro.simulated")
    # Left in place after the demo, so that the database can be looked at.
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="miroflow-demo-"))
    try:
        run(simulator, data_dir / "miroflow.sqlite3")
    except DemoFailed as failure:
        print(f"The demo went wrong: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
