"""`make demo`: one whole flow, end to end, on the embedded defaults.

The app side is miroflow's Client with the SQLite stores (the embedded default). Miro's side
is the simulator, in-process: no socket is opened. A tiny "browser" follows the redirects,
reads the consent page and clicks "Install & authorize". Every transition of the flow
machine is printed as it happens, and the demo ends in `consumed`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from miroflow_simulator import Simulator
from miroflow_sqlite import SQLiteFlowStore, SQLiteTokenStore

import miroflow

REDIRECT_URI = "http://127.0.0.1:8000/callback"


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


def expect(condition: bool, what: object) -> None:
    if not condition:
        raise SystemExit(f"The demo went wrong: {what!r}")


def show(transition: miroflow.Transition) -> None:
    before = transition.before.value if transition.before else "(none)"
    effects = ", ".join(transition.effects) or "no effects"
    print(f"  {before:>13} --{transition.input}--> {transition.after.value:<13} [{effects}]")


def main() -> int:
    simulator = Simulator(base_url="https://miro.simulated")
    app = simulator.register_app([REDIRECT_URI], name="miroflow demo")
    config = simulator.client_config(app)
    data_dir = Path(tempfile.mkdtemp(prefix="miroflow-demo-"))
    database = data_dir / "miroflow.sqlite3"
    client = miroflow.Client(
        config,
        flows=SQLiteFlowStore(database),
        tokens=SQLiteTokenStore(database),
        transport=simulator.transport,
        clock=simulator.now,
        entropy=os.urandom,
        on_transition=show,
    )
    print(f"Miro app {config.client_id} (simulated), redirect URI {config.redirect_uri}")
    print(f"Stores: SQLite at {database}\n")

    print("1. The user opens /login; the app starts a flow:")
    started = client.start(return_path="/boards")
    expect(started.location is not None and bool(started.cookies), started)
    assert started.location is not None
    cookie = started.cookies[0]
    print(f"   -> {started.status}, Set-Cookie: {cookie.name}=… (HttpOnly, SameSite=Lax)")

    print("2. The browser opens Miro's consent page and clicks 'Install & authorize'.")
    page = simulator.dispatch(miroflow.HttpRequest(method="GET", url=started.location))
    if not isinstance(page, miroflow.HttpResponse) or page.status != 200:
        raise SystemExit(f"The consent page did not load: {page!r}")
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
        raise SystemExit(f"Miro did not redirect back: {decision!r}")
    callback_url = decision.header("Location") or ""
    print(f"   -> Miro redirects to {urlsplit(callback_url).path}?code=…&state=…&team_id=…")

    print("3. The browser follows the redirect to the app's callback:")
    done = client.handle_callback(urlsplit(callback_url).query, binding_cookie=cookie.value)
    if done.error is not None or done.tokens is None or done.flow is None:
        print(f"   -> {done.status}: {done.body}")
        return 1
    tokens = done.tokens
    print(f"   -> {done.status} to {done.location}")
    print(
        f"\nSigned in: user {tokens.user_id}, team {tokens.team_id}, scopes "
        f"{' '.join(tokens.scopes)}, access token expires in "
        f"{(tokens.expires_at or 0) - tokens.obtained_at:.0f} s, refresh token "
        f"{'present' if tokens.refresh_token else 'absent'}."
    )
    stored = client.tokens.get(tokens.key)
    expect(stored is not None and stored.tokens == tokens, "tokens were not stored")
    assert stored is not None
    print(
        f"Tokens stored in SQLite (version {stored.version}). Final state: {done.flow.state.value}"
    )
    print(f"Token requests Miro saw: {len(simulator.token_requests())} (exactly one exchange).")
    return 0 if done.flow.state is miroflow.FlowState.CONSUMED else 1


if __name__ == "__main__":
    sys.exit(main())
