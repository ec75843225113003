"""Each example app (examples/<framework>/app.py), started with its one documented command,
signs a person in through the simulated Miro in headless chromium: the home page's "Sign in
with Miro" link, the consent page's "Install & authorize", and back on the home page with the
user and team. A screenshot of each is kept under build/test-output/screenshots (or
$MIROFLOW_TEST_OUTPUT/screenshots); one more run uses only the keyboard."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from miroflow_simulator import LoopbackServer, Simulator
from miroflow_simulator.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(ROOT.glob("examples/*/app.py"))
SCREENSHOTS = Path(os.environ.get("MIROFLOW_TEST_OUTPUT") or ROOT / "build" / "test-output")
SCREENSHOTS = SCREENSHOTS / "screenshots"


@pytest.fixture(params=EXAMPLES, ids=[path.parent.name for path in EXAMPLES])
def example(request: pytest.FixtureRequest, spawn: Any, tmp_path: Path) -> Iterator[Any]:
    """The example served on a free port against a simulator on loopback; (home URL,
    simulator)."""
    path: Path = request.param
    port = free_port()
    with LoopbackServer(Simulator()) as miro:
        simulator = miro.simulator
        app = simulator.register_app([f"http://127.0.0.1:{port}/miro/callback"])
        env = {**simulator.environment(app), "MIROFLOW_DATABASE": str(tmp_path / "app.db")}
        with spawn([str(path.relative_to(ROOT))], port, env):
            yield f"http://127.0.0.1:{port}/", simulator


def test_every_framework_has_an_example() -> None:
    assert {path.parent.name for path in EXAMPLES} >= {"fastapi", "flask", "django", "aiohttp"}


def test_a_person_signs_in_with_the_example(
    example: tuple[str, Simulator], page: Any, request: pytest.FixtureRequest
) -> None:
    home, simulator = example
    page.goto(home)
    page.get_by_role("link", name="Sign in with Miro").click()
    page.wait_for_url(f"{simulator.base_url}/oauth/authorize?**")
    assert page.get_by_role("button", name="Install & authorize").is_visible()
    page.get_by_role("button", name="Install & authorize").click()
    page.wait_for_url(home)
    text = page.locator("body").inner_text()
    assert f"Signed in as user {simulator.default_user} in team " in text
    assert "code=" not in page.url
    assert len(simulator.token_requests("authorization_code")) == 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = request.node.callspec.id
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _tab_to(page: Any, text: str, limit: int = 15) -> None:
    """Press Tab until the focused element's text is ``text`` (a bounded number of times)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement && document.activeElement.textContent")
        if focused and focused.strip() == text:
            return
    pytest.fail(f"{text!r} cannot be reached with the Tab key")


@pytest.mark.parametrize("example", [p for p in EXAMPLES if p.parent.name == "fastapi"],
                         ids=["fastapi"], indirect=True)
def test_a_person_signs_in_with_the_keyboard_alone(
    example: tuple[str, Simulator], page: Any
) -> None:
    home, simulator = example
    page.goto(home)
    _tab_to(page, "Sign in with Miro")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{simulator.base_url}/oauth/authorize?**")
    _tab_to(page, "Install & authorize")
    page.keyboard.press("Enter")
    page.wait_for_url(home)
    assert "Signed in as user " in page.locator("body").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "fastapi-keyboard.png"), full_page=True)
